// Integer dot-product kernels for the q8 / q16 engines. On Arm cores with the DSP extension
// (Cortex-M4/M7/M33) they use the ACLE dual 16-bit multiply-accumulates (SMLAD, SMLALD) on
// sign-extended byte pairs (SXTB16); elsewhere a portable C loop. Integer sums are exact, so both
// give the same results bit for bit. Embedded-clean: no allocation, no libc.
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// int32 words of the scratch the dot2 kernels take (where the DSP path keeps the weights
/// sign-extended; 4-byte aligned, not overlapping anything else).
#define CLEF_DOT2_SCRATCH 64

/// Words between acc0 and acc1 in the engines' callers (their two chunks of sums, QuantConv.chunk
/// steps each): the Arm pair loop reaches acc1 by this immediate offset when it holds.
#define CLEF_DOT2_NEAR 64

/// For i in 0..<count: acc0[i] += sum_{j<n} w0[j] * x[i*xs + j], and the same for w1 / acc1
/// (two output channels sharing the input). int8 x int8 into int32. `scratch`: CLEF_DOT2_SCRATCH words.
void clef_dot2_s8(const int8_t *x, int32_t xs, const int8_t *w0, const int8_t *w1, int32_t n,
                  int32_t *acc0, int32_t *acc1, int32_t count, int32_t *scratch);

/// clef_dot2_s8 over `rows` input rows `rowLength` apart, each with its own `k` weights (w0 and w1
/// hold rows x k): a grouped convolution's whole group of input channels in one call, so the DSP
/// path keeps its sums in registers across the rows (for k = 16).
void clef_dot2_rows_s8(const int8_t *x, int32_t rowLength, int32_t rows, int32_t xs, const int8_t *w0, const int8_t *w1,
                       int32_t k, int32_t *acc0, int32_t *acc1, int32_t count, int32_t *scratch);

/// As clef_dot2_s8 with int16 inputs (int16 x int8 into int32: the caller keeps the number of
/// terms per sum below 512 so it cannot overflow).
void clef_dot2_s16s8(const int16_t *x, int32_t xs, const int8_t *w0, const int8_t *w1, int32_t n,
                     int32_t *acc0, int32_t *acc1, int32_t count, int32_t *scratch);

/// clef_dot2_rows_s8 with int16 inputs (the caller keeps rows x k below 512).
void clef_dot2_rows_s16s8(const int16_t *x, int32_t rowLength, int32_t rows, int32_t xs, const int8_t *w0,
                          const int8_t *w1, int32_t k, int32_t *acc0, int32_t *acc1, int32_t count, int32_t *scratch);

/// As clef_dot2_s8 with int16 inputs and int16 weights into int32: only for sums the caller has
/// bounded below 2^31 in magnitude, every partial sum included (|acc| + max|x| sum|w| < 2^31), and
/// no weight -32768.
void clef_dot2_s16s16(const int16_t *x, int32_t xs, const int16_t *w0, const int16_t *w1, int32_t n,
                      int32_t *acc0, int32_t *acc1, int32_t count, int32_t *scratch);

/// The five kernels above with the sums started at the channels' biases (acc0[i] = b0 + ...,
/// acc1[i] = b1 + ...) instead of added to: on Arm with DSP and the engines' layout (acc1 = acc0 +
/// CLEF_DOT2_NEAR) the pair loop loads the biases where it would load the sums, so nothing fills
/// them first (clef_fill2, 0.57 M instructions of a Cortex-M4F q8 window).
void clef_dot2_s8_bias(const int8_t *x, int32_t xs, const int8_t *w0, const int8_t *w1, int32_t n, int32_t b0, int32_t b1,
                       int32_t *acc0, int32_t *acc1, int32_t count, int32_t *scratch);
void clef_dot2_rows_s8_bias(const int8_t *x, int32_t rowLength, int32_t rows, int32_t xs, const int8_t *w0, const int8_t *w1,
                            int32_t k, int32_t b0, int32_t b1, int32_t *acc0, int32_t *acc1, int32_t count, int32_t *scratch);
void clef_dot2_s16s8_bias(const int16_t *x, int32_t xs, const int8_t *w0, const int8_t *w1, int32_t n, int32_t b0, int32_t b1,
                          int32_t *acc0, int32_t *acc1, int32_t count, int32_t *scratch);
void clef_dot2_rows_s16s8_bias(const int16_t *x, int32_t rowLength, int32_t rows, int32_t xs, const int8_t *w0,
                               const int8_t *w1, int32_t k, int32_t b0, int32_t b1, int32_t *acc0, int32_t *acc1,
                               int32_t count, int32_t *scratch);
void clef_dot2_s16s16_bias(const int16_t *x, int32_t xs, const int16_t *w0, const int16_t *w1, int32_t n, int32_t b0,
                           int32_t b1, int32_t *acc0, int32_t *acc1, int32_t count, int32_t *scratch);

/// Stages `count` positions of int8 inputs (x[i*xs + j], j < n, n a multiple of 4) for
/// clef_dot2_x16_bias, as int16 pairs in the order its loads take them: per chunk of
/// CLEF_DOT2_SCRATCH taps, per pair of positions (2p, 2p + 1; an odd count's last position
/// repeated), per 4 taps: position 2p's pairs (x0, x2), (x1, x3), then position 2p + 1's.
/// Writes CLEF_STAGE_X16_WORDS(n, count) words (4-byte aligned). Staged once, an input serves
/// every pair of output channels without being sign-extended again.
#define CLEF_STAGE_X16_WORDS(n, count) ((((count) + 1) / 2) * (n))
void clef_stage_x16(const int8_t *x, int32_t xs, int32_t n, int32_t count, int32_t *x16);

/// clef_dot2_s8_bias on inputs staged by clef_stage_x16 (same n and count): acc0[i] = b0 +
/// sum_{j<n} w0[j] * x[i*xs + j] for i < count, and the same for w1 / acc1. On Arm with DSP, for n
/// a multiple of 16, count <= CLEF_DOT2_NEAR and the engines' layout (acc1 = acc0 +
/// CLEF_DOT2_NEAR), 10 instructions per 16 MACs in the loop instead of the int8 tile's 16; an odd
/// count there also overwrites acc0[count] and acc1[count] (the staged copy of the last output).
void clef_dot2_x16_bias(const int32_t *x16, int32_t n, const int8_t *w0, const int8_t *w1, int32_t b0, int32_t b1,
                        int32_t *acc0, int32_t *acc1, int32_t count, int32_t *scratch);
/// Stages the `rows` int8 input rows (`rowLength` apart) of a k = 16, stride 1 or 2 grouped
/// convolution's `count` outputs (output i reads columns i * stride ... i * stride + 15) for
/// clef_dot2_rows16_bias, as int16 pairs, CLEF_STAGE_ROWS16_WORDS(count, stride) words a row:
/// stride 1 F[c] = (x[c], x[c + 1]) for every column c (output i's taps are F[i], F[i + 2], ...;
/// output i + 1's F[i + 1], F[i + 3], ...: one run of words for both), stride 2 G[c] = (x[2c],
/// x[2c + 1]) (output i's taps are G[i ... i + 7]).
#define CLEF_STAGE_ROWS16_WORDS(count, stride) ((count) + ((stride) == 1 ? 14 : 7))
void clef_stage_rows16(const int8_t *x, int32_t rowLength, int32_t rows, int32_t stride, int32_t count, int32_t *staged);

/// clef_dot2_rows_s8_bias with k = 16 on rows staged by clef_stage_rows16 (`words` apart, as
/// staged; output i's words start at word i of each row, so `staged` may point at a later
/// output's). On Arm with DSP, for rows a multiple of 4, count <= CLEF_DOT2_NEAR and the engines'
/// layout (acc1 = acc0 + CLEF_DOT2_NEAR), 10 instructions per 16 MACs in the loop instead of the
/// int8 tile's 16.
void clef_dot2_rows16_bias(const int32_t *staged, int32_t words, int32_t rows, int32_t stride, const int8_t *w0,
                           const int8_t *w1, int32_t b0, int32_t b1, int32_t *acc0, int32_t *acc1, int32_t count,
                           int32_t *scratch);

/// 1 where clef_dot2_x16_bias and clef_dot2_rows16_bias have their DSP pair loops (elsewhere
/// staging only costs: the engines stage their inputs only where this says so).
static inline int32_t clef_dot2_x16_fast(void) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    return 1;
#else
    return 0;
#endif
}

/// For i in 0..<count: acc[i] += sum_{j<n} w[j] * x[i*xs + j], int16 x int16 into int64. No
/// weight may be -32768 (the AVX2 path's pair sums are exact int32 only then).
void clef_dot_s16_s64(const int16_t *x, int32_t xs, const int16_t *w, int32_t n, int64_t *acc, int32_t count);

/// sums[0] = sum_{j<n} w0[j] * x[j] and sums[1] the same for w1, int8 x int32 into int64 (one
/// SMLAL each on a 32-bit Arm core, four weights a word load where the rows are aligned), each x
/// loaded once for both rows.
void clef_dot2_s8_s32(const int8_t *w0, const int8_t *w1, const int32_t *x, int32_t n, int64_t *sums);
/// sums[c] = sum_{t<steps} x[t * m + c] for c < m: the squeeze-excitation's per-channel sums of
/// int8 codes, time-major (on Arm with DSP four channels a word, SXTB16 + SADD16).
void clef_channel_sums_s8(const int8_t *x, int32_t m, int32_t steps, int32_t *sums);
/// The same for rows of 4-bit weights (two a byte, the even element in the low nibble; the
/// squeeze-excitation linears' `i4` tensors) and |x| <= 2^16.
void clef_dot2_s4_s32(const int8_t *w0, const int8_t *w1, const int32_t *x, int32_t n, int64_t *sums);

/// acc0[i] = b0 and acc1[i] = b1 for i < n: two channels' sums started at their biases before the
/// dot products add to them (on Arm: 8 words a store-multiple, a quarter of the Swift loop's
/// instructions).
void clef_fill2(int32_t *acc0, int32_t *acc1, int32_t b0, int32_t b1, int32_t n);

#ifdef __cplusplus
}
#endif
