// Constant tables kept in flash on a device (tables.c): pointers, since Swift imports a C array
// as a tuple.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/// The training band-pass as 5 second-order sections, 25 doubles (b0, b1, b2, a1, a2 each).
const double *clef_bandpass_sections(void);
/// The same filter's transfer function: 11 numerator and 11 denominator doubles.
const double *clef_bandpass_b(void);
const double *clef_bandpass_a(void);

#ifdef __cplusplus
}
#endif
