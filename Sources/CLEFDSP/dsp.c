// See include/clef_dsp.h. The DSP paths take 4 terms per step: one 32-bit load of 4 int8 inputs,
// sign-extended into the pairs (x0, x2) and (x1, x3) (or two loads of int16 inputs, already
// pairs), against the weights paired the same way (sign-extended once per call), two SMLADs. The
// tile is 2 outputs x 2 channels so that every loaded word is used twice.
#include "clef_dsp.h"
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define CLEF_DSP 1
#endif

static inline int32_t load32(const void *p) { int32_t v; memcpy(&v, p, 4); return v; }

/// The outputs a dot2 kernel's tile loop left (all of them where there is none). Inputs of type T.
#define DOT2_REST(T) \
    for (; i < count; i++) { \
        const T *xi = x + i * xs; \
        int32_t a = acc0[i], b = acc1[i]; \
        for (int32_t j = 0; j < n; j++) { a += w0[j] * xi[j]; b += w1[j] * xi[j]; } \
        acc0[i] = a; acc1[i] = b; \
    }

/// Cores without the DSP extension (RV32, Cortex-M0/M33 without DSP, x86 without AVX2): 4 outputs
/// x 2 channels per pass (RV32 has the registers: 8 sums, 6 pointers), so a tap's 6 loads feed 8
/// multiply-adds (the 2 x 2 tile below: 4 loads for 4), pointers walking, unrolled by 4
/// (immediate offsets instead of pointer updates); the last outputs by the 2 x 2 tile. Exact like
/// every path: the int32 sums are the same whatever the order of the additions.
#define DOT2_QUADS(T, TW) \
    for (; i + 4 <= count; i += 4) { \
        const T *pa = x + i * xs, *pb = pa + xs, *pc = pb + xs, *pd = pc + xs; \
        const TW *p0 = w0, *p1 = w1; \
        int32_t a0 = acc0[i], a1 = acc0[i + 1], a2 = acc0[i + 2], a3 = acc0[i + 3]; \
        int32_t b0 = acc1[i], b1 = acc1[i + 1], b2 = acc1[i + 2], b3 = acc1[i + 3]; \
        _Pragma("GCC unroll 4") \
        for (int32_t j = n; j > 0; j--) { \
            int32_t xa = *pa++, xb = *pb++, xc = *pc++, xd = *pd++, u = *p0++, v = *p1++; \
            a0 += u * xa; a1 += u * xb; a2 += u * xc; a3 += u * xd; \
            b0 += v * xa; b1 += v * xb; b2 += v * xc; b3 += v * xd; \
        } \
        acc0[i] = a0; acc0[i + 1] = a1; acc0[i + 2] = a2; acc0[i + 3] = a3; \
        acc1[i] = b0; acc1[i + 1] = b1; acc1[i + 2] = b2; acc1[i + 3] = b3; \
    }
#define DOT2_PAIRS(T, TW) \
    for (; i + 2 <= count; i += 2) { \
        const T *pa = x + i * xs, *pb = pa + xs; \
        const TW *p0 = w0, *p1 = w1; \
        int32_t a0 = acc0[i], a1 = acc0[i + 1], b0 = acc1[i], b1 = acc1[i + 1]; \
        _Pragma("GCC unroll 4") \
        for (int32_t j = n; j > 0; j--) { \
            int32_t xa = *pa++, xb = *pb++, u = *p0++, v = *p1++; \
            a0 += u * xa; a1 += u * xb; b0 += v * xa; b1 += v * xb; \
        } \
        acc0[i] = a0; acc0[i + 1] = a1; acc1[i] = b0; acc1[i + 1] = b1; \
    }

#ifdef CLEF_DSP
/// 16 int16 taps from xi against 8 weight pairs held in K##0 ... K##7, accumulated by OP (SMLAD
/// into int32 or SMLALD into int64).
#define SUM16_S16(OP, a, xi, K) do { \
    a = OP(load32(xi), K##0, a); a = OP(load32((xi) + 2), K##1, a); \
    a = OP(load32((xi) + 4), K##2, a); a = OP(load32((xi) + 6), K##3, a); \
    a = OP(load32((xi) + 8), K##4, a); a = OP(load32((xi) + 10), K##5, a); \
    a = OP(load32((xi) + 12), K##6, a); a = OP(load32((xi) + 14), K##7, a); } while (0)
/// SXTB16 with its built-in rotate (GCC's ACLE has no intrinsic for the rotated form and does not
/// fold a separate ROR into it).
static inline int32_t sxtb16_ror8(int32_t v) { int32_t r; __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v)); return r; }
/// Halfword packs (GCC does not form PKHBT / PKHTB from the C): a's low half with b's low half
/// above it, a's low half with b's high half, a's high half with b's high half below it.
static inline int32_t pkhbt16(int32_t a, int32_t b) { int32_t r; __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b)); return r; }
static inline int32_t pkhbt0(int32_t a, int32_t b) { int32_t r; __asm__("pkhbt %0, %1, %2" : "=r"(r) : "r"(a), "r"(b)); return r; }
static inline int32_t pkhtb16(int32_t a, int32_t b) { int32_t r; __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(a), "r"(b)); return r; }
#endif

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define CLEF_AVX2 1
/// The host (x86-64 with AVX2, checked at run time): 16 terms per step, int8 widened to int16,
/// VPMADDWD into eight int32 partial sums per output and channel; exact, like every path (the
/// int16 x int8 products and their pairwise sums fit VPMADDWD's int32 lanes).
__attribute__((target("avx2")))
static int32_t hsum8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}
#define LOAD16_S8(p) _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define LOAD16_S16(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
/// One AVX2 kernel per input type T (LOADX widens 16 of them to int16 lanes).
#define DOT2_AVX2(name, T, LOADX, TW, LOADW) \
__attribute__((target("avx2"))) \
static void name(const T *x, int32_t xs, const TW *w0, const TW *w1, int32_t n, \
                 int32_t *acc0, int32_t *acc1, int32_t count) { \
    const int32_t n16 = n & ~15; \
    for (int32_t i = 0; i < count; i++) { \
        const T *xi = x + i * xs; \
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256(); \
        for (int32_t j = 0; j < n16; j += 16) { \
            __m256i xv = LOADX(xi + j); \
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(xv, LOADW(w0 + j))); \
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(xv, LOADW(w1 + j))); \
        } \
        int32_t a = acc0[i] + hsum8(s0), b = acc1[i] + hsum8(s1); \
        for (int32_t j = n16; j < n; j++) { a += w0[j] * xi[j]; b += w1[j] * xi[j]; } \
        acc0[i] = a; acc1[i] = b; \
    } \
}
DOT2_AVX2(dot2_s8_avx2, int8_t, LOAD16_S8, int8_t, LOAD16_S8)
DOT2_AVX2(dot2_s16s8_avx2, int16_t, LOAD16_S16, int8_t, LOAD16_S8)
DOT2_AVX2(dot2_s16s16_avx2, int16_t, LOAD16_S16, int16_t, LOAD16_S16)
/// int16 x int16 into int64 (the stem): VPMADDWD pair sums are exact int32 when no weight is
/// -32768 (the engine rejects such blobs), then widened to int64 lanes before they are added.
__attribute__((target("avx2")))
static void dot_s16_s64_avx2(const int16_t *x, int32_t xs, const int16_t *w, int32_t n, int64_t *acc, int32_t count) {
    const int32_t n16 = n & ~15;
    for (int32_t i = 0; i < count; i++) {
        const int16_t *xi = x + i * xs;
        __m256i s = _mm256_setzero_si256();
        for (int32_t j = 0; j < n16; j += 16) {
            __m256i p = _mm256_madd_epi16(LOAD16_S16(xi + j), LOAD16_S16(w + j));
            s = _mm256_add_epi64(s, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(p)));
            s = _mm256_add_epi64(s, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(p, 1)));
        }
        __m128i h = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        int64_t a = acc[i] + _mm_cvtsi128_si64(h) + _mm_extract_epi64(h, 1);
        for (int32_t j = n16; j < n; j++) a += (int32_t)w[j] * xi[j];
        acc[i] = a;
    }
}
static int have_avx2(void) {
    static int known = -1;   // idempotent: a race only repeats the check
    if (known < 0) known = __builtin_cpu_supports("avx2") ? 1 : 0;
    return known;
}
#endif

#ifdef CLEF_DSP
/// Taps of the two weight rows sign-extended at a time (into the caller's scratch).
#define WCHUNK CLEF_DOT2_SCRATCH
/// One group of 4 taps of the 2 x 2 tile on int8 inputs: the two input words loaded and extended
/// into (x0, x2), (x1, x3), the weights (extended the same way) loaded in pairs (LDRD), 8 SMLADs;
/// every pointer post-incremented. 16 instructions for 16 MACs.
#define DOT2_GROUP8 \
    "ldr %[t0], [%[xa]], #4\n\t" \
    "ldr %[t1], [%[xb]], #4\n\t" \
    "ldrd %[w0], %[w1], [%[pw]], #16\n\t" \
    "sxtb16 %[x0], %[t0]\n\t" \
    "sxtb16 %[t0], %[t0], ror #8\n\t" \
    "smlad %[a0], %[x0], %[w0], %[a0]\n\t" \
    "smlad %[a0], %[t0], %[w1], %[a0]\n\t" \
    "sxtb16 %[x1], %[t1]\n\t" \
    "sxtb16 %[t1], %[t1], ror #8\n\t" \
    "smlad %[a1], %[x1], %[w0], %[a1]\n\t" \
    "smlad %[a1], %[t1], %[w1], %[a1]\n\t" \
    "ldrd %[w0], %[w1], [%[pw], #-8]\n\t" \
    "smlad %[b0], %[x0], %[w0], %[b0]\n\t" \
    "smlad %[b0], %[t0], %[w1], %[b0]\n\t" \
    "smlad %[b1], %[x1], %[w0], %[b1]\n\t" \
    "smlad %[b1], %[t1], %[w1], %[b1]\n\t"
/// The same on int16 inputs: they already are pairs (x0, x1), (x2, x3), and the weights are
/// extended in that order, so nothing is extended in the loop. 14 instructions for 16 MACs.
#define DOT2_GROUP16 \
    "ldr %[t0], [%[xa]], #4\n\t" \
    "ldr %[t1], [%[xa]], #4\n\t" \
    "ldr %[x0], [%[xb]], #4\n\t" \
    "ldr %[x1], [%[xb]], #4\n\t" \
    "ldrd %[w0], %[w1], [%[pw]], #16\n\t" \
    "smlad %[a0], %[t0], %[w0], %[a0]\n\t" \
    "smlad %[a0], %[t1], %[w1], %[a0]\n\t" \
    "smlad %[a1], %[x0], %[w0], %[a1]\n\t" \
    "smlad %[a1], %[x1], %[w1], %[a1]\n\t" \
    "ldrd %[w0], %[w1], [%[pw], #-8]\n\t" \
    "smlad %[b0], %[t0], %[w0], %[b0]\n\t" \
    "smlad %[b0], %[t1], %[w1], %[b0]\n\t" \
    "smlad %[b1], %[x0], %[w0], %[b1]\n\t" \
    "smlad %[b1], %[x1], %[w1], %[b1]\n\t"

/// The tile over the groups of 4 taps from pw to end (at least one), unrolled by 2 with an entry
/// for an odd count of groups.
#define DOT2_TILE_LOOP(GROUP) \
    "sub %[t0], %[end], %[pw]\n\t" \
    "tst %[t0], #16\n\t" \
    "bne 2f\n" \
    "1:\n\t" GROUP \
    "2:\n\t" GROUP \
    "cmp %[pw], %[end]\n\t" \
    "bne 1b\n\t"
/// The same for an even count of groups (inputs a multiple of 8 channels, as every layer of the
/// models): no entry test, 3 instructions a pair fewer.
#define DOT2_TILE_LOOP_EVEN(GROUP) \
    "1:\n\t" GROUP GROUP \
    "cmp %[pw], %[end]\n\t" \
    "bne 1b\n\t"
/// The same for a count of groups that is a multiple of 4 (inputs a multiple of 16 channels: the
/// 1x1 convolutions of the models): unrolled by 4, one cmp/bne per 64 MACs instead of per 32.
#define DOT2_TILE_LOOP_QUAD(GROUP) \
    "1:\n\t" GROUP GROUP GROUP GROUP \
    "cmp %[pw], %[end]\n\t" \
    "bne 1b\n\t"
/// The tile over k = 16 taps of each row, the input pointers stepped to the next row (by
/// `delta` bytes, a memory operand: no register is left) until pw reaches end.
#define DOT2_TILE_ROWS(GROUP) \
    "1:\n\t" GROUP GROUP GROUP GROUP \
    "ldr %[t0], %[delta]\n\t" \
    "add %[xa], %[xa], %[t0]\n\t" \
    "add %[xb], %[xb], %[t0]\n\t" \
    "cmp %[pw], %[end]\n\t" \
    "bne 1b\n\t"
#define DOT2_TILE_OPERANDS \
    : [xa] "+&r"(xa), [xb] "+&r"(xb), [pw] "+&r"(pw), [a0] "+&r"(a0), [a1] "+&r"(a1), [b0] "+&r"(b0), \
      [b1] "+&r"(b1), [t0] "=&r"(t0), [t1] "=&r"(t1), [x0] "=&r"(u0), [x1] "=&r"(u1), [w0] "=&r"(v0), [w1] "=&r"(v1)

/// One 2 x 2 tile: outputs xa and xb (equal for an odd last output, whose second sums are dropped)
/// of both channels, over the extended weights from pw to end: one run of groups of 4 taps
/// (delta -1), or rows of 16 taps whose inputs are `delta` bytes apart after each row's 16.
/// `wide`: int16 inputs (a constant wherever this is inlined).
__attribute__((always_inline))
static inline void dot2_tile(const char *xa, const char *xb, const int32_t *pw, const int32_t *end, int32_t delta,
                             int32_t *p0, int32_t *p1, int32_t two, int32_t wide, const int32_t *bias) {
    int32_t a0 = bias ? bias[0] : p0[0], b0 = bias ? bias[1] : p1[0];
    int32_t a1 = two ? (bias ? bias[0] : p0[1]) : 0, b1 = two ? (bias ? bias[1] : p1[1]) : 0;
    int32_t t0, t1, u0, u1, v0, v1;
    if (wide) {
        if (delta < 0) __asm__ volatile(DOT2_TILE_LOOP(DOT2_GROUP16) DOT2_TILE_OPERANDS : [end] "r"(end) : "cc", "memory");
        else __asm__ volatile(DOT2_TILE_ROWS(DOT2_GROUP16) DOT2_TILE_OPERANDS : [end] "r"(end), [delta] "m"(delta) : "cc", "memory");
    } else {
        if (delta < 0) __asm__ volatile(DOT2_TILE_LOOP(DOT2_GROUP8) DOT2_TILE_OPERANDS : [end] "r"(end) : "cc", "memory");
        else __asm__ volatile(DOT2_TILE_ROWS(DOT2_GROUP8) DOT2_TILE_OPERANDS : [end] "r"(end), [delta] "m"(delta) : "cc", "memory");
    }
    p0[0] = a0; p1[0] = b0;
    if (two) { p0[1] = a1; p1[1] = b1; }
}

/// Every pair of outputs from x (inputs `step` bytes apart), sums from and back to acc0 / acc1:
/// the tile loop with its own set-up in assembly too. The 14 registers all go to the tile, so
/// the pair loop's state lives in a stack struct (sp-relative memory operands); 16 instructions
/// a pair around the groups (acc1 near acc0, an even count of groups), 22 otherwise, GCC's 36.
struct dot2_walk { const char *xp; int32_t step; int32_t *p0, *p1; const int32_t *p0end, *wbuf; int32_t delta; int32_t bias[2]; };
/// FAR: acc1 anywhere (its own walking pointer); NEAR: acc1 = acc0 + CLEF_DOT2_NEAR (the kernels'
/// callers' layout: their two chunks of sums), reached by an immediate offset, 3 instructions a
/// pair fewer.
#define DOT2_LOAD_FAR "ldr %[t0], %[p0]\n\t" "ldrd %[a0], %[a1], [%[t0]]\n\t" "ldr %[t1], %[p1]\n\t" "ldrd %[b0], %[b1], [%[t1]]\n\t"
#define DOT2_STORE_FAR "ldr %[t0], %[p0]\n\t" "strd %[a0], %[a1], [%[t0]], #8\n\t" "str %[t0], %[p0]\n\t" \
    "ldr %[t1], %[p1]\n\t" "strd %[b0], %[b1], [%[t1]], #8\n\t" "str %[t1], %[p1]\n\t"
#define DOT2_STR(x) #x
#define DOT2_XSTR(x) DOT2_STR(x)
#define DOT2_NEAR_BYTES DOT2_XSTR(CLEF_DOT2_NEAR_BYTES)
#define CLEF_DOT2_NEAR_BYTES 256
_Static_assert(CLEF_DOT2_NEAR_BYTES == 4 * CLEF_DOT2_NEAR, "the pair loop's immediate offset");
#define DOT2_LOAD_NEAR "ldr %[t0], %[p0]\n\t" "ldrd %[a0], %[a1], [%[t0]]\n\t" "ldrd %[b0], %[b1], [%[t0], #" DOT2_NEAR_BYTES "]\n\t"
#define DOT2_STORE_NEAR "ldr %[t0], %[p0]\n\t" "strd %[b0], %[b1], [%[t0], #" DOT2_NEAR_BYTES "]\n\t" "strd %[a0], %[a1], [%[t0]], #8\n\t" \
    "str %[t0], %[p0]\n\t"
/// BIAS: the sums start at the channels' biases instead of acc0 / acc1 (the first weight chunk of
/// a `_bias` kernel): as many instructions as NEAR's load, and no fill of the sums before the call.
#define DOT2_LOAD_BIAS "ldrd %[a0], %[b0], %[bias]\n\t" "mov %[a1], %[a0]\n\t" "mov %[b1], %[b0]\n\t"
#define DOT2_PAIRS_ASM(TILE, LOAD, STORE) \
    "0:\n\t" \
    "ldr %[xa], %[xp]\n\t" \
    "ldr %[t0], %[step]\n\t" \
    "add %[xb], %[xa], %[t0]\n\t" \
    "add %[t1], %[xb], %[t0]\n\t" \
    "str %[t1], %[xp]\n\t" \
    LOAD \
    "ldr %[pw], %[wb]\n\t" \
    TILE \
    STORE \
    "ldr %[t1], %[p0end]\n\t" \
    "cmp %[t0], %[t1]\n\t" \
    "bne 0b\n\t"
#define DOT2_PAIRS_OPERANDS \
    : [xa] "=&r"(xa), [xb] "=&r"(xb), [pw] "=&r"(pw), [a0] "=&r"(a0), [a1] "=&r"(a1), [b0] "=&r"(b0), \
      [b1] "=&r"(b1), [t0] "=&r"(t0), [t1] "=&r"(t1), [x0] "=&r"(u0), [x1] "=&r"(u1), [w0] "=&r"(v0), [w1] "=&r"(v1), \
      [xp] "+m"(st.xp), [p0] "+m"(st.p0), [p1] "+m"(st.p1) \
    : [end] "r"(end), [step] "m"(st.step), [p0end] "m"(st.p0end), [wb] "m"(st.wbuf), [bias] "m"(st.bias)

/// The pair loop's four tiles (a count of groups that is a multiple of 4, even or any, or rows),
/// one statement.
#define DOT2_PAIRS_VARIANTS(GROUP, LOAD, STORE) { \
    if (delta < 0 && quad) __asm__ volatile(DOT2_PAIRS_ASM(DOT2_TILE_LOOP_QUAD(GROUP), LOAD, STORE) DOT2_PAIRS_OPERANDS : "cc", "memory"); \
    else if (delta < 0 && even) __asm__ volatile(DOT2_PAIRS_ASM(DOT2_TILE_LOOP_EVEN(GROUP), LOAD, STORE) DOT2_PAIRS_OPERANDS : "cc", "memory"); \
    else if (delta < 0) __asm__ volatile(DOT2_PAIRS_ASM(DOT2_TILE_LOOP(GROUP), LOAD, STORE) DOT2_PAIRS_OPERANDS : "cc", "memory"); \
    else __asm__ volatile(DOT2_PAIRS_ASM(DOT2_TILE_ROWS(GROUP), LOAD, STORE) DOT2_PAIRS_OPERANDS, [delta] "m"(st.delta) : "cc", "memory"); }
/// `pairs` (even, at least 2) outputs of both channels, x[i * step ...] over the extended weights
/// wbuf ... end (delta: as dot2_tile); the odd last output is the caller's.
__attribute__((always_inline))
static inline void dot2_pairs(const char *x, int32_t step, const int32_t *wbuf, const int32_t *end, int32_t delta,
                              int32_t *acc0, int32_t *acc1, int32_t pairs, int32_t wide, const int32_t *bias) {
    struct dot2_walk st = { x, step, acc0, acc1, acc0 + pairs, wbuf, delta, { bias ? bias[0] : 0, bias ? bias[1] : 0 } };
    const char *xa, *xb;
    const int32_t *pw;
    int32_t a0, a1, b0, b1, t0, t1, u0, u1, v0, v1;
    const int32_t even = ((end - wbuf) & 7) == 0;   // 4 words a group of 4 taps
    const int32_t quad = ((end - wbuf) & 15) == 0;
    if (bias) {
        // (Only the NEAR layout: the `_bias` kernels fill FAR sums first.)
        if (wide) DOT2_PAIRS_VARIANTS(DOT2_GROUP16, DOT2_LOAD_BIAS, DOT2_STORE_NEAR)
        else DOT2_PAIRS_VARIANTS(DOT2_GROUP8, DOT2_LOAD_BIAS, DOT2_STORE_NEAR)
    } else if (acc1 == acc0 + CLEF_DOT2_NEAR) {
        if (wide) DOT2_PAIRS_VARIANTS(DOT2_GROUP16, DOT2_LOAD_NEAR, DOT2_STORE_NEAR)
        else DOT2_PAIRS_VARIANTS(DOT2_GROUP8, DOT2_LOAD_NEAR, DOT2_STORE_NEAR)
    } else {
        if (wide) DOT2_PAIRS_VARIANTS(DOT2_GROUP16, DOT2_LOAD_FAR, DOT2_STORE_FAR)
        else DOT2_PAIRS_VARIANTS(DOT2_GROUP8, DOT2_LOAD_FAR, DOT2_STORE_FAR)
    }
}

/// All `count` outputs of both channels: the pairs in assembly, an odd last one as a tile with
/// itself (half the work wasted, still cheaper than the plain loop).
__attribute__((always_inline))
static inline void dot2_outputs(const char *xp, int32_t step, const int32_t *wbuf, const int32_t *end, int32_t delta,
                                int32_t *acc0, int32_t *acc1, int32_t count, int32_t wide, const int32_t *bias) {
    const int32_t pairs = count & ~1;
    if (pairs > 0) dot2_pairs(xp, step, wbuf, end, delta, acc0, acc1, pairs, wide, bias);
    if (count & 1) dot2_tile(xp + pairs * step, xp + pairs * step, wbuf, end, delta, acc0 + pairs, acc1 + pairs, 0, wide, bias);
}

/// Taps [0, m) of both weight rows (m a multiple of 4) into wbuf as int16 pairs: per 4 taps
/// w0's two pairs, then w1's. int8 weights (`wsize` 1) sign-extended into pairs (t0, t2), (t1, t3)
/// for int8 inputs (as SXTB16 extends them), (t0, t1), (t2, t3) for int16 inputs (`wide`); int16
/// weights (`wsize` 2, int16 inputs) copied, already such pairs.
__attribute__((always_inline))
static inline void dot2_extend(const char *w0, const char *w1, int32_t wsize, int32_t m, int32_t *wbuf, int32_t wide) {
    if (wsize == 1) {
        // int8 weights (most calls): post-indexed loads and pair stores, two groups a pass, 9
        // instructions a group for int8 inputs (GCC's loop from the C below: 13), 11 for int16
        // inputs (the pairs packed (t0, t1), (t2, t3) by PKHBT / PKHTB).
        const char *p0 = w0, *p1 = w1;
        int32_t *o = wbuf, *const oend = wbuf + m;
        int32_t t0, t1, a, b;
#define EXTEND8_ROW(T) \
            "sxtb16 %[a], %[" T "]\n\t" \
            "sxtb16 %[b], %[" T "], ror #8\n\t" \
            "strd %[a], %[b], [%[o]], #8\n\t"
#define EXTEND8W_ROW(T) \
            "sxtb16 %[a], %[" T "]\n\t" \
            "sxtb16 %[b], %[" T "], ror #8\n\t" \
            "pkhbt %[" T "], %[a], %[b], lsl #16\n\t" \
            "pkhtb %[a], %[b], %[a], asr #16\n\t" \
            "strd %[" T "], %[a], [%[o]], #8\n\t"
#define EXTEND8_LOADS "ldr %[t0], [%[p0]], #4\n\t" "ldr %[t1], [%[p1]], #4\n\t"
#define EXTEND8_GROUP EXTEND8_LOADS EXTEND8_ROW("t0") EXTEND8_ROW("t1")
#define EXTEND8W_GROUP EXTEND8_LOADS EXTEND8W_ROW("t0") EXTEND8W_ROW("t1")
#define EXTEND8_OPERANDS [p0] "+&r"(p0), [p1] "+&r"(p1), [o] "+&r"(o), [t0] "=&r"(t0), [t1] "=&r"(t1), [a] "=&r"(a), [b] "=&r"(b)
        if (m & 4) {
            if (wide) __asm__ volatile(EXTEND8W_GROUP : EXTEND8_OPERANDS : : "memory");
            else __asm__ volatile(EXTEND8_GROUP : EXTEND8_OPERANDS : : "memory");
        }
        if (o != oend) {
            if (wide) __asm__ volatile("1:\n\t" EXTEND8W_GROUP EXTEND8W_GROUP "cmp %[o], %[oend]\n\t" "bne 1b\n\t"
                                       : EXTEND8_OPERANDS : [oend] "r"(oend) : "cc", "memory");
            else __asm__ volatile("1:\n\t" EXTEND8_GROUP EXTEND8_GROUP "cmp %[o], %[oend]\n\t" "bne 1b\n\t"
                                  : EXTEND8_OPERANDS : [oend] "r"(oend) : "cc", "memory");
        }
#undef EXTEND8_OPERANDS
#undef EXTEND8W_GROUP
#undef EXTEND8_GROUP
#undef EXTEND8_LOADS
#undef EXTEND8W_ROW
#undef EXTEND8_ROW
        return;
    }
    for (int32_t q = 0; q < m; q += 4) {   // int16 weights: already pairs
        wbuf[q] = load32(w0 + 2 * q); wbuf[q + 1] = load32(w0 + 2 * q + 4);
        wbuf[q + 2] = load32(w1 + 2 * q); wbuf[q + 3] = load32(w1 + 2 * q + 4);
    }
}

/// One channel of a 16-tap, stride-2 int16 convolution (the stem), its 8 weight pairs held in
/// registers: two outputs per pass share 7 of their 9 input words (output t reads words t ... t + 7,
/// output t + 1 words t + 1 ... t + 8), so a pass is 9 loads and 16 SMLADs for 32 MACs.
static void dot_s16s16_k16s2(const int16_t *x, const int16_t *w, int32_t *acc, int32_t count) {
    const int32_t k0 = load32(w), k1 = load32(w + 2), k2 = load32(w + 4), k3 = load32(w + 6);
    const int32_t k4 = load32(w + 8), k5 = load32(w + 10), k6 = load32(w + 12), k7 = load32(w + 14);
    const int32_t pairs = count & ~1;
    if (pairs > 0) {
        const int16_t *xp = x;
        int32_t *ap = acc;
        const int32_t *aend = acc + pairs;
        int32_t a0, a1, t;
        __asm__ volatile(
            "1:\n\t"
            "ldrd %[a0], %[a1], [%[ap]]\n\t"
            "ldr %[t], [%[xp]]\n\t"
            "smlad %[a0], %[t], %[k0], %[a0]\n\t"
            "ldr %[t], [%[xp], #4]\n\t"
            "smlad %[a0], %[t], %[k1], %[a0]\n\t"
            "smlad %[a1], %[t], %[k0], %[a1]\n\t"
            "ldr %[t], [%[xp], #8]\n\t"
            "smlad %[a0], %[t], %[k2], %[a0]\n\t"
            "smlad %[a1], %[t], %[k1], %[a1]\n\t"
            "ldr %[t], [%[xp], #12]\n\t"
            "smlad %[a0], %[t], %[k3], %[a0]\n\t"
            "smlad %[a1], %[t], %[k2], %[a1]\n\t"
            "ldr %[t], [%[xp], #16]\n\t"
            "smlad %[a0], %[t], %[k4], %[a0]\n\t"
            "smlad %[a1], %[t], %[k3], %[a1]\n\t"
            "ldr %[t], [%[xp], #20]\n\t"
            "smlad %[a0], %[t], %[k5], %[a0]\n\t"
            "smlad %[a1], %[t], %[k4], %[a1]\n\t"
            "ldr %[t], [%[xp], #24]\n\t"
            "smlad %[a0], %[t], %[k6], %[a0]\n\t"
            "smlad %[a1], %[t], %[k5], %[a1]\n\t"
            "ldr %[t], [%[xp], #28]\n\t"
            "smlad %[a0], %[t], %[k7], %[a0]\n\t"
            "smlad %[a1], %[t], %[k6], %[a1]\n\t"
            "ldr %[t], [%[xp], #32]\n\t"
            "smlad %[a1], %[t], %[k7], %[a1]\n\t"
            "adds %[xp], %[xp], #8\n\t"
            "strd %[a0], %[a1], [%[ap]], #8\n\t"
            "cmp %[ap], %[aend]\n\t"
            "bne 1b\n\t"
            : [xp] "+&r"(xp), [ap] "+&r"(ap), [a0] "=&r"(a0), [a1] "=&r"(a1), [t] "=&r"(t)
            : [k0] "r"(k0), [k1] "r"(k1), [k2] "r"(k2), [k3] "r"(k3), [k4] "r"(k4), [k5] "r"(k5), [k6] "r"(k6),
              [k7] "r"(k7), [aend] "r"(aend)
            : "cc", "memory");
    }
    if (count & 1) {
        const int16_t *xi = x + 2 * pairs;
        int32_t a = acc[pairs];
        SUM16_S16(__smlad, a, xi, k);
        acc[pairs] = a;
    }
}

/// The DSP path of the dot2 kernels over the whole groups of 4 taps of every output (`esize` 1 or
/// 2 bytes per input, `wsize` per weight; 16 int16 taps at stride 2, the stem, have their own). The weights are the same for every output of a call, so
/// each chunk of them is sign-extended once, and the inner loop (in assembly: GCC, given it in C,
/// keeps only 11 of its 14 values in registers and reloads the rest every group: 45 instead of 34
/// instructions per 32 MACs) extends only int8 inputs.
__attribute__((always_inline))
static inline void dot2_dsp(const char *x, int32_t esize, int32_t xs, const char *w0, const char *w1, int32_t wsize,
                            int32_t n4, int32_t *acc0, int32_t *acc1, int32_t count, int32_t *wbuf, const int32_t *bias) {
    if (wsize == 2 && n4 == 16 && xs == 2) {      // int16 weights: the stem
        if (bias) clef_fill2(acc0, acc1, bias[0], bias[1], count);
        dot_s16s16_k16s2((const int16_t *)(const void *)x, (const int16_t *)(const void *)w0, acc0, count);
        dot_s16s16_k16s2((const int16_t *)(const void *)x, (const int16_t *)(const void *)w1, acc1, count);
        return;
    }
    const int32_t step = xs * esize;
    for (int32_t j0 = 0; j0 < n4; j0 += WCHUNK) {
        const int32_t m = n4 - j0 < WCHUNK ? n4 - j0 : WCHUNK;
        dot2_extend(w0 + j0 * wsize, w1 + j0 * wsize, wsize, m, wbuf, esize == 2);
        dot2_outputs(x + j0 * esize, step, wbuf, wbuf + m, -1, acc0, acc1, count, esize == 2, j0 == 0 ? bias : 0);
    }
}

/// The DSP path of the rows kernels for k = 16: up to CLEF_DOT2_SCRATCH / 16 rows' weights
/// extended at a time; per pair of outputs the four sums stay in registers over those rows (4
/// groups of 4 taps a row, then both input pointers step to the next row), so the pair's own cost
/// is paid once per 4 rows instead of once per row.
__attribute__((always_inline))
static inline void dot2_rows_dsp(const char *x, int32_t esize, int32_t rowLength, int32_t rows, int32_t xs,
                                 const int8_t *w0, const int8_t *w1, int32_t *acc0, int32_t *acc1, int32_t count,
                                 int32_t *wbuf, const int32_t *bias) {
    const int32_t batch = CLEF_DOT2_SCRATCH / 16, step = xs * esize, delta = (rowLength - 16) * esize;
    for (int32_t r0 = 0; r0 < rows; r0 += batch) {
        const int32_t nr = rows - r0 < batch ? rows - r0 : batch;
        dot2_extend((const char *)(w0 + r0 * 16), (const char *)(w1 + r0 * 16), 1, nr * 16, wbuf, esize == 2);
        dot2_outputs(x + r0 * rowLength * esize, step, wbuf, wbuf + nr * 16, delta, acc0, acc1, count, esize == 2,
                     r0 == 0 ? bias : 0);
    }
}

/// The staged-input pair loop (clef_dot2_x16_bias): inputs already int16 pairs, both positions of
/// a pair and both channels' weights of 4 taps each one LDM, so a group of 4 taps is 2 loads and
/// 8 SMLADs, 10 instructions for 16 MACs (the int8 tile's 16: its inputs are sign-extended again
/// for every pair of channels). It needs all 14 registers (r0-r3 inputs, r4-r7 weights, r8-r11
/// sums, r12 the input walk, lr the weight walk), more than GCC gives inline assembly, so the
/// functions are naked and keep the walk's state in their own frame: [sp] x, +4 wbuf, +8 wend,
/// +12 acc, +16 accEnd, +20 b0, +24 b1 (copied from `struct x16_walk`).
struct x16_walk { const int32_t *x; const int32_t *wbuf; const int32_t *wend; int32_t *acc; const int32_t *accEnd; int32_t b0, b1; };
#define X16_GROUP \
    "ldmia r12!, {r0-r3}\n\t" \
    "ldmia lr!, {r4-r7}\n\t" \
    X16_MACS
/// The group's 8 SMLADs: r0, r1 position 2p's 4 taps, r2, r3 position 2p + 1's, r4, r5 channel 0's
/// weights, r6, r7 channel 1's.
#define X16_MACS \
    "smlad r8, r0, r4, r8\n\t" \
    "smlad r8, r1, r5, r8\n\t" \
    "smlad r9, r2, r4, r9\n\t" \
    "smlad r9, r3, r5, r9\n\t" \
    "smlad r10, r0, r6, r10\n\t" \
    "smlad r10, r1, r7, r10\n\t" \
    "smlad r11, r2, r6, r11\n\t" \
    "smlad r11, r3, r7, r11\n\t"
/// Sums: r8, r9 channel 0 at positions 2p and 2p + 1, r10, r11 channel 1. The loop takes groups of
/// 4 taps four at a time (the chunk a multiple of 16 taps) and compares the weight walk with its
/// end through r4, free after the fourth group.
#define X16_GROUP4 X16_GROUP X16_GROUP X16_GROUP X16_GROUP
#define X16_LOOP \
    "1:\n\t" X16_GROUP4 \
    "ldr r4, [sp, #8]\n\t" \
    "cmp lr, r4\n\t" \
    "bne 1b\n\t"
/// A whole chunk of CLEF_DOT2_SCRATCH = 64 taps unrolled: no loop control (12 instructions a pair fewer).
#define X16_CHUNK X16_GROUP4 X16_GROUP4 X16_GROUP4 X16_GROUP4
_Static_assert(CLEF_DOT2_SCRATCH == 64, "X16_CHUNK unrolls 16 groups of 4 taps");
/// The naked pair loops' frame: the registers saved, the walk's 7 words copied from *r0 to [sp].
#define NAKED_ENTER \
    "push {r4-r11, lr}\n\t" \
    "ldm r0, {r1-r7}\n\t" \
    "sub sp, sp, #32\n\t" \
    "stm sp, {r1-r7}\n\t"
/// A pair's four sums stored (acc, acc + CLEF_DOT2_NEAR words), acc stepped, back to label 0
/// until accEnd; then the frame left.
#define NAKED_NEXT_PAIR \
    "ldr r4, [sp, #12]\n\t" \
    "strd r10, r11, [r4, #" DOT2_NEAR_BYTES "]\n\t" \
    "strd r8, r9, [r4], #8\n\t" \
    "str r4, [sp, #12]\n\t" \
    "ldr r5, [sp, #16]\n\t" \
    "cmp r4, r5\n\t" \
    "bne 0b\n\t"
#define NAKED_LEAVE "add sp, sp, #32\n\t" "pop {r4-r11, pc}\n\t"
/// One pair loop: a naked function of its walk struct (in r0) whose body is the assembly BODY.
#define NAKED_PAIRS(name, walk, BODY) \
    __attribute__((naked, noinline)) static void name(__attribute__((unused)) const struct walk *w) { __asm__ volatile(BODY); }
#define X16_PAIRS(LOAD, TAPS) \
    NAKED_ENTER \
    "mov r12, r1\n" \
    "0:\n\t" \
    LOAD \
    "ldr lr, [sp, #4]\n\t" \
    TAPS \
    NAKED_NEXT_PAIR \
    NAKED_LEAVE
/// The first weight chunk's sums start at the biases, later chunks' at the sums stored; a whole
/// 64-tap chunk unrolled, or any multiple of 16 taps by the loop.
#define X16_LOAD_BIAS "ldrd r8, r10, [sp, #20]\n\t" "mov r9, r8\n\t" "mov r11, r10\n\t"
#define X16_LOAD_ACC "ldr r4, [sp, #12]\n\t" "ldrd r8, r9, [r4]\n\t" "ldrd r10, r11, [r4, #" DOT2_NEAR_BYTES "]\n\t"
NAKED_PAIRS(x16_pairs_bias, x16_walk, X16_PAIRS(X16_LOAD_BIAS, X16_LOOP))
NAKED_PAIRS(x16_pairs_acc, x16_walk, X16_PAIRS(X16_LOAD_ACC, X16_LOOP))
NAKED_PAIRS(x16_chunks_bias, x16_walk, X16_PAIRS(X16_LOAD_BIAS, X16_CHUNK))
NAKED_PAIRS(x16_chunks_acc, x16_walk, X16_PAIRS(X16_LOAD_ACC, X16_CHUNK))
/// Inputs of 32 and 16 channels (blocks 0-3 of the small model) in one chunk, unrolled as well.
NAKED_PAIRS(x16_taps32_bias, x16_walk, X16_PAIRS(X16_LOAD_BIAS, X16_GROUP4 X16_GROUP4))
NAKED_PAIRS(x16_taps16_bias, x16_walk, X16_PAIRS(X16_LOAD_BIAS, X16_GROUP4))
/// The same pair loop on int16 inputs as they lie, time-major, 32 channels a step (block 0's
/// conv1 in q8 reads the stem's output so): a pair's second step is 64 bytes after its first, so
/// both steps' 4 taps come by two LDRD (the second at that offset) instead of one LDM of staged
/// pairs, and the walk skips the second step after the 32 taps. 11 instructions per 16 MACs
/// where the int16 tile takes 14; the same cycles by the TRM (LDRD 3, LDRD 3, LDM 5, 8 SMLAD
/// against 4 pipelined LDR 5, 2 LDRD 6, 8 SMLAD).
#define T16_GROUP \
    "ldrd r2, r3, [r12, #64]\n\t" \
    "ldrd r0, r1, [r12], #8\n\t" \
    "ldmia lr!, {r4-r7}\n\t" \
    X16_MACS
#define T16_GROUP4 T16_GROUP T16_GROUP T16_GROUP T16_GROUP
NAKED_PAIRS(t16_taps32_bias, x16_walk, X16_PAIRS(X16_LOAD_BIAS, T16_GROUP4 T16_GROUP4 "add r12, r12, #64\n\t"))

/// clef_dot2_s16s8_bias's path for time-major int16 inputs of 32 channels (xs 32, n 32, 4-byte
/// aligned) in the engines' sums layout: the pairs by t16_taps32_bias, an odd last output by the
/// int16 tile. Returns 0 where it does not apply.
static int32_t dot2_t16_bias(const int16_t *x, int32_t xs, const int8_t *w0, const int8_t *w1, int32_t n, int32_t b0,
                             int32_t b1, int32_t *acc0, int32_t *acc1, int32_t count, int32_t *scratch) {
    if (n != 32 || xs != 32 || count < 2 || count > CLEF_DOT2_NEAR || acc1 != acc0 + CLEF_DOT2_NEAR || ((uintptr_t)x & 3) != 0) return 0;
    const int32_t pairs = count & ~1, bias[2] = { b0, b1 };
    dot2_extend((const char *)w0, (const char *)w1, 1, 32, scratch, 1);
    const struct x16_walk st = { (const int32_t *)(const void *)x, scratch, scratch + 32, acc0, acc0 + pairs, b0, b1 };
    t16_taps32_bias(&st);
    if (count & 1) {
        const char *last = (const char *)(x + pairs * 32);
        dot2_tile(last, last, scratch, scratch + 32, -1, acc0 + pairs, acc1 + pairs, 0, 1, bias);
    }
    return 1;
}

/// The grouped convolution (k = 16) on staged rows (clef_stage_rows16), 4 rows a call, both
/// positions of a pair and 2 channels: per 4 taps of a row one load of inputs (stride 1: LDM of
/// F[c .. c + 3], both positions' pairs; stride 2: two new words of G, the third shared with the
/// previous 4 taps), one LDM of weights, 8 SMLADs. The frame as x16_walk's, with +8 the bytes from
/// where a row's loads leave the input walk to the next row's first word (`rowStep`), and [sp]
/// the pair's first word (+8 bytes a pair).
struct rows_walk { const int32_t *x; const int32_t *wbuf; int32_t rowStep; int32_t *acc; const int32_t *accEnd; int32_t b0, b1; };
/// Stride 1: r0 = F[c] (t: taps 0, 1), r1 = F[c + 1] (t + 1), r2 = F[c + 2] (t: taps 2, 3), r3 = F[c + 3].
#define R1_GROUP \
    "ldmia r12!, {r0-r3}\n\t" \
    "ldmia lr!, {r4-r7}\n\t" \
    "smlad r8, r0, r4, r8\n\t" \
    "smlad r8, r2, r5, r8\n\t" \
    "smlad r9, r1, r4, r9\n\t" \
    "smlad r9, r3, r5, r9\n\t" \
    "smlad r10, r0, r6, r10\n\t" \
    "smlad r10, r2, r7, r10\n\t" \
    "smlad r11, r1, r6, r11\n\t" \
    "smlad r11, r3, r7, r11\n\t"
#define R1_ROW R1_GROUP R1_GROUP R1_GROUP R1_GROUP
/// Stride 2: words A, B, C = G[t + 2g], G[t + 2g + 1], G[t + 2g + 2]: t takes A, B and t + 1 B, C.
#define R2_GROUP(A, B, C) \
    "ldmia lr!, {r4-r7}\n\t" \
    "smlad r8, " A ", r4, r8\n\t" \
    "smlad r8, " B ", r5, r8\n\t" \
    "smlad r9, " B ", r4, r9\n\t" \
    "smlad r9, " C ", r5, r9\n\t" \
    "smlad r10, " A ", r6, r10\n\t" \
    "smlad r10, " B ", r7, r10\n\t" \
    "smlad r11, " B ", r6, r11\n\t" \
    "smlad r11, " C ", r7, r11\n\t"
#define R2_ROW \
    "ldm r12, {r0-r2}\n\t" R2_GROUP("r0", "r1", "r2") \
    "ldrd r3, r0, [r12, #12]\n\t" R2_GROUP("r2", "r3", "r0") \
    "ldrd r1, r2, [r12, #20]\n\t" R2_GROUP("r0", "r1", "r2") \
    "ldrd r3, r0, [r12, #28]\n\t" R2_GROUP("r2", "r3", "r0")
#define ROW_STEP "ldr r4, [sp, #8]\n\t" "add r12, r12, r4\n\t"
#define ROWS_PAIRS(LOAD, ROW) \
    NAKED_ENTER \
    "0:\n\t" \
    "ldr r12, [sp]\n\t" \
    "add r4, r12, #8\n\t" \
    "str r4, [sp]\n\t" \
    LOAD \
    "ldr lr, [sp, #4]\n\t" \
    ROW ROW_STEP ROW ROW_STEP ROW ROW_STEP ROW \
    NAKED_NEXT_PAIR \
    NAKED_LEAVE
NAKED_PAIRS(rows1_bias, rows_walk, ROWS_PAIRS(X16_LOAD_BIAS, R1_ROW))
NAKED_PAIRS(rows1_acc, rows_walk, ROWS_PAIRS(X16_LOAD_ACC, R1_ROW))
NAKED_PAIRS(rows2_bias, rows_walk, ROWS_PAIRS(X16_LOAD_BIAS, R2_ROW))
NAKED_PAIRS(rows2_acc, rows_walk, ROWS_PAIRS(X16_LOAD_ACC, R2_ROW))
#undef ROWS_PAIRS
#undef ROW_STEP
#undef R2_ROW
#undef R2_GROUP
#undef R1_ROW
#undef R1_GROUP
#undef X16_PAIRS
#undef NAKED_PAIRS
#undef NAKED_LEAVE
#undef NAKED_NEXT_PAIR
#undef NAKED_ENTER
#undef X16_LOAD_BIAS
#undef X16_LOAD_ACC
#undef X16_CHUNK
#undef X16_LOOP
#undef X16_GROUP4
#undef X16_GROUP
#endif

// The entry points. Each tries AVX2 (hosts that have it), then the DSP tile (whole groups of 4
// taps), then the portable tiles; the rows kernels the DSP rows tile for k = 16, else one call a row.
#ifdef CLEF_AVX2
#define DOT2_TRY_AVX2(fn) if (n >= 16 && have_avx2()) { fn(x, xs, w0, w1, n, acc0, acc1, count); return; }
#else
#define DOT2_TRY_AVX2(fn)
#endif
#ifdef CLEF_DSP
#define DOT2_TRY_DSP(esize, wsize) \
    if ((n & 3) == 0) { dot2_dsp((const char *)x, esize, xs, (const char *)w0, (const char *)w1, wsize, n, acc0, acc1, count, scratch, 0); return; }
#define DOT2_TRY_ROWS_DSP(esize) \
    if (k == 16) { dot2_rows_dsp((const char *)x, esize, rowLength, rows, xs, w0, w1, acc0, acc1, count, scratch, 0); return; }
/// The `_bias` kernels' DSP paths: the engines' layout (acc1 = acc0 + CLEF_DOT2_NEAR) only.
#define DOT2_TRY_DSP_BIAS(esize, wsize) \
    if ((n & 3) == 0 && acc1 == acc0 + CLEF_DOT2_NEAR) { \
        const int32_t bias[2] = { b0, b1 }; \
        dot2_dsp((const char *)x, esize, xs, (const char *)w0, (const char *)w1, wsize, n, acc0, acc1, count, scratch, bias); \
        return; \
    }
/// int16 inputs of 32 channels, time-major, on int8 weights: `dot2_t16_bias`.
#define DOT2_TRY_T16_BIAS(esize, wsize) \
    if (esize == 2 && wsize == 1 && dot2_t16_bias((const int16_t *)(const void *)x, xs, (const int8_t *)(const void *)w0, \
                                                  (const int8_t *)(const void *)w1, n, b0, b1, acc0, acc1, count, scratch)) return;
#define DOT2_TRY_ROWS_DSP_BIAS(esize) \
    if (k == 16 && acc1 == acc0 + CLEF_DOT2_NEAR) { \
        const int32_t bias[2] = { b0, b1 }; \
        dot2_rows_dsp((const char *)x, esize, rowLength, rows, xs, w0, w1, acc0, acc1, count, scratch, bias); \
        return; \
    }
#else
#define DOT2_TRY_DSP(esize, wsize)
#define DOT2_TRY_ROWS_DSP(esize)
#define DOT2_TRY_DSP_BIAS(esize, wsize)
#define DOT2_TRY_T16_BIAS(esize, wsize)
#define DOT2_TRY_ROWS_DSP_BIAS(esize)
#endif
#define DOT2_KERNEL(name, T, TW, avx2, esize) \
void name(const T *x, int32_t xs, const TW *w0, const TW *w1, int32_t n, \
          int32_t *acc0, int32_t *acc1, int32_t count, int32_t *scratch) { \
    int32_t i = 0; \
    DOT2_TRY_AVX2(avx2) \
    DOT2_TRY_DSP(esize, (int32_t)sizeof(TW)) \
    DOT2_QUADS(T, TW) \
    DOT2_PAIRS(T, TW) \
    DOT2_REST(T) \
}
#define DOT2_ROWS_KERNEL(name, T, esize, dot2) \
void name(const T *x, int32_t rowLength, int32_t rows, int32_t xs, const int8_t *w0, const int8_t *w1, \
          int32_t k, int32_t *acc0, int32_t *acc1, int32_t count, int32_t *scratch) { \
    DOT2_TRY_ROWS_DSP(esize) \
    for (int32_t r = 0; r < rows; r++) dot2(x + r * rowLength, xs, w0 + r * k, w1 + r * k, k, acc0, acc1, count, scratch); \
}
DOT2_KERNEL(clef_dot2_s8, int8_t, int8_t, dot2_s8_avx2, 1)
DOT2_ROWS_KERNEL(clef_dot2_rows_s8, int8_t, 1, clef_dot2_s8)
DOT2_KERNEL(clef_dot2_s16s8, int16_t, int8_t, dot2_s16s8_avx2, 2)
DOT2_ROWS_KERNEL(clef_dot2_rows_s16s8, int16_t, 2, clef_dot2_s16s8)
DOT2_KERNEL(clef_dot2_s16s16, int16_t, int16_t, dot2_s16s16_avx2, 2)

/// The `_bias` forms: the sums start at b0 / b1 (elsewhere than the DSP paths: filled, then the
/// plain kernel).
#define DOT2_BIAS_KERNEL(name, base, T, TW, esize) \
void name(const T *x, int32_t xs, const TW *w0, const TW *w1, int32_t n, int32_t b0, int32_t b1, \
          int32_t *acc0, int32_t *acc1, int32_t count, int32_t *scratch) { \
    DOT2_TRY_T16_BIAS(esize, (int32_t)sizeof(TW)) \
    DOT2_TRY_DSP_BIAS(esize, (int32_t)sizeof(TW)) \
    clef_fill2(acc0, acc1, b0, b1, count); \
    base(x, xs, w0, w1, n, acc0, acc1, count, scratch); \
}
#define DOT2_ROWS_BIAS_KERNEL(name, base, T, esize) \
void name(const T *x, int32_t rowLength, int32_t rows, int32_t xs, const int8_t *w0, const int8_t *w1, \
          int32_t k, int32_t b0, int32_t b1, int32_t *acc0, int32_t *acc1, int32_t count, int32_t *scratch) { \
    DOT2_TRY_ROWS_DSP_BIAS(esize) \
    clef_fill2(acc0, acc1, b0, b1, count); \
    base(x, rowLength, rows, xs, w0, w1, k, acc0, acc1, count, scratch); \
}
DOT2_BIAS_KERNEL(clef_dot2_s8_bias, clef_dot2_s8, int8_t, int8_t, 1)
DOT2_ROWS_BIAS_KERNEL(clef_dot2_rows_s8_bias, clef_dot2_rows_s8, int8_t, 1)
DOT2_BIAS_KERNEL(clef_dot2_s16s8_bias, clef_dot2_s16s8, int16_t, int8_t, 2)
DOT2_ROWS_BIAS_KERNEL(clef_dot2_rows_s16s8_bias, clef_dot2_rows_s16s8, int16_t, 2)
DOT2_BIAS_KERNEL(clef_dot2_s16s16_bias, clef_dot2_s16s16, int16_t, int16_t, 2)

/// (x0, x2) and (x1, x3) of a word of 4 int8 as int16 pairs, as SXTB16 and SXTB16 ROR 8 give them.
static inline int32_t pair02(int32_t v) {
#ifdef CLEF_DSP
    return __sxtb16(v);
#else
    return (int32_t)(((uint32_t)(int32_t)(int8_t)v & 0xFFFFu) | ((uint32_t)(int32_t)(int8_t)(v >> 16) << 16));
#endif
}
static inline int32_t pair13(int32_t v) {
#ifdef CLEF_DSP
    return sxtb16_ror8(v);
#else
    return (int32_t)(((uint32_t)(int32_t)(int8_t)(v >> 8) & 0xFFFFu) | ((uint32_t)(int32_t)(int8_t)(v >> 24) << 16));
#endif
}

void clef_stage_x16(const int8_t *x, int32_t xs, int32_t n, int32_t count, int32_t *x16) {
    const int32_t pairs = (count + 1) / 2;
    int32_t *o = x16;
    for (int32_t j0 = 0; j0 < n; j0 += CLEF_DOT2_SCRATCH) {
        const int32_t m = n - j0 < CLEF_DOT2_SCRATCH ? n - j0 : CLEF_DOT2_SCRATCH;
        for (int32_t p = 0; p < pairs; p++) {
            const int8_t *xa = x + 2 * p * xs + j0, *xb = 2 * p + 1 < count ? xa + xs : xa;
            for (int32_t g = 0; g < m; g += 4, o += 4) {
                const int32_t a = load32(xa + g), b = load32(xb + g);
                o[0] = pair02(a); o[1] = pair13(a); o[2] = pair02(b); o[3] = pair13(b);
            }
        }
    }
}

/// Staged input i, tap j (see clef_stage_x16).
static inline int32_t staged_tap(const int32_t *x16, int32_t n, int32_t count, int32_t i, int32_t j) {
    const int32_t pairs = (count + 1) / 2, j0 = j - j % CLEF_DOT2_SCRATCH, jj = j - j0;
    const int32_t m = n - j0 < CLEF_DOT2_SCRATCH ? n - j0 : CLEF_DOT2_SCRATCH;
    const int32_t word = x16[pairs * j0 + (i / 2) * m + (jj & ~3) + (i & 1) * 2 + (jj & 1)];
    return (jj & 2) ? word >> 16 : (int32_t)(int16_t)word;
}

void clef_dot2_x16_bias(const int32_t *x16, int32_t n, const int8_t *w0, const int8_t *w1, int32_t b0, int32_t b1,
                        int32_t *acc0, int32_t *acc1, int32_t count, int32_t *scratch) {
#ifdef CLEF_DSP
    if ((n & 15) == 0 && acc1 == acc0 + CLEF_DOT2_NEAR && count > 0 && count <= CLEF_DOT2_NEAR) {
        // An odd count's last pair is its last position twice (as staged): its second sums land
        // in acc0[count] and acc1[count], inside the layout (an odd count is below CLEF_DOT2_NEAR).
        const int32_t pairs = (count + 1) / 2;
        for (int32_t j0 = 0; j0 < n; j0 += WCHUNK) {
            const int32_t m = n - j0 < WCHUNK ? n - j0 : WCHUNK;
            dot2_extend((const char *)(w0 + j0), (const char *)(w1 + j0), 1, m, scratch, 0);
            const struct x16_walk st = { x16 + pairs * j0, scratch, scratch + m, acc0, acc0 + 2 * pairs, b0, b1 };
            if (m == WCHUNK) { if (j0 == 0) x16_chunks_bias(&st); else x16_chunks_acc(&st); }
            else if (j0 == 0 && m == 32) x16_taps32_bias(&st);
            else if (j0 == 0 && m == 16) x16_taps16_bias(&st);
            else if (j0 == 0) x16_pairs_bias(&st);
            else x16_pairs_acc(&st);
        }
        return;
    }
#endif
    (void)scratch;
    for (int32_t i = 0; i < count; i++) {
        int32_t a = b0, b = b1;
        for (int32_t j = 0; j < n; j++) {
            const int32_t v = staged_tap(x16, n, count, i, j);
            a += w0[j] * v; b += w1[j] * v;
        }
        acc0[i] = a; acc1[i] = b;
    }
}

void clef_stage_rows16(const int8_t *x, int32_t rowLength, int32_t rows, int32_t stride, int32_t count, int32_t *staged) {
    const int32_t words = CLEF_STAGE_ROWS16_WORDS(count, stride);
    for (int32_t r = 0; r < rows; r++) {
        const int8_t *xr = x + r * rowLength;
        int32_t *o = staged + r * words;
        int32_t i = 0;
#ifdef CLEF_DSP
        // Four columns a word load: (x0, x2), (x1, x3) by SXTB16, then packed into the pairs
        // (PKHBT / PKHTB): 2-3 instructions a staged word instead of 14.
        if (stride == 2) {
            for (; i + 2 <= words; i += 2) {
                const int32_t v = load32(xr + 2 * i), lo = __sxtb16(v), hi = sxtb16_ror8(v);
                o[i] = pkhbt16(lo, hi);         // (x0, x1)
                o[i + 1] = pkhtb16(hi, lo);     // (x2, x3)
            }
        } else {
            for (; i + 4 <= words; i += 4) {
                const int32_t v = load32(xr + i), lo = __sxtb16(v), hi = sxtb16_ror8(v);
                o[i] = pkhbt16(lo, hi);         // (x0, x1)
                o[i + 1] = pkhbt0(hi, lo);      // (x1, x2)
                o[i + 2] = pkhtb16(hi, lo);     // (x2, x3)
                o[i + 3] = pkhbt16(hi >> 16, xr[i + 4]);   // (x3, x4)
            }
        }
#endif
        for (; i < words; i++) {
            const int32_t c = stride == 1 ? i : 2 * i;
            o[i] = (int32_t)((uint32_t)(uint16_t)(int16_t)xr[c] | (uint32_t)(uint16_t)(int16_t)xr[c + 1] << 16);
        }
    }
}

/// Tap j of output i in a staged row: the low or high half of F[i + 2 (j / 2)] or G[i + j / 2].
static inline int32_t staged_row_tap(const int32_t *row, int32_t stride, int32_t i, int32_t j) {
    const int32_t word = row[stride == 1 ? i + (j & ~1) : i + j / 2];
    return (j & 1) ? word >> 16 : (int32_t)(int16_t)word;
}

void clef_dot2_rows16_bias(const int32_t *staged, int32_t words, int32_t rows, int32_t stride, const int8_t *w0,
                           const int8_t *w1, int32_t b0, int32_t b1, int32_t *acc0, int32_t *acc1, int32_t count,
                           int32_t *scratch) {
#ifdef CLEF_DSP
    if ((rows & 3) == 0 && rows > 0 && acc1 == acc0 + CLEF_DOT2_NEAR && count > 0 && count <= CLEF_DOT2_NEAR) {
        const int32_t whole = count / 2;
        int32_t ta = b0, tb = b1;   // an odd count's last output
        for (int32_t r0 = 0; r0 < rows; r0 += 4) {
            dot2_extend((const char *)(w0 + r0 * 16), (const char *)(w1 + r0 * 16), 1, 64, scratch, 1);
            const int32_t *xr = staged + r0 * words;
            if (whole > 0) {
                // Stride 1 walks 16 words of a row by its loads, stride 2 none.
                const struct rows_walk st = { xr, scratch, 4 * words - (stride == 1 ? 64 : 0), acc0, acc0 + 2 * whole, b0, b1 };
                if (stride == 1) { if (r0 == 0) rows1_bias(&st); else rows1_acc(&st); }
                else if (r0 == 0) rows2_bias(&st);
                else rows2_acc(&st);
            }
            if (count & 1) {
                for (int32_t r = 0; r < 4; r++) {
                    const int32_t *xt = xr + r * words + (count - 1), *pw = scratch + 16 * r;
                    for (int32_t g = 0; g < 4; g++) {
                        const int32_t u = stride == 1 ? xt[4 * g] : xt[2 * g], v = stride == 1 ? xt[4 * g + 2] : xt[2 * g + 1];
                        ta = __smlad(u, pw[4 * g], ta); ta = __smlad(v, pw[4 * g + 1], ta);
                        tb = __smlad(u, pw[4 * g + 2], tb); tb = __smlad(v, pw[4 * g + 3], tb);
                    }
                }
            }
        }
        if (count & 1) { acc0[count - 1] = ta; acc1[count - 1] = tb; }
        return;
    }
#endif
    (void)scratch;
    for (int32_t i = 0; i < count; i++) {
        int32_t a = b0, b = b1;
        for (int32_t r = 0; r < rows; r++) {
            for (int32_t j = 0; j < 16; j++) {
                const int32_t v = staged_row_tap(staged + r * words, stride, i, j);
                a += w0[r * 16 + j] * v; b += w1[r * 16 + j] * v;
            }
        }
        acc0[i] = a; acc1[i] = b;
    }
}

void clef_dot_s16_s64(const int16_t *x, int32_t xs, const int16_t *w, int32_t n, int64_t *acc, int32_t count) {
#ifdef CLEF_AVX2
    if (n >= 16 && have_avx2()) { dot_s16_s64_avx2(x, xs, w, n, acc, count); return; }
#endif
#ifdef CLEF_DSP
    if (n == 16) {
        // The stem's 16 taps: the 8 weight pairs stay in registers for every output.
        const int32_t w0 = load32(w), w1 = load32(w + 2), w2 = load32(w + 4), w3 = load32(w + 6);
        const int32_t w4 = load32(w + 8), w5 = load32(w + 10), w6 = load32(w + 12), w7 = load32(w + 14);
        for (int32_t i = 0; i < count; i++) {
            const int16_t *xi = x + i * xs;
            int64_t a = acc[i];
            SUM16_S16(__smlald, a, xi, w);
            acc[i] = a;
        }
        return;
    }
#endif
    for (int32_t i = 0; i < count; i++) {
        const int16_t *xi = x + i * xs;
        int64_t a = acc[i];
        int32_t j = 0;
#ifdef CLEF_DSP
        for (; j + 2 <= n; j += 2) a = __smlald(load32(xi + j), load32(w + j), a);
#else
        // Pairs of products summed in 32 bits (each is below 2^30 in magnitude since no weight is
        // -32768), then one 64-bit addition: half the 64-bit work on a 32-bit core.
        for (; j + 2 <= n; j += 2) a += (int32_t)w[j] * xi[j] + (int32_t)w[j + 1] * xi[j + 1];
#endif
        for (; j < n; j++) a += (int32_t)w[j] * xi[j];
        acc[i] = a;
    }
}

/// Byte k (0...3) of a 32-bit word, sign-extended (one SBFX on Arm).
#define BYTE8(p, k) ((int32_t)((p) << (24 - 8 * (k))) >> 24)

void clef_dot2_s8_s32(const int8_t *w0, const int8_t *w1, const int32_t *x, int32_t n, int64_t *sums) {
    int64_t a = 0, b = 0;
    int32_t j = 0;
#ifdef CLEF_DSP
    // (Arm only: RV32 has no bit-field extract, and the shifts cost it more than the loads.)
    if ((((uintptr_t)w0 | (uintptr_t)w1) & 3) == 0) {
        // Four weights a word per row (one load instead of four), then SMLALs.
        for (; j + 4 <= n; j += 4) {
            uint32_t p, q;
            memcpy(&p, w0 + j, 4); memcpy(&q, w1 + j, 4);
            const int32_t *v = x + j;
            a += (int64_t)BYTE8(p, 0) * v[0]; a += (int64_t)BYTE8(p, 1) * v[1];
            a += (int64_t)BYTE8(p, 2) * v[2]; a += (int64_t)BYTE8(p, 3) * v[3];
            b += (int64_t)BYTE8(q, 0) * v[0]; b += (int64_t)BYTE8(q, 1) * v[1];
            b += (int64_t)BYTE8(q, 2) * v[2]; b += (int64_t)BYTE8(q, 3) * v[3];
        }
    }
#endif
    for (; j < n; j++) { int32_t v = x[j]; a += (int64_t)w0[j] * v; b += (int64_t)w1[j] * v; }
    sums[0] = a; sums[1] = b;
}
#undef BYTE8

/// Nibble k (0...7) of a 32-bit word, sign-extended (one SBFX on Arm).
#define NIB(p, k) ((int32_t)((p) << (28 - 4 * (k))) >> 28)

void clef_dot2_s4_s32(const int8_t *w0, const int8_t *w1, const int32_t *x, int32_t n, int64_t *sums) {
    int64_t a = 0, b = 0;
    const int32_t aligned = (((uintptr_t)w0 | (uintptr_t)w1) & 3) == 0;
    int32_t j = 0;
    while (j < n) {
        // 2048 products below 2^19 each: the 32-bit partial sums are exact.
        const int32_t end = n - j > 2048 ? j + 2048 : n;
        int32_t s0 = 0, s1 = 0;
        if (aligned) {
            // Eight values a pass, one word per row (j is a multiple of 8 here).
            for (; j + 8 <= end; j += 8) {
                uint32_t p, q;
                memcpy(&p, w0 + j / 2, 4); memcpy(&q, w1 + j / 2, 4);   // one LDR each (aligned)
                const int32_t *v = x + j;
                s0 += NIB(p, 0) * v[0] + NIB(p, 1) * v[1] + NIB(p, 2) * v[2] + NIB(p, 3) * v[3]
                    + NIB(p, 4) * v[4] + NIB(p, 5) * v[5] + NIB(p, 6) * v[6] + NIB(p, 7) * v[7];
                s1 += NIB(q, 0) * v[0] + NIB(q, 1) * v[1] + NIB(q, 2) * v[2] + NIB(q, 3) * v[3]
                    + NIB(q, 4) * v[4] + NIB(q, 5) * v[5] + NIB(q, 6) * v[6] + NIB(q, 7) * v[7];
            }
        }
        for (; j + 1 < end; j += 2) {
            const uint32_t p = (uint8_t)w0[j / 2], q = (uint8_t)w1[j / 2];
            s0 += NIB(p, 0) * x[j] + NIB(p, 1) * x[j + 1];
            s1 += NIB(q, 0) * x[j] + NIB(q, 1) * x[j + 1];
        }
        if (j < end) {   // an odd count's last value, alone in its byte
            s0 += NIB((uint32_t)(uint8_t)w0[j / 2], 0) * x[j];
            s1 += NIB((uint32_t)(uint8_t)w1[j / 2], 0) * x[j];
            j++;
        }
        a += s0; b += s1;
    }
    sums[0] = a; sums[1] = b;
}
#undef NIB

void clef_channel_sums_s8(const int8_t *x, int32_t m, int32_t steps, int32_t *sums) {
    int32_t c = 0;
#ifdef CLEF_DSP
    // Four channels a word: their codes as two int16 pairs (SXTB16), summed per lane (SADD16)
    // over blocks of 256 steps (|sum| <= 128 * 256 = 2^15 fits a lane exactly), then widened.
    if ((m & 3) == 0 && ((uintptr_t)x & 3) == 0) {
        for (; c + 4 <= m; c += 4) {
            int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            const int8_t *p = x + c;
            for (int32_t t = 0; t < steps; ) {
                const int32_t n = steps - t > 256 ? 256 : steps - t;
                int32_t lo = 0, hi = 0;   // lanes: channels (c, c + 2) and (c + 1, c + 3)
                for (int32_t k = 0; k < n; k++, p += m) {
                    const int32_t v = load32(p);
                    lo = __sadd16(lo, __sxtb16(v)); hi = __sadd16(hi, sxtb16_ror8(v));
                }
                s0 += (int16_t)lo; s2 += lo >> 16; s1 += (int16_t)hi; s3 += hi >> 16;
                t += n;
            }
            sums[c] = s0; sums[c + 1] = s1; sums[c + 2] = s2; sums[c + 3] = s3;
        }
    }
#endif
    for (; c < m; c++) {
        int32_t s = 0;
        const int8_t *p = x + c;
        for (int32_t t = 0; t < steps; t++, p += m) s += *p;
        sums[c] = s;
    }
}

void clef_fill2(int32_t *acc0, int32_t *acc1, int32_t b0, int32_t b1, int32_t n) {
#ifdef CLEF_DSP
    // Four copies of each bias in r4-r7 and r8-r11 (STM takes an ascending register list), then
    // two STMs per 4 steps. GCC keeps local register variables in their registers when they are
    // operands of the statement.
    if (n >= 4) {
        register int32_t x0 __asm__("r4") = b0, x1 __asm__("r5") = b0, x2 __asm__("r6") = b0, x3 __asm__("r7") = b0;
        register int32_t y0 __asm__("r8") = b1, y1 __asm__("r9") = b1, y2 __asm__("r10") = b1, y3 __asm__("r11") = b1;
        int32_t *p = acc0, *q = acc1;
        const int32_t *end = acc0 + (n & ~3);
        __asm__ volatile(
            "1:\n\t"
            "stm %[p]!, {r4, r5, r6, r7}\n\t"
            "stm %[q]!, {r8, r9, r10, r11}\n\t"
            "cmp %[p], %[end]\n\t"
            "bne 1b\n\t"
            : [p] "+&r"(p), [q] "+&r"(q)
            : [end] "r"(end), "r"(x0), "r"(x1), "r"(x2), "r"(x3), "r"(y0), "r"(y1), "r"(y2), "r"(y3)
            : "cc", "memory");
        const int32_t done = n & ~3;
        acc0 += done; acc1 += done; n -= done;
    }
#endif
    for (int32_t i = 0; i < n; i++) { acc0[i] = b0; acc1[i] = b1; }
}
