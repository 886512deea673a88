// The CLEFDSP kernels against plain int64 loops on the device itself (the DSP assembly paths run
// only there): every entry point over the shapes the engines use and the edges they do not reach
// with the bundled model (taps not a multiple of 4, odd output counts, more than 64 taps a row,
// more than 4 rows a group, strides 1 to 3, the stem kernel's stride 2 and its int64 fallback).
// Built instead of App/main.swift by `build.sh TARGET --kernel-check OUT_DIR`; prints one line
// per entry point and exits with the number of mismatches (0: all bit-exact).
#include "firmware.h"
#include "clef_dsp.h"
#include "clef_stage.h"

// The image has no weight blob or signal.
const char fw_blob_start[1], fw_blob_end[1], fw_signal_start[1], fw_signal_end[1];
int32_t clef_firmware_main(void);

static uint32_t seed = 12345u;
static int32_t rnd(int32_t lo, int32_t hi) {
    seed = seed * 1664525u + 1013904223u;
    return lo + (int32_t)((seed >> 8) % (uint32_t)(hi - lo + 1));
}

#define MAXX 8192
static int8_t x8[MAXX];
static int16_t x16[MAXX];
static int8_t wa[4096], wb[4096];
static int16_t wa16[512], wb16[512];
static int32_t ref0[40], ref1[40], init0[40], init1[40];
/// The sums in two layouts, alternating per case: apart, and acc1 = acc0 + CLEF_DOT2_NEAR as the engines' callers
/// lay them out (the DSP pair loop reaches acc1 by an immediate offset then).
static int32_t accFar0[40], accFar1[40], accNear[CLEF_DOT2_NEAR + 40];
static int32_t *acc0 = accFar0, *acc1 = accFar1;
static int64_t acc64[40], ref64[40];
static int32_t scratch[CLEF_DOT2_SCRATCH];
static int32_t xs32[512];

static void fill(int32_t count) {
    static int32_t near;
    near ^= 1;
    acc0 = near ? accNear : accFar0;
    acc1 = near ? accNear + CLEF_DOT2_NEAR : accFar1;
    for (int32_t i = 0; i < count; i++) { init0[i] = acc0[i] = rnd(-1000000, 1000000); init1[i] = acc1[i] = rnd(-1000000, 1000000); }
}
/// Every other pair of cases (so both sum layouts) takes a kernel's `_bias` form: the sums start
/// at two biases, the accumulators hold garbage before the call.
static int32_t bias0, bias1;
static int32_t biased(int32_t count) {
    static int32_t turn;
    turn++;
    if ((turn & 2) == 0) return 0;
    bias0 = rnd(-2000000, 2000000); bias1 = rnd(-2000000, 2000000);
    for (int32_t i = 0; i < count; i++) { init0[i] = bias0; init1[i] = bias1; acc0[i] = rnd(-9, 9); acc1[i] = rnd(-9, 9); }
    return 1;
}
static int32_t compare(int32_t count) {
    int32_t bad = 0;
    for (int32_t i = 0; i < count; i++) bad += (acc0[i] != ref0[i]) + (acc1[i] != ref1[i]);
    return bad;
}
static void number(int32_t v) {
    char digits[12];
    int32_t n = 0;
    do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v > 0);
    while (n > 0) putchar(digits[--n]);
}
/// "kernel NAME: C cases, B values differ" (no printf: newlib's would pull in malloc).
static void report(const char *name, int32_t cases, int32_t bad) {
    fw_write("kernel "); fw_write(name); fw_write(": "); number(cases);
    fw_write(" cases, "); number(bad); fw_write(" values differ\n");
}

/// Reference of the dot2 kernels: rows of k taps `rowLength` apart (rows = 1 for the plain ones),
/// outputs xs apart; x as int8 (wide 0) or int16, weights as int8 (wsize 1) or int16.
static void reference(int32_t wide, int32_t wsize, int32_t rows, int32_t rowLength, int32_t xs, int32_t k, int32_t count) {
    for (int32_t i = 0; i < count; i++) {
        int64_t a = init0[i], b = init1[i];
        for (int32_t r = 0; r < rows; r++) {
            for (int32_t j = 0; j < k; j++) {
                int32_t at = r * rowLength + i * xs + j;
                int64_t v = wide ? x16[at] : x8[at];
                int64_t u = wsize == 2 ? wa16[r * k + j] : wa[r * k + j], t = wsize == 2 ? wb16[r * k + j] : wb[r * k + j];
                a += u * v; b += t * v;
            }
        }
        ref0[i] = (int32_t)a; ref1[i] = (int32_t)b;
    }
}

/// The output stages against int64 arithmetic: the requantisation's fast form over every tail
/// length (in place, and into saturated int16 codes), and the table loops (multipliers of 1/8 to
/// 1/2 and int8 tables within +-400, so most codes are in range and move with the table value's
/// last bit; int16 ones with and without a pre-shift) over shifts 0 to 13, offsets inside the knots, at both ends and outside (where they
/// must stop), strides 1 and 3, int8 and int16 codes, the sentinel slot restored and nothing
/// written past the stop.
static int16_t knots[64], out16[3 * 40];
static int8_t out8[3 * 40];
static int32_t u[41], v[41];
static int32_t check_stages(const int32_t *counts, uint32_t ncounts) {
    int32_t total = 0, cases = 0, bad = 0;
    for (int32_t n = 0; n <= 37; n++) {
        const int32_t mul = rnd(1 << 30, 0x7fffffff), sh = rnd(1, 30), term = rnd(-(1 << 29), 1 << 29);
        for (int32_t i = 0; i <= n; i++) u[i] = v[i] = rnd(-2000000000, 2000000000);
        clef_requant_fast(u, n, mul, term, sh);
        for (int32_t i = 0; i < n; i++) bad += u[i] != (int32_t)(((((int64_t)v[i] * mul) >> 32) + term) >> sh);
        bad += u[n] != v[n];
        cases++;
    }
    report("clef_requant_fast", cases, bad);
    total += bad;
    // The same into saturated int16 codes: every shift 1 to 31 (each its own loop; `Requant32`'s
    // shifts are 1 to 30), multipliers of 1/4 to 1/2 on sums up to 2^(17 + shift), so both ends
    // saturate now and then; every count up to 37 at shift 1.
    cases = 0; bad = 0;
    for (int32_t k = 0; k < 38 + 31 * 3; k++) {
        const int32_t sh = k < 38 ? 1 : 1 + (k - 38) / 3, n = k < 38 ? k : rnd(0, 37), top = sh > 13 ? 30 : 17 + sh;
        const int32_t mul = rnd(1 << 30, 0x7fffffff), term = rnd(-4000, 4000) * (1 << (sh > 16 ? 16 : sh)) + (1 << (sh - 1));
        for (int32_t i = 0; i < n; i++) u[i] = rnd(-(1 << top), 1 << top);
        for (int32_t i = 0; i < 40; i++) out16[i] = 9999;
        clef_requant_s16(u, n, mul, term, sh, out16);
        for (int32_t i = 0; i < 40; i++) {
            const int64_t c = ((((int64_t)u[i] * mul) >> 32) + term) >> sh;
            const int32_t want = i < n ? (int32_t)(c < -32768 ? -32768 : c > 32767 ? 32767 : c) : 9999;
            bad += out16[i] != want;
        }
        cases++;
    }
    report("clef_requant_s16", cases, bad);
    total += bad;
    for (int32_t kind = 0; kind < 3; kind++) {
        cases = 0; bad = 0;
        for (int32_t shift = 0; shift <= 13; shift++) {
            for (uint32_t c = 0; c < ncounts; c++) {
                for (int32_t stride = 1; stride <= 3; stride += 2) {
                    const int32_t range = kind == 0 ? 400 : 32767;
                    // Shift 0 with output zero 0 half the time: the direct tables' loop without the add.
                    const int32_t n = counts[c], nk = rnd(2, 64), tz = shift == 0 && rnd(0, 1) ? 0 : rnd(-range - 1, range);
                    const int32_t span = (nk - 1) << shift;
                    for (int32_t j = 0; j < nk; j++) knots[j] = (int16_t)rnd(-range - 1, range);
                    // The term: the rounding half plus a zero point within +-100 codes. Codes take
                    // a pre-shift half the time (which comes with a final shift of 1).
                    const int32_t pre = kind != 2 && rnd(0, 1) ? rnd(1, 3) : 0, rs = pre ? 1 : rnd(1, 2);
                    const int32_t term = (1 << (rs - 1)) + rnd(-100, 100) * (1 << rs);
                    clef_swish_stage st = {knots, (uint32_t)rnd(1, span), shift, (1 << shift) - 1,
                                           (shift > 0 ? 1 << (shift - 1) : 0) - (kind == 2 ? 0 : tz * (1 << shift)),
                                           rnd(1 << 30, 0x7fffffff), term, rs, pre};
                    // Mostly inside; now and then below or past the limit (the loops stop there).
                    for (int32_t i = 0; i <= n; i++) {
                        const int32_t r = rnd(0, 99);
                        const int32_t lim = (int32_t)st.limit;
                        u[i] = r < 1 ? -1 : r < 2 ? lim : r < 3 ? rnd(-100000, -2) : r < 4 ? lim + rnd(1, 1000)
                            : r < 6 ? lim - 1 : r < 8 ? 0 : rnd(0, lim - 1);
                        v[i] = u[i];
                    }
                    for (int32_t i = 0; i < 3 * 40; i++) { out8[i] = 99; out16[i] = 9999; }
                    const int32_t done = kind == 0 ? clef_swish_s8(u, n, &st, out8, stride)
                        : kind == 1 ? clef_swish_s16(u, n, &st, out16, stride) : clef_table_s16(u, n, &st, out16, stride);
                    int32_t stop = 0;
                    while (stop < n && (uint32_t)v[stop] < st.limit) stop++;
                    bad += done != stop;
                    for (int32_t i = 0; i <= n; i++) bad += u[i] != v[i];
                    for (int32_t i = 0; i < 3 * 40; i++) {
                        const int32_t at = i / stride;
                        int32_t want = kind == 0 ? 99 : 9999;
                        if (i % stride == 0 && at < stop) {
                            const int32_t q = v[at], a = knots[q >> shift], b = knots[(q >> shift) + 1];
                            const int64_t t = (int64_t)a + (((int64_t)(b - a) * (q & st.mask) + st.half) >> shift);
                            const int64_t code = kind == 2 ? t : (((((t << st.pre) * st.mul) >> 32) + st.term) >> st.rshift);
                            const int64_t lo = kind == 0 ? -128 : -32768, hi = kind == 0 ? 127 : 32767;
                            want = (int32_t)(code < lo ? lo : code > hi ? hi : code);
                        }
                        bad += (kind == 0 ? out8[i] : out16[i]) != want;
                    }
                    cases++;
                }
            }
        }
        report(kind == 0 ? "clef_swish_s8" : kind == 1 ? "clef_swish_s16" : "clef_table_s16", cases, bad);
        total += bad;
    }
    // The sums' requantisation fused into the direct table's loop (int8 codes; the table's int16
    // values): sums mostly mapping inside the table, now and then outside (the loop stops there,
    // the offset written back, the later sums untouched); strides 1 and 3, the pre-shift form half
    // the time; a requantisation without an end marker returns -1 and touches nothing.
    for (int32_t kind = 0; kind < 2; kind++) {
    cases = 0; bad = 0;
    for (int32_t rep = 0; rep < 8; rep++)
    for (uint32_t c = 0; c < ncounts; c++) {
        for (int32_t stride = 1; stride <= 3; stride += 2) {
            const int32_t n = counts[c], nk = rnd(2, 64);
            for (int32_t j = 0; j < nk; j++) knots[j] = (int16_t)rnd(-32768, 32767);
            const int32_t pre = rnd(0, 1) ? rnd(1, 3) : 0, rs = pre ? 1 : rnd(1, 2);
            clef_swish_stage st = {knots, (uint32_t)rnd(1, nk - 1), 0, 0, 0, rnd(1 << 30, 0x7fffffff),
                                   (1 << (rs - 1)) + rnd(-100, 100) * (1 << rs), rs, pre};
            // Sums to offsets: (hi32(s * mul1) + term1) >> rs1, term1 with the table's start folded in.
            const int32_t mul1 = rnd(1 << 30, 0x7fffffff), rs1 = rnd(8, 16), start = rnd(0, 1000);
            const int32_t term1 = (1 << (rs1 - 1)) + start * (1 << rs1);
            for (int32_t i = 0; i <= n; i++) {
                // A sum landing on offset q: q << rs1 (less the start) times 2^32 / mul1, roughly.
                const int32_t r = rnd(0, 99);
                const int32_t q = r < 3 ? rnd(-3000, -1) : r < 5 ? (int32_t)st.limit + rnd(0, 100) : rnd(0, (int32_t)st.limit - 1);
                u[i] = v[i] = (int32_t)((((int64_t)(q - start) << rs1) << 32) / mul1) + rnd(-3, 3);
            }
            for (int32_t i = 0; i < 3 * 40; i++) { out8[i] = 99; out16[i] = 9999; }
            const int32_t done = kind == 0 ? clef_swish_sums_s8(u, n, &st, mul1, term1, rs1, out8, stride)
                                           : clef_table_sums_s16(u, n, &st, mul1, term1, rs1, out16, stride);
            int32_t stop = 0;
            for (; stop < n; stop++) {
                const int32_t q = (int32_t)(((((int64_t)v[stop] * mul1) >> 32) + term1) >> rs1);
                if ((uint32_t)q >= st.limit) break;
            }
            bad += done != stop;
            for (int32_t i = 0; i <= n; i++) {
                const int32_t q = (int32_t)(((((int64_t)v[i] * mul1) >> 32) + term1) >> rs1);
                bad += u[i] != (i == stop && stop < n ? q : v[i]);
            }
            for (int32_t i = 0; i < 3 * 40; i++) {
                const int32_t at = i / stride;
                int32_t want = kind == 0 ? 99 : 9999;
                if (i % stride == 0 && at < stop) {
                    const int32_t q = (int32_t)(((((int64_t)v[at] * mul1) >> 32) + term1) >> rs1);
                    const int64_t code = ((((int64_t)knots[q] << pre) * st.mul) >> 32) + st.term >> rs;
                    want = kind == 1 ? knots[q] : (int32_t)(code < -128 ? -128 : code > 127 ? 127 : code);
                }
                bad += (kind == 0 ? out8[i] : out16[i]) != want;
            }
            cases++;
        }
    }
    // No end marker: every sum maps inside (a table spanning all offsets the requantisation reaches).
    {
        clef_swish_stage st = {knots, 0xFFFFFFFFu, 0, 0, 0, 1 << 30, 0, 1, 0};
        u[0] = v[0] = 5;
        bad += (kind == 0 ? clef_swish_sums_s8(u, 1, &st, 1 << 30, 0, 1, out8, 1) : clef_table_sums_s16(u, 1, &st, 1 << 30, 0, 1, out16, 1)) != -1;
        bad += u[0] != v[0];
        cases++;
    }
    report(kind == 0 ? "clef_swish_sums_s8" : "clef_table_sums_s16", cases, bad);
    total += bad;
    }
    // A block input's Swish straight from its int16 codes (strided), a direct table with output
    // zero 0: codes mostly inside, now and then below or past it (the loop stops there).
    cases = 0; bad = 0;
    for (int32_t rep = 0; rep < 8; rep++) {
        for (uint32_t c = 0; c < ncounts; c++) {
            for (int32_t xstride = 1; xstride <= 5; xstride += 4) {
                const int32_t n = counts[c], nk = rnd(2, 64), start = rnd(-3000, 3000), stride = rnd(1, 3);
                for (int32_t j = 0; j < nk; j++) knots[j] = (int16_t)rnd(-32768, 32767);
                const int32_t pre = rnd(0, 1) ? rnd(1, 3) : 0, rs = pre ? 1 : rnd(1, 2);
                clef_swish_stage st = {knots, (uint32_t)rnd(1, nk - 1), 0, 0, 0, rnd(1 << 30, 0x7fffffff),
                                       (1 << (rs - 1)) + rnd(-100, 100) * (1 << rs), rs, pre};
                for (int32_t i = 0; i < 40 * 5; i++) {
                    const int32_t r = rnd(0, 99);
                    x16[i] = (int16_t)(start + (r < 2 ? rnd(-500, -1) : r < 4 ? (int32_t)st.limit + rnd(0, 50) : rnd(0, (int32_t)st.limit - 1)));
                }
                for (int32_t i = 0; i < 3 * 40; i++) out8[i] = 99;
                const int32_t done = clef_swish_codes_s8(x16, xstride, n, start, &st, out8, stride);
                int32_t stop = 0;
                while (stop < n && (uint32_t)(x16[stop * xstride] - start) < st.limit) stop++;
                bad += done != stop;
                for (int32_t i = 0; i < 3 * 40; i++) {
                    int32_t want = 99;
                    if (i % stride == 0 && i / stride < stop) {
                        const int64_t code = ((((int64_t)knots[x16[i / stride * xstride] - start] << pre) * st.mul) >> 32) + st.term >> rs;
                        want = (int32_t)(code < -128 ? -128 : code > 127 ? 127 : code);
                    }
                    bad += out8[i] != want;
                }
                cases++;
            }
        }
    }
    report("clef_swish_codes_s8", cases, bad);
    total += bad;
    return total;
}

/// The residual loops of int8 block outputs against int64 arithmetic: int16 and int8 inputs and
/// none, the assembly's widths (32, 64) and another (C), pools 1 and 2, every count up to 37;
/// inputs and outputs now and then beyond the knee (the loops must stop there and write nothing
/// past it).
static int16_t rx16[64 * 2 * 40], rg[40];
static int8_t rx8[64 * 2 * 40];
static int32_t check_residual(void) {
    int32_t total = 0;
    static const int32_t widths[] = {32, 64, 12};
    static int16_t g0[40];
    for (int32_t kind = 0; kind < 4; kind++) {
        int32_t cases = 0, bad = 0;
        for (uint32_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
            for (int32_t pool = 1; pool <= 2; pool++) {
                for (int32_t n = 0; n <= 37; n++) {
                    const int32_t cin = widths[wi], knee = rnd(60, 127), pre = rnd(1, 3);
                    clef_residual_stage st = {0, 0, pre, rnd(1 << 29, 0x7fffffff), 1, rnd(1 << 30, 0x7fffffff), 0, rnd(2, 5), knee};
                    st.oterm = (1 << (st.oshift - 1)) + rnd(-20, 20) * (1 << st.oshift);
                    const int32_t nin = rnd(1, 40), min = rnd(-100, 100);
                    if (kind == 0) st.zero = rnd(-3000, 3000);
                    if (kind == 1 || kind == 3) { st.step = nin << pre; st.zero = (min * nin) << pre; }
                    if (kind == 3) st.iadd = 1 + 2 * rnd(-20000, 20000);
                    for (int32_t i = 0; i < cin * pool * 40; i++) {
                        rx16[i] = (int16_t)(st.zero + rnd(-300, 300));
                        // Mostly within the knee; now and then beyond it.
                        rx8[i] = (int8_t)(rnd(0, 99) < 2 ? (rnd(0, 1) ? rnd(-128, -knee - 1) : rnd(knee + 1, 127)) : rnd(-knee, knee));
                    }
                    for (int32_t j = 0; j < 40; j++) rg[j] = (int16_t)(rnd(0, 99) < 3 ? rnd(-30000, 30000) : rnd(-600, 600));
                    for (int32_t i = 0; i < 40; i++) { out8[i] = 99; g0[i] = rg[i]; }
                    const int32_t done = kind == 0 ? clef_residual_s16(rx16, cin, pool, rg, n, &st, out8)
                        : kind == 1 ? clef_residual_s8(rx8, cin, pool, rg, n, &st, out8)
                        : kind == 2 ? clef_residual_none(rg, n, &st, out8) : clef_residual_s8_s16(rx8, cin, pool, rg, n, &st);
                    int32_t stop = n;
                    for (int32_t j = 0; j < n; j++) {
                        int64_t s = 0;
                        if (kind != 2) {
                            int32_t v = kind == 0 ? rx16[j * pool * cin] : rx8[j * pool * cin];
                            if (pool == 2) {
                                const int32_t w = kind == 0 ? rx16[j * pool * cin + cin] : rx8[j * pool * cin + cin];
                                v = w > v ? w : v;
                            }
                            if (kind != 0 && (v > knee || v < -knee)) { stop = j; break; }
                            s = kind == 0 ? (int64_t)(v - st.zero) * (1 << pre) : (int64_t)v * st.step + st.zero;
                        }
                        const int64_t d = kind == 2 ? 0 : ((((int64_t)s * st.imul) >> 32) + st.iadd) >> 1;
                        if (kind == 3) {
                            // int16 outputs in place: saturated, no knee.
                            const int64_t y = g0[j] + d;
                            bad += rg[j] != (int16_t)(y < -32768 ? -32768 : y > 32767 ? 32767 : y);
                            continue;
                        }
                        const int64_t uu = (((((int64_t)rg[j] + d) * st.omul) >> 32) + st.oterm) >> st.oshift;
                        if (uu > knee || uu < -knee) { stop = j; break; }
                        bad += out8[j] != (int8_t)uu;
                    }
                    bad += done != stop;
                    for (int32_t j = stop; j < 40; j++) bad += kind == 3 ? rg[j] != g0[j] : out8[j] != 99;
                    cases++;
                }
            }
        }
        report(kind == 0 ? "clef_residual_s16" : kind == 1 ? "clef_residual_s8" : kind == 2 ? "clef_residual_none" : "clef_residual_s8_s16",
               cases, bad);
        total += bad;
    }
    return total;
}

/// The time-major int16 residual against int64 arithmetic: zero-padded channels or none, pools 1
/// and 2, shifts 1 (the assembly) and 2-3 (C), the identity shortcut, steps up to 9, sums that
/// saturate now and then;
/// y must hold exactly n * cout values afterwards (and y may be the buffer's neighbour).
static int16_t th[256 * 10], tx[128 * 2 * 10], ty[256 * 10 + 8], tbuf[256];
static int32_t check_residual_t16(void) {
    int32_t cases = 0, bad = 0;
    static const int32_t shapes[][2] = {{64, 64}, {64, 128}, {128, 256}, {8, 8}, {16, 32}};
    for (uint32_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        for (int32_t pool = 1; pool <= 2; pool++) {
            for (int32_t shift = 1; shift <= 3; shift++) {
                for (int32_t n = 1; n <= 9; n += 2) {
                    const int32_t cin = shapes[si][0], cout = shapes[si][1], offset = (cout - cin) / 2, hs = n + rnd(0, 3);
                    const int32_t pre = shift == 1 ? rnd(1, 4) : 0;
                    // A third of the shift-1 cases: the identity shortcut (mul 0).
                    const int32_t ident = shift == 1 && rnd(0, 2) == 0;
                    clef_residual16_stage st = {rnd(-3000, 3000), pre, ident ? 0 : rnd(1 << 29, 0x7fffffff), 0, shift, rnd(-2000, 2000)};
                    st.term = (1 << (shift - 1)) + st.zy * (1 << shift);
                    for (int32_t i = 0; i < cin * pool * n; i++) tx[i] = (int16_t)(st.zx + (rnd(0, 99) < 3 ? rnd(-32000, 32000) : rnd(-900, 900)));
                    for (int32_t i = 0; i < cout * hs; i++) th[i] = (int16_t)rnd(-32768, 32767);
                    for (int32_t i = 0; i < cout * 10 + 8; i++) ty[i] = 12345;
                    clef_residual_t16(th, hs, tx, cin, pool, n, cout, offset, &st, tbuf, ty);
                    for (int32_t j = 0; j < n; j++) {
                        for (int32_t c = 0; c < cout; c++) {
                            int64_t v = th[c * hs + j];
                            const int32_t ci = c - offset;
                            if (ci >= 0 && ci < cin) {
                                int32_t x = tx[j * pool * cin + ci];
                                if (pool == 2 && tx[j * pool * cin + cin + ci] > x) x = tx[j * pool * cin + cin + ci];
                                v += ident ? (int64_t)x - st.zx + st.zy : ((((int64_t)(x - st.zx) * (1 << pre) * st.mul) >> 32) + st.term) >> shift;
                            } else {
                                v += st.zy;
                            }
                            bad += ty[j * cout + c] != (int16_t)(v < -32768 ? -32768 : v > 32767 ? 32767 : v);
                        }
                    }
                    for (int32_t i = n * cout; i < cout * 10 + 8; i++) bad += ty[i] != 12345;
                    cases++;
                }
            }
        }
    }
    report("clef_residual_t16", cases, bad);
    return bad;
}

/// The input tables: channel counts 4 to 64 in fours (the word loop) and odd ones (the portable
/// loop), steps 0 to 9, a misaligned input, every code; nothing written past the outputs.
static int32_t check_lut(void) {
    int32_t cases = 0, bad = 0;
    static int8_t lut[64 * 256], lx[10 * 64 + 4], lo[10 * 64 + 8];
    for (int32_t i = 0; i < 64 * 256; i++) lut[i] = (int8_t)rnd(-128, 127);
    for (int32_t cin = 1; cin <= 64; cin += cin < 8 ? 1 : 4) {
        for (int32_t steps = 0; steps <= 9; steps += 3) {
            for (int32_t shift = 0; shift <= 1; shift++) {
                int8_t *x = lx + shift;
                for (int32_t i = 0; i < steps * cin; i++) x[i] = (int8_t)(i < 256 ? i - 128 : rnd(-128, 127));
                for (int32_t i = 0; i < steps * cin + 8; i++) lo[i] = 55;
                clef_lut_s8(x, steps, cin, lut, lo);
                for (int32_t i = 0; i < steps * cin; i++) bad += lo[i] != lut[(i % cin) * 256 + 128 + x[i]];
                for (int32_t i = steps * cin; i < steps * cin + 8; i++) bad += lo[i] != 55;
                cases++;
            }
        }
    }
    report("clef_lut_s8", cases, bad);
    return bad;
}

/// The int8 codes' table offsets: every knee 0 to 127 in steps and shift 0 to 4, strides 1 to 3,
/// counts up to 37, codes at both ends.
static int32_t check_offsets(void) {
    int32_t cases = 0, bad = 0;
    static int8_t ox[3 * 40];
    static int32_t got[41];
    for (int32_t knee = 0; knee <= 127; knee += 9) {
        for (int32_t shift = 0; shift <= 4; shift++) {
            for (int32_t stride = 1; stride <= 3; stride++) {
                const int32_t n = rnd(0, 37), base = rnd(-2000000000, 2000000000), step = rnd(1, 300);
                for (int32_t i = 0; i < 3 * 40; i++) ox[i] = (int8_t)(rnd(0, 9) == 0 ? (rnd(0, 1) ? -128 : 127) : rnd(-128, 127));
                got[n] = 77;
                clef_offsets_s8(ox, stride, n, base, step, knee, shift, got);
                for (int32_t i = 0; i < n; i++) {
                    const int64_t c = ox[i * stride], a = c < 0 ? -c : c;
                    const int64_t e = a <= knee ? c : (c < 0 ? -1 : 1) * (knee + ((a - knee) << shift));
                    bad += got[i] != (int32_t)(uint32_t)(uint64_t)(base + step * e);
                }
                bad += got[n] != 77;
                cases++;
            }
        }
    }
    report("clef_offsets_s8", cases, bad);
    return bad;
}

int32_t clef_firmware_main(void) {
    int32_t total = 0;
    static const int32_t taps[] = {3, 4, 7, 16, 32, 48, 64, 68, 96, 128, 256};
    static const int32_t counts[] = {1, 2, 3, 5, 16, 31, 32};
    for (int32_t wide = 0; wide < 2; wide++) {
        int32_t cases = 0, bad = 0;
        for (uint32_t a = 0; a < sizeof taps / sizeof taps[0]; a++) {
            for (uint32_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
                const int32_t n = taps[a], count = counts[c];
                for (int32_t s = 0; s < 3; s++) {
                    const int32_t xs = s == 0 ? n : s;      // time-major chunks (1x1) or strided rows
                    for (int32_t i = 0; i < (count - 1) * xs + n; i++) { x8[i] = (int8_t)rnd(-128, 127); x16[i] = (int16_t)rnd(-32768, 32767); }
                    for (int32_t j = 0; j < n; j++) { wa[j] = (int8_t)rnd(-127, 127); wb[j] = (int8_t)rnd(-127, 127); }
                    fill(count);
                    const int32_t b = biased(count);
                    if (wide && b) clef_dot2_s16s8_bias(x16, xs, wa, wb, n, bias0, bias1, acc0, acc1, count, scratch);
                    else if (wide) clef_dot2_s16s8(x16, xs, wa, wb, n, acc0, acc1, count, scratch);
                    else if (b) clef_dot2_s8_bias(x8, xs, wa, wb, n, bias0, bias1, acc0, acc1, count, scratch);
                    else clef_dot2_s8(x8, xs, wa, wb, n, acc0, acc1, count, scratch);
                    reference(wide, 1, 1, 0, xs, n, count);
                    bad += compare(count); cases++;
                }
            }
        }
        report(wide ? "clef_dot2_s16s8(_bias)" : "clef_dot2_s8(_bias)", cases, bad);
        total += bad;
    }
    // Time-major int16 inputs of 32 channels in the engines' sums layout (block 0's conv1 in q8,
    // the pair loop `t16_taps32_bias`): every count up to 39 (an odd one ends in the tile),
    // full-range inputs, nothing written past the outputs.
    {
        int32_t cases = 0, bad = 0;
        for (int32_t count = 0; count < 40; count++) {
            for (int32_t i = 0; i < count * 32; i++) x16[i] = (int16_t)rnd(-32768, 32767);
            for (int32_t j = 0; j < 32; j++) { wa[j] = (int8_t)rnd(-127, 127); wb[j] = (int8_t)rnd(-127, 127); }
            acc0 = accNear; acc1 = accNear + CLEF_DOT2_NEAR;
            bias0 = rnd(-2000000, 2000000); bias1 = rnd(-2000000, 2000000);
            for (int32_t i = 0; i < count; i++) { init0[i] = bias0; init1[i] = bias1; acc0[i] = acc1[i] = 12345; }
            acc0[count] = acc1[count] = 777;
            clef_dot2_s16s8_bias(x16, 32, wa, wb, 32, bias0, bias1, acc0, acc1, count, scratch);
            reference(1, 1, 1, 0, 32, 32, count);
            bad += compare(count) + (acc0[count] != 777) + (acc1[count] != 777);
            cases++;
        }
        report("clef_dot2_s16s8_bias (time-major, 32 channels)", cases, bad);
        total += bad;
    }
    // Staged int8 inputs (clef_stage_x16 + clef_dot2_x16_bias): taps a multiple of 16 (the DSP
    // pair loop, one to four weight chunks) and not (portable), odd counts (the last output
    // twice: acc[count] may change), both sum layouts; nothing written beyond.
    {
        int32_t cases = 0, bad = 0;
        static int32_t staged[CLEF_STAGE_X16_WORDS(256, 32)];
        static const int32_t stagedTaps[] = {4, 16, 32, 48, 64, 68, 96, 128, 256};
        for (uint32_t a = 0; a < sizeof stagedTaps / sizeof stagedTaps[0]; a++) {
            for (uint32_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
                for (int32_t s = 0; s < 2; s++) {
                    const int32_t n = stagedTaps[a], count = counts[c], xs = n + 4 * s;
                    for (int32_t i = 0; i < (count - 1) * xs + n; i++) x8[i] = (int8_t)rnd(-128, 127);
                    for (int32_t j = 0; j < n; j++) { wa[j] = (int8_t)rnd(-128, 127); wb[j] = (int8_t)rnd(-128, 127); }
                    fill(count);
                    bias0 = rnd(-2000000, 2000000); bias1 = rnd(-2000000, 2000000);
                    for (int32_t i = 0; i < count; i++) { init0[i] = bias0; init1[i] = bias1; }
                    const int32_t past = count + (count & 1);
                    acc0[past] = acc1[past] = 0x5A5A5A5A;
                    clef_stage_x16(x8, xs, n, count, staged);
                    clef_dot2_x16_bias(staged, n, wa, wb, bias0, bias1, acc0, acc1, count, scratch);
                    reference(0, 1, 1, 0, xs, n, count);
                    bad += compare(count) + (acc0[past] != 0x5A5A5A5A) + (acc1[past] != 0x5A5A5A5A); cases++;
                }
            }
        }
        report("clef_dot2_x16_bias", cases, bad);
        total += bad;
    }
    // Staged rows (clef_stage_rows16 + clef_dot2_rows16_bias): 4, 8 and 16 rows (the DSP pair
    // loops, one to four weight batches) and 3 (portable), strides 1 and 2, odd counts, the
    // staged pointer at a later output (as the engines' chunks of 64 take it), both layouts.
    {
        int32_t cases = 0, bad = 0;
        static int32_t staged[16 * CLEF_STAGE_ROWS16_WORDS(40, 1)];
        static const int32_t stagedRows[] = {4, 8, 16, 3};
        for (uint32_t a = 0; a < sizeof stagedRows / sizeof stagedRows[0]; a++) {
            for (uint32_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
                for (int32_t xs = 1; xs <= 2; xs++) {
                    const int32_t rows = stagedRows[a], count = counts[c], skip = c & 1 ? 3 : 0, all = count + skip;
                    const int32_t rowLength = (all - 1) * xs + 16 + 5, words = CLEF_STAGE_ROWS16_WORDS(all, xs);
                    for (int32_t i = 0; i < rows * rowLength; i++) x8[i] = (int8_t)rnd(-128, 127);
                    for (int32_t j = 0; j < rows * 16; j++) { wa[j] = (int8_t)rnd(-128, 127); wb[j] = (int8_t)rnd(-128, 127); }
                    fill(count);
                    bias0 = rnd(-2000000, 2000000); bias1 = rnd(-2000000, 2000000);
                    for (int32_t i = 0; i < count; i++) { init0[i] = bias0; init1[i] = bias1; }
                    acc0[count] = acc1[count] = 0x5A5A5A5A;
                    clef_stage_rows16(x8, rowLength, rows, xs, all, staged);
                    clef_dot2_rows16_bias(staged + skip, words, rows, xs, wa, wb, bias0, bias1, acc0, acc1, count, scratch);
                    // The reference reads the int8 rows from output `skip` on.
                    for (int32_t i = 0; i < count; i++) {
                        int64_t u = init0[i], v = init1[i];
                        for (int32_t r = 0; r < rows; r++) {
                            for (int32_t j = 0; j < 16; j++) {
                                const int64_t x = x8[r * rowLength + (i + skip) * xs + j];
                                u += wa[r * 16 + j] * x; v += wb[r * 16 + j] * x;
                            }
                        }
                        ref0[i] = (int32_t)u; ref1[i] = (int32_t)v;
                    }
                    bad += compare(count) + (acc0[count] != 0x5A5A5A5A) + (acc1[count] != 0x5A5A5A5A); cases++;
                }
            }
        }
        report("clef_dot2_rows16_bias", cases, bad);
        total += bad;
    }
    // Grouped rows: 1 to 16 input rows of 16 (the DSP rows tile, 4 rows a batch) or 5 taps.
    static const int32_t rowCounts[] = {1, 2, 3, 4, 5, 8, 16};
    for (int32_t wide = 0; wide < 2; wide++) {
        int32_t cases = 0, bad = 0;
        for (uint32_t a = 0; a < sizeof rowCounts / sizeof rowCounts[0]; a++) {
            for (int32_t kk = 0; kk < 2; kk++) {
                for (uint32_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
                    const int32_t rows = rowCounts[a], k = kk ? 5 : 16, count = counts[c];
                    for (int32_t xs = 1; xs <= 2; xs++) {
                        const int32_t rowLength = (count - 1) * xs + k + 3;
                        for (int32_t i = 0; i < rows * rowLength; i++) { x8[i] = (int8_t)rnd(-128, 127); x16[i] = (int16_t)rnd(-32768, 32767); }
                        for (int32_t j = 0; j < rows * k; j++) { wa[j] = (int8_t)rnd(-127, 127); wb[j] = (int8_t)rnd(-127, 127); }
                        fill(count);
                        const int32_t b = biased(count);
                        if (wide && b) clef_dot2_rows_s16s8_bias(x16, rowLength, rows, xs, wa, wb, k, bias0, bias1, acc0, acc1, count, scratch);
                        else if (wide) clef_dot2_rows_s16s8(x16, rowLength, rows, xs, wa, wb, k, acc0, acc1, count, scratch);
                        else if (b) clef_dot2_rows_s8_bias(x8, rowLength, rows, xs, wa, wb, k, bias0, bias1, acc0, acc1, count, scratch);
                        else clef_dot2_rows_s8(x8, rowLength, rows, xs, wa, wb, k, acc0, acc1, count, scratch);
                        reference(wide, 1, rows, rowLength, xs, k, count);
                        bad += compare(count); cases++;
                    }
                }
            }
        }
        report(wide ? "clef_dot2_rows_s16s8(_bias)" : "clef_dot2_rows_s8(_bias)", cases, bad);
        total += bad;
    }
    // int16 x int16 into int32 (the stem): 16 taps at stride 2 (its own kernel) and 1 (the tile),
    // 7 taps (portable); inputs within +-1000 so the sums fit int32 as the engine requires.
    {
        int32_t cases = 0, bad = 0;
        static const int32_t stemTaps[] = {16, 7, 8};
        for (uint32_t a = 0; a < 3; a++) {
            for (uint32_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
                for (int32_t xs = 1; xs <= 3; xs++) {
                    const int32_t n = stemTaps[a], count = counts[c];
                    for (int32_t i = 0; i < (count - 1) * xs + n; i++) x16[i] = (int16_t)rnd(-1000, 1000);
                    for (int32_t j = 0; j < n; j++) { wa16[j] = (int16_t)rnd(-32767, 32767); wb16[j] = (int16_t)rnd(-32767, 32767); }
                    fill(count);
                    if (biased(count)) clef_dot2_s16s16_bias(x16, xs, wa16, wb16, n, bias0, bias1, acc0, acc1, count, scratch);
                    else clef_dot2_s16s16(x16, xs, wa16, wb16, n, acc0, acc1, count, scratch);
                    reference(1, 2, 1, 0, xs, n, count);
                    bad += compare(count); cases++;
                }
            }
        }
        report("clef_dot2_s16s16(_bias)", cases, bad);
        total += bad;
    }
    // int16 x int16 into int64 over the full range (the stem's fallback).
    {
        int32_t cases = 0, bad = 0;
        for (int32_t n = 5; n <= 16; n += 11) {
            for (uint32_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
                const int32_t count = counts[c];
                for (int32_t i = 0; i < (count - 1) * 2 + n; i++) x16[i] = (int16_t)rnd(-32768, 32767);
                for (int32_t j = 0; j < n; j++) wa16[j] = (int16_t)rnd(-32767, 32767);
                for (int32_t i = 0; i < count; i++) acc64[i] = ref64[i] = (int64_t)rnd(-1000000, 1000000) << 20;
                clef_dot_s16_s64(x16, 2, wa16, n, acc64, count);
                for (int32_t i = 0; i < count; i++) {
                    for (int32_t j = 0; j < n; j++) ref64[i] += (int64_t)wa16[j] * x16[i * 2 + j];
                    bad += acc64[i] != ref64[i];
                }
                cases++;
            }
        }
        report("clef_dot_s16_s64", cases, bad);
        total += bad;
    }
    // int8 x int32 into int64, two rows (the squeeze-excitation), word-aligned rows (the word
    // loads on Arm) and not.
    {
        int32_t cases = 0, bad = 0;
        _Alignas(4) static int8_t ra[520], rb[520];
        for (int32_t n = 1; n <= 512; n = n * 2 + 1) {
            for (int32_t off = 0; off < 2; off++) {
                int8_t *pa = ra + off, *pb = rb + 3 * off;   // both aligned, then both not
                for (int32_t j = 0; j < n; j++) { xs32[j] = rnd(-2000000000, 2000000000); pa[j] = (int8_t)rnd(-128, 127); pb[j] = (int8_t)rnd(-128, 127); }
                int64_t sums[2], r0 = 0, r1 = 0;
                clef_dot2_s8_s32(pa, pb, xs32, n, sums);
                for (int32_t j = 0; j < n; j++) { r0 += (int64_t)pa[j] * xs32[j]; r1 += (int64_t)pb[j] * xs32[j]; }
                bad += (sums[0] != r0) + (sums[1] != r1); cases++;
            }
        }
        report("clef_dot2_s8_s32", cases, bad);
        total += bad;
    }
    // 4-bit rows: every count up to 19 and past a 2048-term partial sum, aligned and not, and
    // the extreme values (|x| <= 2^16 is the contract).
    {
        int32_t cases = 0, bad = 0;
        static int8_t pa[1040], pb[1040];
        static int8_t va[2080], vb[2080];
        static int32_t x4[2080];
        const int32_t counts4[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 19, 64, 255, 2048, 2049, 2071};
        for (uint32_t c = 0; c < sizeof counts4 / sizeof counts4[0]; c++) {
            for (int32_t off = 0; off < 2; off++) {
                const int32_t n = counts4[c], extreme = c == 12;
                for (int32_t j = 0; j < n; j++) {
                    va[j] = (int8_t)(extreme ? -8 : rnd(-8, 7)); vb[j] = (int8_t)(extreme ? 7 : rnd(-8, 7));
                    x4[j] = extreme ? -65536 : rnd(-65536, 65536);
                }
                for (int32_t j = 0; j < n; j += 2) {
                    const uint8_t hiA = j + 1 < n ? (uint8_t)(va[j + 1] & 15) : 0, hiB = j + 1 < n ? (uint8_t)(vb[j + 1] & 15) : 0;
                    pa[off + j / 2] = (int8_t)((va[j] & 15) | hiA << 4); pb[off + j / 2] = (int8_t)((vb[j] & 15) | hiB << 4);
                }
                int64_t sums[2], r0 = 0, r1 = 0;
                clef_dot2_s4_s32(pa + off, pb + off, x4, n, sums);
                for (int32_t j = 0; j < n; j++) { r0 += (int64_t)va[j] * x4[j]; r1 += (int64_t)vb[j] * x4[j]; }
                bad += (sums[0] != r0) + (sums[1] != r1); cases++;
            }
        }
        report("clef_dot2_s4_s32", cases, bad);
        total += bad;
    }
    // Per-channel sums of int8 codes over time: lane blocks of 256 steps and past them, channel
    // counts that are and are not multiples of 4, aligned and not, and every code at -128 / 127.
    {
        int32_t cases = 0, bad = 0;
        _Alignas(4) static int8_t xt[2600 * 20 + 4];
        static int32_t got[20];
        const int32_t ms[] = {4, 16, 6, 20}, stepsList[] = {1, 255, 256, 257, 600, 2500};
        for (uint32_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++) {
            for (uint32_t si = 0; si < sizeof stepsList / sizeof stepsList[0]; si++) {
                for (int32_t mode = 0; mode < 4; mode++) {
                    const int32_t m = ms[mi], steps = stepsList[si], off = mode == 1 ? 1 : 0;
                    int8_t *x = xt + off;
                    for (int32_t i = 0; i < m * steps; i++) x[i] = (int8_t)(mode == 2 ? -128 : mode == 3 ? 127 : rnd(-128, 127));
                    clef_channel_sums_s8(x, m, steps, got);
                    for (int32_t c = 0; c < m; c++) {
                        int32_t r = 0;
                        for (int32_t t = 0; t < steps; t++) r += x[t * m + c];
                        bad += got[c] != r;
                    }
                    cases++;
                }
            }
        }
        report("clef_channel_sums_s8", cases, bad);
        total += bad;
    }
    // The biases' fill: every length up to 37, nothing written past n.
    {
        int32_t cases = 0, bad = 0;
        for (int32_t n = 0; n <= 37; n++) {
            for (int32_t i = 0; i < 40; i++) { accFar0[i] = 7; accFar1[i] = 9; }
            const int32_t b0 = rnd(-2000000000, 2000000000), b1 = rnd(-2000000000, 2000000000);
            clef_fill2(accFar0, accFar1, b0, b1, n);
            for (int32_t i = 0; i < 40; i++) bad += (accFar0[i] != (i < n ? b0 : 7)) + (accFar1[i] != (i < n ? b1 : 9));
            cases++;
        }
        report("clef_fill2", cases, bad);
        total += bad;
    }
    total += check_stages(counts, sizeof counts / sizeof counts[0]);
    total += check_residual();
    total += check_residual_t16();
    total += check_offsets();
    total += check_lut();
    return total;
}
