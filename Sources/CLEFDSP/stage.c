// See include/clef_stage.h. Two passes over a chunk of sums (at most the kernels' 64): the first
// requantises them in place into table offsets, the second runs the table and the channel's
// requantisation. One fused loop would keep 16 constants live, more than a Cortex-M's 14
// registers (the compilers reloaded 8-9 of them per element); split, the table loop holds all
// of its own (the end of the chunk is a sentinel offset, so it needs no counter) in 16
// instructions an element (14 for the table shifts 4 to 8), and the requantisation takes 3.5.
#include "clef_stage.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__)
#define CLEF_STAGE_ASM 1
#endif

/// hi32(a * b) + c, wrapping like Swift's &+ (the engines' terms keep it inside int32).
static inline int32_t mul_hi_add(int32_t a, int32_t b, int32_t c) {
    return (int32_t)((uint32_t)(int32_t)(((int64_t)a * b) >> 32) + (uint32_t)c);
}

/// v saturated to int16.
static inline int16_t sat16(int32_t v) { return (int16_t)(v < -32768 ? -32768 : v > 32767 ? 32767 : v); }

/// A sum whose table offset lies outside the table (the fused loop's end marker): INT32_MAX or
/// INT32_MIN, whichever maps beyond `limit` (|hi32| < 2^30 and |term| <= 2^30, so no wrap);
/// 0 when neither does (the caller takes the two passes).
static inline int32_t sums_sentinel(const clef_swish_stage *st, int32_t mul1, int32_t term1, int32_t rs1) {
    if ((uint32_t)(mul_hi_add(INT32_MAX, mul1, term1) >> rs1) >= st->limit) return INT32_MAX;
    if ((uint32_t)(mul_hi_add(INT32_MIN, mul1, term1) >> rs1) >= st->limit) return INT32_MIN;
    return 0;
}

#ifdef CLEF_STAGE_ASM
/// Four sums requantised in registers a ... d, the pointer u advanced past them: two LDRD, four
/// SMMLA and ASR. The loop around it is STORE, then the end test.
#define REQUANT4_MUL \
    "ldrd %[a], %[b], [%[u]], #16\n\t" \
    "ldrd %[c], %[d], [%[u], #-8]\n\t" \
    "smmla %[a], %[a], %[mul], %[term]\n\t" \
    "smmla %[b], %[b], %[mul], %[term]\n\t" \
    "smmla %[c], %[c], %[mul], %[term]\n\t" \
    "smmla %[d], %[d], %[mul], %[term]\n\t"
#define REQUANT4_LOOP(STORE) \
    "1:\n\t" \
    REQUANT4_MUL \
    "asr %[a], %[a], %[sh]\n\t" \
    "asr %[b], %[b], %[sh]\n\t" \
    "asr %[c], %[c], %[sh]\n\t" \
    "asr %[d], %[d], %[sh]\n\t" \
    STORE \
    "cmp %[u], %[end]\n\t" \
    "bne 1b\n\t"
#define REQUANT4_OUTS [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c), [d] "=&r"(d)
#define REQUANT4_INS [end] "r"(end), [mul] "r"(mul), [term] "r"(term), [sh] "r"(shift)
#endif

void clef_requant_fast(int32_t *u, int32_t n, int32_t mul, int32_t term, int32_t shift) {
#ifdef CLEF_STAGE_ASM
    // In place: two STRD back over the four.
    int32_t *end = u + (n & ~3);
    if (u != end) {
        int32_t a, b, c, d;
        __asm__ volatile(REQUANT4_LOOP("strd %[a], %[b], [%[u], #-16]\n\t" "strd %[c], %[d], [%[u], #-8]\n\t")
                         : [u] "+r"(u), REQUANT4_OUTS : REQUANT4_INS : "cc", "memory");
    }
    n &= 3;
#endif
    for (int32_t i = 0; i < n; i++) u[i] = mul_hi_add(u[i], mul, term) >> shift;
}

#ifdef CLEF_STAGE_ASM
/// Four sums to int16 codes with the shift S as SSAT's own ASR (shifts 1 to 31 each their loop):
/// 4 instructions an element instead of 5 (the separate ASR by register).
#define REQUANT4_S16_K(S) \
    __asm__ volatile("1:\n\t" \
                     REQUANT4_MUL \
                     "ssat %[a], #16, %[a], asr #" #S "\n\t" \
                     "ssat %[b], #16, %[b], asr #" #S "\n\t" \
                     "ssat %[c], #16, %[c], asr #" #S "\n\t" \
                     "ssat %[d], #16, %[d], asr #" #S "\n\t" \
                     "strh %[a], [%[o]], #2\n\t" "strh %[b], [%[o]], #2\n\t" \
                     "strh %[c], [%[o]], #2\n\t" "strh %[d], [%[o]], #2\n\t" \
                     "cmp %[u], %[end]\n\t" \
                     "bne 1b\n\t" \
                     : [u] "+r"(acc), [o] "+r"(out), REQUANT4_OUTS \
                     : [end] "r"(end), [mul] "r"(mul), [term] "r"(term) : "cc", "memory"); \
    break;
#define REQUANT4_S16_CASES(A, B, C, D) case A: REQUANT4_S16_K(A) case B: REQUANT4_S16_K(B) case C: REQUANT4_S16_K(C) \
    case D: REQUANT4_S16_K(D)
#endif

void clef_requant_s16(const int32_t *acc, int32_t n, int32_t mul, int32_t term, int32_t shift, int16_t *out) {
#ifdef CLEF_STAGE_ASM
    // Saturated to int16, four STRH.
    const int32_t *end = acc + (n & ~3);
    if (acc != end) {
        int32_t a, b, c, d;
        switch (shift) {
        REQUANT4_S16_CASES(1, 2, 3, 4) REQUANT4_S16_CASES(5, 6, 7, 8) REQUANT4_S16_CASES(9, 10, 11, 12)
        REQUANT4_S16_CASES(13, 14, 15, 16) REQUANT4_S16_CASES(17, 18, 19, 20) REQUANT4_S16_CASES(21, 22, 23, 24)
        REQUANT4_S16_CASES(25, 26, 27, 28) case 29: REQUANT4_S16_K(29) case 30: REQUANT4_S16_K(30) case 31: REQUANT4_S16_K(31)
        default:
            __asm__ volatile(REQUANT4_LOOP("ssat %[a], #16, %[a]\n\t" "ssat %[b], #16, %[b]\n\t"
                                           "ssat %[c], #16, %[c]\n\t" "ssat %[d], #16, %[d]\n\t"
                                           "strh %[a], [%[o]], #2\n\t" "strh %[b], [%[o]], #2\n\t"
                                           "strh %[c], [%[o]], #2\n\t" "strh %[d], [%[o]], #2\n\t")
                             : [u] "+r"(acc), [o] "+r"(out), REQUANT4_OUTS : REQUANT4_INS : "cc", "memory");
        }
    }
    n &= 3;
#endif
    for (int32_t i = 0; i < n; i++) {
        const int32_t v = mul_hi_add(acc[i], mul, term) >> shift;
        out[i] = (int16_t)(v < -32768 ? -32768 : v > 32767 ? 32767 : v);
    }
}

#ifdef CLEF_STAGE_ASM
/// The table loop: offset, compare with the limit (the sentinel stops it too), knots and
/// interpolation, requantisation, then STORE (saturate and store t1, advance o). Two elements a
/// pass: the same instructions, but one taken branch per two elements (a taken branch costs a
/// Cortex-M4 1 + 1-3 cycles, one not taken 1).
#define SWISH_LOOP_WITH(INTERP, REQUANT, STORE) \
    "ldr %[t0], [%[u]], #4\n\t" \
    "cmp %[t0], %[limit]\n\t" \
    "bhs 2f\n\t" \
    "1:\n\t" \
    INTERP \
    REQUANT \
    STORE \
    "ldr %[t0], [%[u]], #4\n\t" \
    "cmp %[t0], %[limit]\n\t" \
    "bhs 2f\n\t" \
    INTERP \
    REQUANT \
    STORE \
    "ldr %[t0], [%[u]], #4\n\t" \
    "cmp %[t0], %[limit]\n\t" \
    "blo 1b\n\t" \
    "2:\n\t"
/// The knots and the interpolation into t1, the table's shift and mask in registers.
#define SWISH_INTERP \
    "asr %[t1], %[t0], %[shift]\n\t" \
    "and %[t0], %[t0], %[mask]\n\t" \
    "add %[t1], %[knots], %[t1], lsl #1\n\t" \
    "ldrsh %[t2], [%[t1], #2]\n\t" \
    "ldrsh %[t1], [%[t1]]\n\t" \
    "sub %[t2], %[t2], %[t1]\n\t" \
    "mla %[t2], %[t2], %[t0], %[half]\n\t" \
    "asr %[t2], %[t2], %[shift]\n\t" \
    "add %[t1], %[t1], %[t2]\n\t"
#define SWISH_LOOP(REQUANT, STORE) SWISH_LOOP_WITH(SWISH_INTERP, REQUANT, STORE)
#define SWISH_OUTS [u] "+r"(p), [o] "+r"(o), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2)
/// The requantisation: its shift in a register (`rs`), or with a pre-shift in that register and
/// the shift of 1 that always comes with one.
#define SWISH_RQ "smmla %[t1], %[t1], %[mul], %[term]\n\t" "asr %[t1], %[t1], %[rs]\n\t"
#define SWISH_RQ_PRE "lsl %[t1], %[t1], %[rs]\n\t" "smmla %[t1], %[t1], %[mul], %[term]\n\t" "asr %[t1], %[t1], #1\n\t"
#define SWISH_INS(RS) [limit] "r"(st->limit), [shift] "r"(st->shift), [mask] "r"(st->mask), [knots] "r"(st->knots), \
    [half] "r"(st->half), [mul] "r"(st->mul), [term] "r"(st->term), [rs] "r"(RS)
/// Stride 1 post-increments the store (one register fewer).
#define SWISH_STORE1(BITS, SUFFIX, SIZE) "ssat %[t1], #" #BITS ", %[t1]\n\t" "str" SUFFIX " %[t1], [%[o]], #" #SIZE "\n\t"
#define SWISH_STORE(BITS, SUFFIX) "ssat %[t1], #" #BITS ", %[t1]\n\t" "str" SUFFIX " %[t1], [%[o]]\n\t" "add %[o], %[o], %[step]\n\t"
/// The table loop for a table shift S known when compiling (the shifts real tables use, 4 to 8):
/// the fraction's mask an immediate (UBFX), the shift folded into the final ADD, the two knots
/// loaded by register offset from `knots` and `knots1` (= knots + 1) without an address add: 14
/// instructions an element instead of 16, and two registers fewer.
#define SWISH_INTERP_K(S) \
    "lsr %[t1], %[t0], #" #S "\n\t" \
    "ubfx %[t0], %[t0], #0, #" #S "\n\t" \
    "ldrsh %[t2], [%[knots1], %[t1], lsl #1]\n\t" \
    "ldrsh %[t1], [%[knots], %[t1], lsl #1]\n\t" \
    "sub %[t2], %[t2], %[t1]\n\t" \
    "mla %[t2], %[t2], %[t0], %[half]\n\t" \
    "add %[t1], %[t1], %[t2], asr #" #S "\n\t"
#define SWISH_LOOP_K(S, REQUANT, STORE) SWISH_LOOP_WITH(SWISH_INTERP_K(S), REQUANT, STORE)
/// A direct table (shift 0: a value per code, the exporter's shared Swish table): one load by
/// register offset, and where the output zero is not 0 (the stages fold it into `half`: shift 0
/// leaves it -zero) an add: 8 or 9 instructions an element with the requantisation instead of
/// 14; the table alone (`clef_table_s16`, no zero) 6 instead of 12.
#define SWISH_INTERP_0 "ldrsh %[t1], [%[knots], %[t0], lsl #1]\n\t"
#define SWISH_INTERP_0Z SWISH_INTERP_0 "add %[t1], %[t1], %[half]\n\t"
#define SWISH_LOOP_0(REQUANT, STORE) SWISH_LOOP_WITH(SWISH_INTERP_0Z, REQUANT, STORE)
#define SWISH_LOOP_00(REQUANT, STORE) SWISH_LOOP_WITH(SWISH_INTERP_0, REQUANT, STORE)
#define SWISH_INS_00(RS) [limit] "r"(st->limit), [knots] "r"(st->knots), [mul] "r"(st->mul), [term] "r"(st->term), [rs] "r"(RS)
#define SWISH_INS_0(RS) [limit] "r"(st->limit), [knots] "r"(st->knots), [half] "r"(st->half), [mul] "r"(st->mul), \
    [term] "r"(st->term), [rs] "r"(RS)
#define SWISH_INS_K(RS) [limit] "r"(st->limit), [knots] "r"(st->knots), [knots1] "r"(st->knots + 1), \
    [half] "r"(st->half), [mul] "r"(st->mul), [term] "r"(st->term), [rs] "r"(RS)
/// The two loops (stride 1 or not) of one requantisation form RQ, its register RS: for the table
/// shifts 4 to 8 the constant-shift loops, any other shift the general one.
#define SWISH_LOOPS_ONE(LOOP, INS, RQ, BITS, SUFFIX, SIZE) \
    if (stride == 1) { \
        __asm__ volatile(LOOP(RQ, SWISH_STORE1(BITS, SUFFIX, SIZE)) : SWISH_OUTS : INS : "cc", "memory"); \
    } else { \
        const int32_t step = stride * (BITS / 8); \
        __asm__ volatile(LOOP(RQ, SWISH_STORE(BITS, SUFFIX)) : SWISH_OUTS : INS, [step] "r"(step) : "cc", "memory"); \
    }
#define SWISH_K4(RQ, STORE) SWISH_LOOP_K(4, RQ, STORE)
#define SWISH_K5(RQ, STORE) SWISH_LOOP_K(5, RQ, STORE)
#define SWISH_K6(RQ, STORE) SWISH_LOOP_K(6, RQ, STORE)
#define SWISH_K7(RQ, STORE) SWISH_LOOP_K(7, RQ, STORE)
#define SWISH_K8(RQ, STORE) SWISH_LOOP_K(8, RQ, STORE)
#define SWISH_LOOPS(RQ, RS, BITS, SUFFIX, SIZE) \
    if (st->shift == 0 && st->half == 0) { \
        SWISH_LOOPS_ONE(SWISH_LOOP_00, SWISH_INS_00(RS), RQ, BITS, SUFFIX, SIZE) \
    } else if (st->shift == 0) { \
        SWISH_LOOPS_ONE(SWISH_LOOP_0, SWISH_INS_0(RS), RQ, BITS, SUFFIX, SIZE) \
    } else switch (st->shift) { \
    case 4: SWISH_LOOPS_ONE(SWISH_K4, SWISH_INS_K(RS), RQ, BITS, SUFFIX, SIZE) break; \
    case 5: SWISH_LOOPS_ONE(SWISH_K5, SWISH_INS_K(RS), RQ, BITS, SUFFIX, SIZE) break; \
    case 6: SWISH_LOOPS_ONE(SWISH_K6, SWISH_INS_K(RS), RQ, BITS, SUFFIX, SIZE) break; \
    case 7: SWISH_LOOPS_ONE(SWISH_K7, SWISH_INS_K(RS), RQ, BITS, SUFFIX, SIZE) break; \
    case 8: SWISH_LOOPS_ONE(SWISH_K8, SWISH_INS_K(RS), RQ, BITS, SUFFIX, SIZE) break; \
    default: SWISH_LOOPS_ONE(SWISH_LOOP, SWISH_INS(RS), RQ, BITS, SUFFIX, SIZE) break; \
    }
/// One entry point per output type: the loops without a pre-shift, and those with one (q16's
/// channel multipliers, near 1; q8's narrow channels after a shared table, 1/4 and more).
#define SWISH_ENTRY(name, T, BITS, SUFFIX, SIZE) \
int32_t name(int32_t *u, int32_t n, const clef_swish_stage *st, T *out, int32_t stride) { \
    int32_t saved = u[n], *p = u, t0, t1, t2; \
    char *o = (char *)out; \
    u[n] = -1; \
    if (st->pre != 0) { SWISH_LOOPS(SWISH_RQ_PRE, st->pre, BITS, SUFFIX, SIZE) } \
    else { SWISH_LOOPS(SWISH_RQ, st->rshift, BITS, SUFFIX, SIZE) } \
    u[n] = saved; \
    return (int32_t)(p - u) - 1; \
}
SWISH_ENTRY(clef_swish_s8, int8_t, 8, "b", 1)
SWISH_ENTRY(clef_swish_s16, int16_t, 16, "h", 2)

/// The sums' requantisation into the table's offsets folded into the direct table's loop (the
/// stopping element's offset written back over its sum): 10 instructions an element (11 with
/// a stride) instead of 3.5 + 8.
#define SUMS_LOAD \
    "ldr %[t0], [%[u]], #4\n\t" \
    "smmla %[t0], %[t0], %[mul1], %[term1]\n\t" \
    "asr %[t0], %[t0], %[rs1]\n\t" \
    "cmp %[t0], %[limit]\n\t"
#define SUMS_LOOP(REQUANT, STORE) \
    SUMS_LOAD "bhs 2f\n\t" \
    "1:\n\t" SWISH_INTERP_0 REQUANT STORE \
    SUMS_LOAD "bhs 2f\n\t" \
    SWISH_INTERP_0 REQUANT STORE \
    SUMS_LOAD "blo 1b\n\t" \
    "2:\n\t" \
    "str %[t0], [%[u], #-4]\n\t"
#define SUMS_OUTS [u] "+r"(p), [o] "+r"(o), [t0] "=&r"(t0), [t1] "=&r"(t1)
#define SUMS_INS(RS) [limit] "r"(st->limit), [knots] "r"(st->knots), [mul] "r"(st->mul), [term] "r"(st->term), [rs] "r"(RS), \
    [mul1] "r"(mul1), [term1] "r"(term1), [rs1] "r"(rs1)
#define SUMS_LOOPS(RQ, RS) \
    if (stride == 1) { \
        __asm__ volatile(SUMS_LOOP(RQ, SWISH_STORE1(8, "b", 1)) : SUMS_OUTS : SUMS_INS(RS) : "cc", "memory"); \
    } else { \
        const int32_t step = stride; \
        __asm__ volatile(SUMS_LOOP(RQ, SWISH_STORE(8, "b")) : SUMS_OUTS : SUMS_INS(RS), [step] "r"(step) : "cc", "memory"); \
    }
/// A block input's Swish from its int16 codes (offset = code - start) through a direct table with
/// output zero 0, no offsets pass: 12 instructions an element (the end by pointer: the codes
/// are the block tensor, no room for an end marker) instead of the gather's 6 and the table's 9.
#define CODES_LOOP(REQUANT) \
    "1:\n\t" \
    "ldrsh %[t0], [%[x]]\n\t" \
    "sub %[t0], %[t0], %[start]\n\t" \
    "cmp %[t0], %[limit]\n\t" \
    "bhs 2f\n\t" \
    SWISH_INTERP_0 \
    REQUANT \
    "ssat %[t1], #8, %[t1]\n\t" \
    "strb %[t1], [%[o]]\n\t" \
    "add %[o], %[o], %[ostep]\n\t" \
    "add %[x], %[x], %[xstep]\n\t" \
    "cmp %[x], %[end]\n\t" \
    "bne 1b\n\t" \
    "2:\n\t"
#define CODES_INS(RS) [limit] "r"(st->limit), [knots] "r"(st->knots), [mul] "r"(st->mul), [term] "r"(st->term), [rs] "r"(RS), \
    [start] "r"(start), [ostep] "r"(stride), [xstep] "r"(2 * xstride), [end] "r"(end)
int32_t clef_swish_codes_s8(const int16_t *x, int32_t xstride, int32_t n, int32_t start, const clef_swish_stage *st,
                            int8_t *out, int32_t stride) {
    if (n <= 0) return 0;
    const int16_t *p = x, *end = x + n * xstride;
    int8_t *o = out;
    int32_t t0, t1;
    if (st->pre != 0) {
        __asm__ volatile(CODES_LOOP(SWISH_RQ_PRE) : [x] "+r"(p), [o] "+r"(o), [t0] "=&r"(t0), [t1] "=&r"(t1)
                         : CODES_INS(st->pre) : "cc", "memory");
    } else {
        __asm__ volatile(CODES_LOOP(SWISH_RQ) : [x] "+r"(p), [o] "+r"(o), [t0] "=&r"(t0), [t1] "=&r"(t1)
                         : CODES_INS(st->rshift) : "cc", "memory");
    }
    return (int32_t)(p - x) / xstride;
}

/// The same for the table alone (the stem, int16 values): 8 instructions an element instead of 3.5 + 6.
/// The fused entries' frame: decline (-1) without an end marker or for a table they do not
/// take, else the marker at u[n] during the loop; then the index the loop stopped at.
#define SUMS_ENTER \
    const int32_t sentinel = sums_sentinel(st, mul1, term1, rs1); \
    if (sentinel == 0 || st->shift != 0 || st->half != 0) return -1; \
    int32_t saved = u[n], *p = u, t0, t1; \
    char *o = (char *)out; \
    u[n] = sentinel;
#define SUMS_LEAVE \
    u[n] = saved; \
    return (int32_t)(p - u) - 1;
int32_t clef_table_sums_s16(int32_t *u, int32_t n, const clef_swish_stage *st, int32_t mul1, int32_t term1, int32_t rs1,
                            int16_t *out, int32_t stride) {
    SUMS_ENTER
    const int32_t step = 2 * stride;
    __asm__ volatile(SUMS_LOOP("", "strh %[t1], [%[o]]\n\t" "add %[o], %[o], %[step]\n\t") : SUMS_OUTS
                     : [limit] "r"(st->limit), [knots] "r"(st->knots), [mul1] "r"(mul1), [term1] "r"(term1), [rs1] "r"(rs1),
                       [step] "r"(step)
                     : "cc", "memory");
    SUMS_LEAVE
}
int32_t clef_swish_sums_s8(int32_t *u, int32_t n, const clef_swish_stage *st, int32_t mul1, int32_t term1, int32_t rs1,
                           int8_t *out, int32_t stride) {
    SUMS_ENTER
    if (st->pre != 0) { SUMS_LOOPS(SWISH_RQ_PRE, st->pre) } else { SUMS_LOOPS(SWISH_RQ, st->rshift) }
    SUMS_LEAVE
}

/// The table loop without a requantisation (its registers unused): the value itself, int16.
#define TABLE_STORE "strh %[t1], [%[o]]\n\t" "add %[o], %[o], %[step]\n\t"
#define TABLE_K(S) __asm__ volatile(SWISH_LOOP_K(S, "", TABLE_STORE) : SWISH_OUTS \
    : [limit] "r"(st->limit), [knots] "r"(st->knots), [knots1] "r"(st->knots + 1), [half] "r"(st->half), [step] "r"(step) \
    : "cc", "memory");
int32_t clef_table_s16(int32_t *u, int32_t n, const clef_swish_stage *st, int16_t *out, int32_t stride) {
    int32_t saved = u[n], *p = u, t0, t1, t2;
    char *o = (char *)out;
    const int32_t step = 2 * stride;
    u[n] = -1;
    if (st->shift == 0 && st->half == 0) {
        __asm__ volatile(SWISH_LOOP_WITH(SWISH_INTERP_0, "", TABLE_STORE) : SWISH_OUTS
                         : [limit] "r"(st->limit), [knots] "r"(st->knots), [step] "r"(step) : "cc", "memory");
    } else switch (st->shift) {
    case 4: TABLE_K(4) break;
    case 5: TABLE_K(5) break;
    case 6: TABLE_K(6) break;
    case 7: TABLE_K(7) break;
    case 8: TABLE_K(8) break;
    default:
        __asm__ volatile(SWISH_LOOP("", TABLE_STORE)
                         : SWISH_OUTS
                         : [limit] "r"(st->limit), [shift] "r"(st->shift), [mask] "r"(st->mask), [knots] "r"(st->knots),
                           [half] "r"(st->half), [step] "r"(step)
                         : "cc", "memory");
    }
    u[n] = saved;
    return (int32_t)(p - u) - 1;
}
#else
/// d * f + half wrapping in 32 bits, as the Swift table and the assembly's MLA do (a table shift
/// above 15 can take it past int32; never for the Swish stages, whose shifts are at most 13).
static inline int32_t interpolation(int32_t d, int32_t f, int32_t half) {
    return (int32_t)((uint32_t)d * (uint32_t)f + (uint32_t)half);
}
#define SWISH_ENTRY(name, T, LO, HI) \
int32_t name(int32_t *u, int32_t n, const clef_swish_stage *st, T *out, int32_t stride) { \
    const int16_t *knots = st->knots; \
    const uint32_t limit = st->limit; \
    const int32_t shift = st->shift, mask = st->mask, half = st->half, mul = st->mul, term = st->term, rs = st->rshift; \
    const int32_t pre = st->pre; \
    for (int32_t i = 0; i < n; i++) { \
        const int32_t q = u[i]; \
        if ((uint32_t)q >= limit) return i; \
        const int16_t *k = knots + (q >> shift); \
        const int32_t a = k[0], v = a + (interpolation(k[1] - a, q & mask, half) >> shift); \
        const int32_t c = mul_hi_add((int32_t)((uint32_t)v << pre), mul, term) >> rs; \
        out[i * stride] = (T)(c < LO ? LO : c > HI ? HI : c); \
    } \
    return n; \
}
SWISH_ENTRY(clef_swish_s8, int8_t, -128, 127)
SWISH_ENTRY(clef_swish_s16, int16_t, -32768, 32767)

/// The int8 code of a direct table's offset q (inside it): its value, requantised and saturated.
static inline int8_t direct_code8(const clef_swish_stage *st, int32_t q) {
    const int32_t c = mul_hi_add((int32_t)((uint32_t)st->knots[q] << st->pre), st->mul, st->term) >> st->rshift;
    return (int8_t)(c < -128 ? -128 : c > 127 ? 127 : c);
}
int32_t clef_swish_codes_s8(const int16_t *x, int32_t xstride, int32_t n, int32_t start, const clef_swish_stage *st,
                            int8_t *out, int32_t stride) {
    for (int32_t i = 0; i < n; i++) {
        const int32_t q = x[i * xstride] - start;
        if ((uint32_t)q >= st->limit) return i;
        out[i * stride] = direct_code8(st, q);
    }
    return n;
}
/// The portable fused loops: the sums' offsets, VALUE(q) stored while inside the table.
#define SUMS_C(VALUE) \
    if (sums_sentinel(st, mul1, term1, rs1) == 0 || st->shift != 0 || st->half != 0) return -1; \
    for (int32_t i = 0; i < n; i++) { \
        const int32_t q = mul_hi_add(u[i], mul1, term1) >> rs1; \
        if ((uint32_t)q >= st->limit) { u[i] = q; return i; } \
        out[i * stride] = VALUE; \
    } \
    return n;
int32_t clef_table_sums_s16(int32_t *u, int32_t n, const clef_swish_stage *st, int32_t mul1, int32_t term1, int32_t rs1,
                            int16_t *out, int32_t stride) {
    SUMS_C(st->knots[q])
}
int32_t clef_swish_sums_s8(int32_t *u, int32_t n, const clef_swish_stage *st, int32_t mul1, int32_t term1, int32_t rs1,
                           int8_t *out, int32_t stride) {
    SUMS_C(direct_code8(st, q))
}

int32_t clef_table_s16(int32_t *u, int32_t n, const clef_swish_stage *st, int16_t *out, int32_t stride) {
    const int16_t *knots = st->knots;
    const int32_t shift = st->shift, mask = st->mask, half = st->half;
    for (int32_t i = 0; i < n; i++) {
        const int32_t q = u[i];
        if ((uint32_t)q >= st->limit) return i;
        const int16_t *k = knots + (q >> shift);
        out[i * stride] = (int16_t)(k[0] + (interpolation(k[1] - k[0], q & mask, half) >> shift));
    }
    return n;
}
#endif

void clef_offsets_s16(const int16_t *x, int32_t stride, int32_t n, int32_t start, int32_t *u) {
    for (int32_t i = 0; i < n; i++) u[i] = x[i * stride] - start;
}

void clef_offsets_s8(const int8_t *x, int32_t stride, int32_t n, int32_t base, int32_t step, int32_t knee, int32_t shift,
                     int32_t *u) {
#ifdef CLEF_STAGE_ASM
    // 9 instructions a code within the knee (GCC's loop: 14); beyond it, E(c) = knee + ((c - knee)
    // << shift) for c > knee and -knee + ((c + knee) << shift) for c < -knee (the same
    // c +- ((a - knee) << shift) - (a - knee) as below), out of the loop's way.
    if (n > 0) {
        const int32_t *const end = u + n;
        int32_t c, t;
        __asm__ volatile("1:\n\t"
                         "ldrsb %[c], [%[x]]\n\t"
                         "add %[x], %[x], %[stride]\n\t"
                         "add %[t], %[c], %[knee]\n\t"
                         "cmp %[t], %[knee], lsl #1\n\t"
                         "bhi 3f\n\t"
                         "2:\n\t"
                         "mla %[t], %[c], %[step], %[base]\n\t"
                         "str %[t], [%[u]], #4\n\t"
                         "cmp %[u], %[end]\n\t"
                         "bne 1b\n\t"
                         "b 4f\n\t"
                         "3:\n\t"
                         "cmp %[c], #0\n\t"
                         "ite gt\n\t"
                         "subgt %[c], %[c], %[knee]\n\t"
                         "addle %[c], %[c], %[knee]\n\t"
                         "lsl.w %[c], %[c], %[shift]\n\t"
                         "ite gt\n\t"
                         "addgt %[c], %[c], %[knee]\n\t"
                         "suble %[c], %[c], %[knee]\n\t"
                         "b 2b\n\t"
                         "4:\n\t"
                         : [x] "+&r"(x), [u] "+&r"(u), [c] "=&r"(c), [t] "=&r"(t)
                         : [end] "r"(end), [stride] "r"(stride), [knee] "r"(knee), [shift] "r"(shift), [step] "r"(step),
                           [base] "r"(base)
                         : "cc", "memory");
    }
    return;
#endif
    for (int32_t i = 0; i < n; i++) {
        int32_t c = x[i * stride], a = c < 0 ? -c : c;
        if (a > knee) {
            const int32_t extra = ((a - knee) << shift) - (a - knee);
            c = c < 0 ? c - extra : c + extra;
        }
        u[i] = (int32_t)((uint32_t)base + (uint32_t)step * (uint32_t)c);
    }
}

void clef_offsets_grid_s16(const int16_t *x, int32_t stride, int32_t n, int32_t zero, int32_t pre, int32_t mul, int32_t add,
                           int32_t shift, int32_t base, int32_t *u) {
    for (int32_t i = 0; i < n; i++) {
        const int32_t v = (int32_t)((uint32_t)(x[i * stride] - zero) << pre);
        u[i] = (int32_t)((uint32_t)(mul_hi_add(v, mul, add) >> shift) + (uint32_t)base);
    }
}

/// The residual's last steps, from the pooled code's pre-shifted shortcut offset s: the output's
/// requantised value u (`clef_residual_stage`).
static inline int32_t residual_value(int32_t s, int32_t g, const clef_residual_stage *st) {
    const int32_t d = mul_hi_add(s, st->imul, st->iadd) >> 1;
    return mul_hi_add((int32_t)((uint32_t)g + (uint32_t)d), st->omul, st->oterm) >> st->oshift;
}
/// |v| <= knee as one unsigned compare (the assembly's ADD, CMP, BHI).
static inline int32_t within(int32_t v, int32_t knee) { return (uint32_t)v + (uint32_t)knee <= 2u * (uint32_t)knee; }

/// The portable loop of both input types (`wide`: int16 codes, else int8 ones).
#define RESIDUAL_C(T, WIDE) \
    for (; j < n; j++) { \
        const T *p = x + j * pool * cin; \
        int32_t v = p[0]; \
        for (int32_t k = 1; k < pool; k++) v = p[k * cin] > v ? p[k * cin] : v; \
        int32_t s; \
        if (WIDE) { \
            s = (int32_t)((uint32_t)(v - st->zero) << st->pre); \
        } else { \
            if (!within(v, st->knee)) return j; \
            s = (int32_t)((uint32_t)v * (uint32_t)st->step + (uint32_t)st->zero); \
        } \
        const int32_t u = residual_value(s, g[j], st); \
        if (!within(u, st->knee)) return j; \
        out[j] = (int8_t)u; \
    } \
    return n;

#ifdef CLEF_STAGE_ASM
/// The block input's code of one output step into a: the max of two codes CIN bytes apart (pool
/// 2) or the code itself (pool 1), p stepped to the next output's (STEP bytes; post-indexed where
/// the offset fits the instruction's 8 bits). LD: "sh" or "sb".
#define RES_POOL2(LD, CIN, STEP) \
    "ldr" LD " %[a], [%[p], #" #CIN "]\n\t" \
    "ldr" LD " %[b], [%[p]], #" #STEP "\n\t" \
    "cmp %[a], %[b]\n\t" \
    "it lt\n\t" \
    "movlt %[a], %[b]\n\t"
#define RES_POOL2_FAR(LD, CIN, STEP) \
    "ldr" LD " %[a], [%[p], #" #CIN "]\n\t" \
    "ldr" LD " %[b], [%[p]]\n\t" \
    "add %[p], %[p], #" #STEP "\n\t" \
    "cmp %[a], %[b]\n\t" \
    "it lt\n\t" \
    "movlt %[a], %[b]\n\t"
#define RES_POOL1(LD, CIN, STEP) "ldr" LD " %[a], [%[p]], #" #STEP "\n\t"
/// The pre-shifted shortcut offset: int16 codes less their zero point, shifted; int8 codes
/// within the knee (else stop) times n_in << pre plus (m_in n_in) << pre.
#define RES_WIDE "sub %[a], %[a], %[zero]\n\t" "lsl %[a], %[a], %[k]\n\t"
#define RES_NARROW \
    "add %[b], %[a], %[knee]\n\t" \
    "cmp %[b], %[knee], lsl #1\n\t" \
    "bhi 2f\n\t" \
    "mla %[a], %[a], %[k], %[zero]\n\t"
/// One output: the shortcut's requantisation (its final shift of 1 folded into the add of g),
/// the output's, the knee test, the store; a loop to `end`.
#define RES_LOOP(POOL, SHORTCUT) \
    "1:\n\t" \
    POOL \
    SHORTCUT \
    "smmla %[a], %[a], %[imul], %[iadd]\n\t" \
    "ldrsh %[b], [%[g]], #2\n\t" \
    "add %[a], %[b], %[a], asr #1\n\t" \
    "smmla %[a], %[a], %[omul], %[oterm]\n\t" \
    "asr %[a], %[a], %[oshift]\n\t" \
    "add %[b], %[a], %[knee]\n\t" \
    "cmp %[b], %[knee], lsl #1\n\t" \
    "bhi 2f\n\t" \
    "strb %[a], [%[o]], #1\n\t" \
    "cmp %[o], %[end]\n\t" \
    "bne 1b\n\t" \
    "2:\n\t"
/// 14 registers: the walking pointers, the end, 9 constants (k: the pre-shift for int16 codes,
/// the step for int8 ones), two temporaries.
#define RES_ASM(POOL, SHORTCUT, K) \
    __asm__ volatile(RES_LOOP(POOL, SHORTCUT) \
                     : [p] "+&r"(p), [g] "+&r"(gp), [o] "+&r"(o), [a] "=&r"(a), [b] "=&r"(b) \
                     : [end] "r"(end), [zero] "r"(st->zero), [k] "r"(K), [imul] "r"(st->imul), [iadd] "r"(st->iadd), \
                       [omul] "r"(st->omul), [oterm] "r"(st->oterm), [oshift] "r"(st->oshift), [knee] "r"(st->knee) \
                     : "cc", "memory")
#endif

#ifdef CLEF_STAGE_ASM
/// The assembly for cin 32 and 64 and pools 1 and 2 (the four POOL forms, in that order).
#define RESIDUAL_TRY_ASM(SHORTCUT, K, POOL1_32, POOL1_64, POOL2_32, POOL2_64) \
    if (n > 0 && (cin == 32 || cin == 64) && (pool == 1 || pool == 2)) { \
        const char *p = (const char *)x; \
        const int16_t *gp = g; \
        int8_t *o = out, *const end = out + n; \
        int32_t a, b; \
        if (pool == 1 && cin == 32) RES_ASM(POOL1_32, SHORTCUT, K); \
        else if (pool == 1) RES_ASM(POOL1_64, SHORTCUT, K); \
        else if (cin == 32) RES_ASM(POOL2_32, SHORTCUT, K); \
        else RES_ASM(POOL2_64, SHORTCUT, K); \
        return (int32_t)(o - out); \
    }
#else
#define RESIDUAL_TRY_ASM(SHORTCUT, K, POOL1_32, POOL1_64, POOL2_32, POOL2_64)
#endif
#define RESIDUAL_ENTRY(name, T, WIDE, SHORTCUT, K, POOL1_32, POOL1_64, POOL2_32, POOL2_64) \
int32_t name(const T *x, int32_t cin, int32_t pool, const int16_t *g, int32_t n, const clef_residual_stage *st, \
             int8_t *out) { \
    int32_t j = 0; \
    RESIDUAL_TRY_ASM(SHORTCUT, K, POOL1_32, POOL1_64, POOL2_32, POOL2_64) \
    RESIDUAL_C(T, WIDE) \
}
/// (int16 codes: 2 bytes each, block 0's stem columns; int8: block 1's companded inputs.)
RESIDUAL_ENTRY(clef_residual_s16, int16_t, 1, RES_WIDE, st->pre, RES_POOL1("sh", 64, 64), RES_POOL1("sh", 128, 128),
               RES_POOL2("sh", 64, 128), RES_POOL2_FAR("sh", 128, 256))
RESIDUAL_ENTRY(clef_residual_s8, int8_t, 0, RES_NARROW, st->step, RES_POOL1("sb", 32, 32), RES_POOL1("sb", 64, 64),
               RES_POOL2("sb", 32, 64), RES_POOL2("sb", 64, 128))

/// The int16 outputs' loop: the shortcut's pre-shifted offset s as in RES_LOOP (int8 codes within
/// the knee), then g[j] = sat16(g[j] + ((hi32(s * imul) + iadd) >> 1)) in place (the output zero
/// point folded into iadd).
#define RES_LOOP16(POOL) \
    "1:\n\t" \
    POOL \
    RES_NARROW \
    "smmla %[a], %[a], %[imul], %[iadd]\n\t" \
    "ldrsh %[b], [%[o]]\n\t" \
    "add %[a], %[b], %[a], asr #1\n\t" \
    "ssat %[a], #16, %[a]\n\t" \
    "strh %[a], [%[o]], #2\n\t" \
    "cmp %[o], %[end]\n\t" \
    "bne 1b\n\t" \
    "2:\n\t"
#define RES_ASM16(POOL) \
    __asm__ volatile(RES_LOOP16(POOL) \
                     : [p] "+&r"(p), [o] "+&r"(o), [a] "=&r"(a), [b] "=&r"(b) \
                     : [end] "r"(end), [zero] "r"(st->zero), [k] "r"(st->step), [imul] "r"(st->imul), [iadd] "r"(st->iadd), \
                       [knee] "r"(st->knee) \
                     : "cc", "memory")

int32_t clef_residual_s8_s16(const int8_t *x, int32_t cin, int32_t pool, int16_t *g, int32_t n, const clef_residual_stage *st) {
    int32_t j = 0;
#ifdef CLEF_STAGE_ASM
    if (n > 0 && (cin == 32 || cin == 64) && (pool == 1 || pool == 2)) {
        const char *p = (const char *)x;
        int16_t *o = g, *const end = g + n;
        int32_t a, b;
        if (pool == 1 && cin == 32) RES_ASM16(RES_POOL1("sb", 32, 32));
        else if (pool == 1) RES_ASM16(RES_POOL1("sb", 64, 64));
        else if (cin == 32) RES_ASM16(RES_POOL2("sb", 32, 64));
        else RES_ASM16(RES_POOL2("sb", 64, 128));
        return (int32_t)(o - g);
    }
#endif
    for (; j < n; j++) {
        const int8_t *p = x + j * pool * cin;
        int32_t v = p[0];
        for (int32_t k = 1; k < pool; k++) v = p[k * cin] > v ? p[k * cin] : v;
        if (!within(v, st->knee)) return j;
        const int32_t s = (int32_t)((uint32_t)v * (uint32_t)st->step + (uint32_t)st->zero);
        g[j] = sat16(g[j] + (mul_hi_add(s, st->imul, st->iadd) >> 1));
    }
    return n;
}

int32_t clef_residual_none(const int16_t *g, int32_t n, const clef_residual_stage *st, int8_t *out) {
#ifdef CLEF_STAGE_ASM
    if (n > 0) {
        const int16_t *gp = g;
        int8_t *o = out, *const end = out + n;
        int32_t a, b;
        __asm__ volatile("1:\n\t"
                         "ldrsh %[a], [%[g]], #2\n\t"
                         "smmla %[a], %[a], %[omul], %[oterm]\n\t"
                         "asr %[a], %[a], %[oshift]\n\t"
                         "add %[b], %[a], %[knee]\n\t"
                         "cmp %[b], %[knee], lsl #1\n\t"
                         "bhi 2f\n\t"
                         "strb %[a], [%[o]], #1\n\t"
                         "cmp %[o], %[end]\n\t"
                         "bne 1b\n\t"
                         "2:\n\t"
                         : [g] "+&r"(gp), [o] "+&r"(o), [a] "=&r"(a), [b] "=&r"(b)
                         : [end] "r"(end), [omul] "r"(st->omul), [oterm] "r"(st->oterm), [oshift] "r"(st->oshift),
                           [knee] "r"(st->knee)
                         : "cc", "memory");
        return (int32_t)(o - out);
    }
#endif
    for (int32_t j = 0; j < n; j++) {
        const int32_t u = mul_hi_add(g[j], st->omul, st->oterm) >> st->oshift;
        if (!within(u, st->knee)) return j;
        out[j] = (int8_t)u;
    }
    return n;
}


#ifdef CLEF_STAGE_ASM
/// One step's channels with a shortcut in the pre-shift form (final shift 1, folded into the
/// add): 11 instructions a channel (pool 1), 15 (pool 2: the max by CMP + IT).
#define RES_T16_POOL1 "ldrsh %[v], [%[xp]], #2\n\t"
#define RES_T16_POOL2 "ldrsh %[g], [%[xp], %[cin2]]\n\t" "ldrsh %[v], [%[xp]], #2\n\t" "cmp %[g], %[v]\n\t" \
    "it gt\n\t" "movgt %[v], %[g]\n\t"
/// The identity shortcut (multiplier exactly 1, `mul` 0 in the stage): g + v + (zy - zx), 9
/// instructions a channel (pool 1), 13 (pool 2).
#define RES_T16_ID_LOOP(LOAD) \
    "1:\n\t" \
    LOAD \
    "ldrsh %[g], [%[gp]]\n\t" \
    "add %[gp], %[gp], %[hs2]\n\t" \
    "add %[g], %[g], %[v]\n\t" \
    "add %[g], %[g], %[dz]\n\t" \
    "ssat %[g], #16, %[g]\n\t" \
    "strh %[g], [%[bp]], #2\n\t" \
    "cmp %[bp], %[bend]\n\t" \
    "bne 1b\n\t"
#define RES_T16_LOOP(LOAD) \
    "1:\n\t" \
    LOAD \
    "ldrsh %[g], [%[gp]]\n\t" \
    "add %[gp], %[gp], %[hs2]\n\t" \
    "sub %[v], %[v], %[zx]\n\t" \
    "lsl %[v], %[v], %[pre]\n\t" \
    "smmla %[v], %[v], %[mul], %[term]\n\t" \
    "add %[g], %[g], %[v], asr #1\n\t" \
    "ssat %[g], #16, %[g]\n\t" \
    "strh %[g], [%[bp]], #2\n\t" \
    "cmp %[bp], %[bend]\n\t" \
    "bne 1b\n\t"
#endif

/// The channels without a shortcut: *b++ = sat16(*g + zy), g stepping hs, count times (on Arm
/// by SSAT: GCC's compares and branches took 11 instructions a channel).
static inline void padded16(const int16_t **gp, int32_t hs, int32_t zy, int32_t count, int16_t **bp) {
    const int16_t *g = *gp;
    int16_t *b = *bp;
#ifdef CLEF_STAGE_ASM
    if (count > 0) {
        const int16_t *end = b + count;
        const int32_t hs2 = 2 * hs;
        int32_t v;
        __asm__ volatile("1:\n\t"
                         "ldrsh %[v], [%[g]]\n\t"
                         "add %[g], %[g], %[hs2]\n\t"
                         "add %[v], %[v], %[zy]\n\t"
                         "ssat %[v], #16, %[v]\n\t"
                         "strh %[v], [%[b]], #2\n\t"
                         "cmp %[b], %[end]\n\t"
                         "bne 1b\n\t"
                         : [g] "+&r"(g), [b] "+&r"(b), [v] "=&r"(v) : [end] "r"(end), [hs2] "r"(hs2), [zy] "r"(zy) : "cc", "memory");
    }
#else
    for (int32_t c = 0; c < count; c++) { *b++ = sat16(*g + zy); g += hs; }
#endif
    *gp = g;
    *bp = b;
}

/// One step's channels with a shortcut, portably (SHIFT a constant where it is 1; `mul` 0: the
/// identity).
#define RESIDUAL_T16(POOL, SHIFT) \
    for (int32_t c = 0; c < cin; c++) { \
        int32_t v = xp[c]; \
        if (POOL) { const int32_t w = xp[c + cin]; v = w > v ? w : v; } \
        const int32_t d = mul == 0 ? v - zx + zy : mul_hi_add((int32_t)((uint32_t)(v - zx) << pre), mul, term) >> (SHIFT); \
        b[c] = sat16(*g + d); \
        g += hs; \
    }

#ifdef CLEF_STAGE_ASM
/// One step's channels with a shortcut in assembly (the identity, or the pre-shift form whose
/// final shift is 1), out of line so that its 12 registers do not compete with the step loop's
/// (GCC for the Cortex-M7 found the operands impossible to place inline).
__attribute__((noinline))
static void t16_shortcut(const int16_t *xp, const int16_t *g, int16_t *b, int32_t cin, int32_t pool, int32_t hs,
                         const clef_residual16_stage *st) {
    int32_t v, gv;
    const int16_t *bend = b + cin;
    const int32_t hs2 = 2 * hs, cin2 = 2 * cin;
    if (st->mul == 0) {
        const int32_t dz = st->zy - st->zx;
        if (pool == 2) {
            __asm__ volatile(RES_T16_ID_LOOP(RES_T16_POOL2)
                             : [xp] "+r"(xp), [gp] "+r"(g), [bp] "+r"(b), [v] "=&r"(v), [g] "=&r"(gv)
                             : [bend] "r"(bend), [hs2] "r"(hs2), [cin2] "r"(cin2), [dz] "r"(dz)
                             : "cc", "memory");
        } else {
            __asm__ volatile(RES_T16_ID_LOOP(RES_T16_POOL1)
                             : [xp] "+r"(xp), [gp] "+r"(g), [bp] "+r"(b), [v] "=&r"(v), [g] "=&r"(gv)
                             : [bend] "r"(bend), [hs2] "r"(hs2), [dz] "r"(dz)
                             : "cc", "memory");
        }
        return;
    }
    const int32_t zx = st->zx, pre = st->pre, mul = st->mul, term = st->term;
    if (pool == 2) {
        __asm__ volatile(RES_T16_LOOP(RES_T16_POOL2)
                         : [xp] "+r"(xp), [gp] "+r"(g), [bp] "+r"(b), [v] "=&r"(v), [g] "=&r"(gv)
                         : [bend] "r"(bend), [hs2] "r"(hs2), [cin2] "r"(cin2), [zx] "r"(zx), [pre] "r"(pre), [mul] "r"(mul),
                           [term] "r"(term)
                         : "cc", "memory");
    } else {
        __asm__ volatile(RES_T16_LOOP(RES_T16_POOL1)
                         : [xp] "+r"(xp), [gp] "+r"(g), [bp] "+r"(b), [v] "=&r"(v), [g] "=&r"(gv)
                         : [bend] "r"(bend), [hs2] "r"(hs2), [zx] "r"(zx), [pre] "r"(pre), [mul] "r"(mul), [term] "r"(term)
                         : "cc", "memory");
    }
}
#endif

void clef_residual_t16(const int16_t *h, int32_t hs, const int16_t *x, int32_t cin, int32_t pool, int32_t n, int32_t cout,
                       int32_t offset, const clef_residual16_stage *st, int16_t *buf, int16_t *y) {
    const int32_t zx = st->zx, pre = st->pre, mul = st->mul, term = st->term, shift = st->shift, zy = st->zy;
    for (int32_t j = 0; j < n; j++) {
        const int16_t *g = h + j, *xp = x + j * pool * cin;
        int16_t *b = buf;
        padded16(&g, hs, zy, offset, &b);
#ifdef CLEF_STAGE_ASM
        if ((mul == 0 || shift == 1) && cin > 0) {
            t16_shortcut(xp, g, b, cin, pool, hs, st);
            g += cin * hs;
            b += cin;
        } else
#endif
        if (pool == 2) {
            if (shift == 1) { RESIDUAL_T16(1, 1) } else { RESIDUAL_T16(1, shift) }
            b += cin;
        } else {
            if (shift == 1) { RESIDUAL_T16(0, 1) } else { RESIDUAL_T16(0, shift) }
            b += cin;
        }
        padded16(&g, hs, zy, cout - offset - cin, &b);
        // Four words at a time where both are aligned (cout a multiple of 8: every model).
        int16_t *yj = y + j * cout;
        if (((uintptr_t)yj & 3) == 0 && ((uintptr_t)buf & 3) == 0 && (cout & 7) == 0) {
            const int32_t *s = (const int32_t *)buf;
            int32_t *d = (int32_t *)yj;
#ifdef CLEF_STAGE_ASM
            const int32_t *end = s + cout / 2;
            int32_t w0, w1, w2, w3;
            __asm__ volatile("1:\n\t"
                             "ldrd %[w0], %[w1], [%[s]], #16\n\t"
                             "ldrd %[w2], %[w3], [%[s], #-8]\n\t"
                             "strd %[w0], %[w1], [%[d]], #16\n\t"
                             "strd %[w2], %[w3], [%[d], #-8]\n\t"
                             "cmp %[s], %[end]\n\t"
                             "bne 1b\n\t"
                             : [s] "+&r"(s), [d] "+&r"(d), [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3)
                             : [end] "r"(end) : "cc", "memory");
#else
            for (int32_t i = 0; i < cout / 2; i++) d[i] = s[i];
#endif
        } else {
            for (int32_t c = 0; c < cout; c++) yj[c] = buf[c];
        }
    }
}

void clef_lut_s8(const int8_t *x, int32_t steps, int32_t cin, const int8_t *lut, int8_t *out) {
    const int8_t *const mid = lut + 128;
    int32_t j = 0;
#ifdef CLEF_STAGE_ASM
    if ((cin & 3) == 0 && cin > 0 && (((uintptr_t)x | (uintptr_t)out) & 3) == 0) {
        // Four channels a word: SXTAB adds a code to its channel's table (the byte's own
        // rotation), LDRB reads the entry at a constant offset, three ORRs pack the word.
        for (; j < steps; j++) {
            const int8_t *l = mid;
            const uint32_t *xw = (const uint32_t *)(x + j * cin), *end = xw + cin / 4;
            uint32_t *ow = (uint32_t *)(out + j * cin);
            uint32_t w, a, b, c, d;
            __asm__ volatile("1:\n\t"
                             "ldr %[w], [%[xw]], #4\n\t"
                             "sxtab %[a], %[l], %[w]\n\t"
                             "sxtab %[b], %[l], %[w], ror #8\n\t"
                             "sxtab %[c], %[l], %[w], ror #16\n\t"
                             "sxtab %[d], %[l], %[w], ror #24\n\t"
                             "ldrb %[a], [%[a]]\n\t"
                             "ldrb %[b], [%[b], #256]\n\t"
                             "ldrb %[c], [%[c], #512]\n\t"
                             "ldrb %[d], [%[d], #768]\n\t"
                             "orr %[a], %[a], %[b], lsl #8\n\t"
                             "orr %[a], %[a], %[c], lsl #16\n\t"
                             "orr %[a], %[a], %[d], lsl #24\n\t"
                             "str %[a], [%[ow]], #4\n\t"
                             "add %[l], %[l], #1024\n\t"
                             "cmp %[xw], %[end]\n\t"
                             "bne 1b\n\t"
                             : [xw] "+&r"(xw), [ow] "+&r"(ow), [l] "+&r"(l), [w] "=&r"(w), [a] "=&r"(a), [b] "=&r"(b),
                               [c] "=&r"(c), [d] "=&r"(d)
                             : [end] "r"(end)
                             : "cc", "memory");
        }
        return;
    }
#endif
    for (; j < steps; j++) {
        const int8_t *l = mid;
        for (int32_t c = 0; c < cin; c++, l += 256) out[j * cin + c] = l[x[j * cin + c]];
    }
}
