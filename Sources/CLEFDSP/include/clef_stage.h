// Output stages of the q8 / q16 engines: a convolution's int32 sums through the requantisation,
// the interpolated Swish table and the channel's requantisation into int8 / int16 codes, the
// per-element work that costs as much as the multiply-accumulates on a Cortex-M. The same
// integer operations as the Swift path (`ConvOutput.store`), so results are identical bit for
// bit; on Arm cores with the DSP extension the table loop is assembly with every constant in a
// register (the compilers' loops reload 8-9 of them per element). Embedded-clean.
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 where the engines take these stages: Arm cores with the DSP extension (the assembly loop)
/// and 64-bit hosts (measured faster there too); 0 elsewhere (RV32, whose 31 registers hold
/// the Swift loop's constants, so its one fused pass beats two).
#if (defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP) || defined(__x86_64__) || defined(__aarch64__)
#define CLEF_STAGE_PASSES 1
#else
#define CLEF_STAGE_PASSES 0
#endif

/// A table's fast path and the channel requantisation after it, folded. For an offset u with
/// 0 <= u < limit (unsigned compare): i = u >> shift, f = u & mask,
/// v = knots[i] + (((knots[i + 1] - knots[i]) * f + half) >> shift) is the table value less its
/// output zero point (`half` = 2^(shift - 1) - zero << shift, exact for shift <= 13), and the
/// code is saturate((hi32((v << pre) * mul) + term) >> rshift) (the channel's zero point in
/// `term`). A pre-shift (multipliers of 1/4 and more: q16's int16 to int16, and q8's narrow
/// channels after a shared table) comes with rshift 1 (`Requant32`'s form), which the assembly
/// takes as a constant.
typedef struct {
    const int16_t *knots;
    uint32_t limit;
    int32_t shift, mask, half;
    int32_t mul, term, rshift, pre;
} clef_swish_stage;

/// In place, u[i] = (hi32(u[i] * mul) + term) >> shift for i < n: a requantisation's fast form
/// with a folded rounding term (`Requant32.fast(_:adding:)`; |result| < 2^30 for its terms).
void clef_requant_fast(int32_t *u, int32_t n, int32_t mul, int32_t term, int32_t shift);

/// out[i] = saturate16((hi32(acc[i] * mul) + term) >> shift) for i < n: int16 codes without an
/// activation (conv3's outputs; the zero point folded into `term`).
void clef_requant_s16(const int32_t *acc, int32_t n, int32_t mul, int32_t term, int32_t shift, int16_t *out);

/// For i = 0, 1, ... while i < n and u[i] is inside the table (0 <= u[i] < limit): out[i * stride]
/// = the code of offset u[i] (`clef_swish_stage`). Returns the first i not done: n, or the first
/// offset outside, which the caller finishes (clamps, constants, the linear part) and resumes
/// after. u[n] must be writable: it holds a sentinel during the call and is restored.
int32_t clef_swish_s8(int32_t *u, int32_t n, const clef_swish_stage *st, int8_t *out, int32_t stride);
/// `clef_requant_fast(u, n, mul1, term1, rs1)` and `clef_swish_s8` in one pass, for a direct
/// table (shift 0) with output zero 0 (half 0): u holds sums; returns the first i not done, n or
/// an i whose offset (then written over u[i]; u[i + 1 ...] still hold sums) is outside the
/// table, or -1 (nothing done) where the table or the requantisation does not allow the loop's
/// end marker.
int32_t clef_swish_sums_s8(int32_t *u, int32_t n, const clef_swish_stage *st, int32_t mul1, int32_t term1, int32_t rs1,
                           int8_t *out, int32_t stride);
/// For i = 0, 1, ... while i < n and x[i * xstride] - start is inside a direct table with output
/// zero 0 (shift 0, half 0): out[i * stride] = the int8 code of that offset (`clef_swish_s8`'s
/// requantisation). Returns the first i not done (n, or an offset outside: the caller finishes it).
/// The block inputs' Swish from their int16 codes, without an offsets pass.
int32_t clef_swish_codes_s8(const int16_t *x, int32_t xstride, int32_t n, int32_t start, const clef_swish_stage *st,
                            int8_t *out, int32_t stride);
/// The same for `clef_table_s16` (the table's values themselves, the stem).
int32_t clef_table_sums_s16(int32_t *u, int32_t n, const clef_swish_stage *st, int32_t mul1, int32_t term1, int32_t rs1,
                            int16_t *out, int32_t stride);
/// clef_swish_s8 into int16 codes.
int32_t clef_swish_s16(int32_t *u, int32_t n, const clef_swish_stage *st, int16_t *out, int32_t stride);
/// clef_swish_s16 without the requantisation (mul, term and rshift unused): the table value
/// itself (less the zero point folded into `half`), an int16 code (the stem's output).
int32_t clef_table_s16(int32_t *u, int32_t n, const clef_swish_stage *st, int16_t *out, int32_t stride);

/// u[i] = x[i * stride] - start for i < n: a block's int16 input codes (one channel of a
/// time-major chunk) as offsets into its Swish table.
void clef_offsets_s16(const int16_t *x, int32_t stride, int32_t n, int32_t start, int32_t *u);
/// u[i] = base + step * E(x[i * stride]) for i < n (wrapping), E the companding of int8 block
/// outputs (`Companding.expand`: E(c) = c within the knee, 2^shift steps a code beyond): int8
/// input codes as table offsets (base = zInput - start + n m, step = n).
void clef_offsets_s8(const int8_t *x, int32_t stride, int32_t n, int32_t base, int32_t step, int32_t knee, int32_t shift,
                     int32_t *u);
/// out[j * cin + c] = lut[c * 256 + 128 + x[j * cin + c]] for j < steps, c < cin: int8 block
/// inputs through their channel's table of all 256 codes (q8's `QuantBlock.inputLUT`, the
/// block's Swish of its int8 inputs precomputed by the exporter, checked at load). On Arm with
/// DSP, four channels a word (cin a multiple of 4, x and out 4-byte aligned): 4 instructions a
/// code, where the offsets and the interpolated table took about 25.
void clef_lut_s8(const int8_t *x, int32_t steps, int32_t cin, const int8_t *lut, int8_t *out);
/// u[i] = base + ((hi32(((x[i * stride] - zero) << pre) * mul) + add) >> shift) for i < n
/// (`Requant32.fast`, wrapping): per-channel int16 input codes mapped onto the table's grid
/// (q16's `inputChannels`) as table offsets (base = zInput - start).
void clef_offsets_grid_s16(const int16_t *x, int32_t stride, int32_t n, int32_t zero, int32_t pre, int32_t mul, int32_t add,
                           int32_t shift, int32_t base, int32_t *u);

/// The residual of a block with int8 outputs (q8's first blocks; `QuantEncoder.residual`'s fast
/// steps, one output channel): for j = 0, 1, ... while j < n, v the max of the block input's codes
/// x[j * pool * cin + k * cin] over k < pool (int8 codes compare as their values do),
///   s = the shortcut's int16 code offset, pre-shifted: int16 inputs (v - zero) << pre; int8 inputs
///       v * step + zero (step = n_in << pre, zero = (m_in n_in) << pre: (m_in + E(v)) n_in << pre
///       while |v| <= knee, where the companding E is the identity),
///   u = (hi32((g[j] + ((hi32(s * imul) + iadd) >> 1)) * omul) + oterm) >> oshift (the shortcut's
///       requantisation in its pre-shift form, whose final shift is 1; the output's with its -m
///       folded into oterm),
///   out[j] = u while |u| <= knee (the output companding is the identity there too).
/// Returns the first j not done: n, or a j whose v (int8 inputs) or u is beyond the knee, which
/// the caller finishes and resumes after. On Arm with DSP, assembly for cin 32 and 64 (the
/// models' first widths: 19 and 21 instructions an element for int16 and int8 inputs, against
/// 31-37 for the Swift loop, whose 14 constants do not fit the registers); C elsewhere, which the
/// engine takes on 32-bit Arm only (x86-64 vectorises its own loops: through the C ones a host q8
/// window measured 2.5% slower).
typedef struct {
    int32_t zero, step, pre;
    int32_t imul, iadd;
    int32_t omul, oterm, oshift;
    int32_t knee;
} clef_residual_stage;
/// The same for an output channel without a shortcut (the block input's channels are zero-padded
/// to the output's): out[j] = u = (hi32(g[j] * omul) + oterm) >> oshift while |u| <= knee; returns
/// the first j not done.
int32_t clef_residual_none(const int16_t *g, int32_t n, const clef_residual_stage *st, int8_t *out);
int32_t clef_residual_s16(const int16_t *x, int32_t cin, int32_t pool, const int16_t *g, int32_t n,
                          const clef_residual_stage *st, int8_t *out);
int32_t clef_residual_s8(const int8_t *x, int32_t cin, int32_t pool, const int16_t *g, int32_t n,
                         const clef_residual_stage *st, int8_t *out);

/// The same shortcut for int16 outputs with one scale per tensor (q8's block 2: int8 inputs, int16
/// outputs; `QuantEncoder.residual`'s fast steps, one output channel), in place in conv3's gated
/// row g: g[j] = sat16(g[j] + ((hi32(s * imul) + iadd) >> 1)), s as above and the output zero
/// point folded into iadd (omul, oterm and oshift unused). Returns the first j not done: n, or a
/// j whose v is beyond the knee. Assembly for cin 32 and 64 on Arm with DSP (16 instructions an
/// element, the Swift loop's 27), C elsewhere.
int32_t clef_residual_s8_s16(const int8_t *x, int32_t cin, int32_t pool, int16_t *g, int32_t n, const clef_residual_stage *st);

/// The residual of a block with int16 inputs and outputs and one scale per tensor (q8's later
/// blocks; `QuantEncoder.residual`'s fast steps), time-major, straight into the block output
/// (which `QuantEncoder` otherwise transposes from conv3's channel rows): for every step j < n
/// and output channel c < cout, with g = h[c * hs + j] (conv3's gated term),
///   y[j * cout + c] = sat16(g + ((hi32(((v - zx) << pre) * mul) + term) >> shift)) where v is
///   the max of x[j * pool * cin + k * cin + c - offset] over k < pool (channels c - offset
///   inside [0, cin)), and term is the shortcut requantisation's rounding term with the output
///   zero point folded in (`Requant32.adding`),
///   y[j * cout + c] = sat16(g + zy) for the channels without a shortcut (the input's are
///   zero-padded to the output's). `mul` 0: the identity shortcut (a multiplier of exactly 1,
///   q8's blocks on the shared table's grid), g + (v - zx) + zy.
/// A step's outputs go to `buf` (cout int16) first and then to y: y may overlap the inputs of
/// its own step (`QuantArenaPlan.outputShift` only keeps it off later steps' inputs).
typedef struct {
    int32_t zx, pre, mul, term, shift, zy;
} clef_residual16_stage;
void clef_residual_t16(const int16_t *h, int32_t hs, const int16_t *x, int32_t cin, int32_t pool, int32_t n, int32_t cout,
                       int32_t offset, const clef_residual16_stage *st, int16_t *buf, int16_t *y);

#ifdef __cplusplus
}
#endif
