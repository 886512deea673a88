// Constant tables that firmware keeps in flash: Swift's array literals are mutable objects
// (a reference count in their header), so an Embedded Swift image places them in RAM, once per
// module that inlines them. The band-pass filters CLEF trains with, as scipy's exact float64
// values (`CLEFBandpass` reads them; `SignalDataTests` checks them bit for bit).
#include "clef_tables.h"

/// `scipy.signal.butter(5, [0.67, 40], btype='bandpass', fs=500, output='sos')`: b0, b1, b2, a1,
/// a2 per section.
static const double sections64[25] = {
    0x1.dca75bdaadf1bp-12, 0x1.dca75bdaadf1bp-11, 0x1.dca75bdaadf1bp-12, -0x1.476ee41862b65p+0, 0x1.ce55b35a776cap-2,
    1, 2, 1, -0x1.8876a2eb8e54dp+0, 0x1.7f05a5221cc9ap-1,
    1, 0, -1, -0x1.97f92ca138c60p+0, 0x1.31b6644c1c502p-1,
    1, -2, 1, -0x1.fc7c32aa3bcdfp+0, 0x1.f90206ffeda79p-1,
    1, -2, 1, -0x1.feb03d10be8b7p+0, 0x1.fd69ccc734c1fp-1,
};
/// `scipy.signal.butter(5, [0.67, 40], btype='bandpass', fs=500)`: numerator and denominator.
static const double tf_b[11] = {
    0x1.dca75bdaadf1bp-12, 0x0.0p+0, -0x1.29e89968acb71p-9, 0x0.0p+0, 0x1.29e89968acb71p-8, 0x0.0p+0,
    -0x1.29e89968acb71p-8, 0x0.0p+0, 0x1.29e89968acb71p-9, 0x0.0p+0, -0x1.dca75bdaadf1bp-12,
};
static const double tf_a[11] = {
    0x1.0000000000000p+0, -0x1.0c61646c04855p+3, 0x1.fb8fa3ad51b74p+4, -0x1.1d2e91b584ee2p+6,
    0x1.a5ec40d4a9e94p+6, -0x1.ad81985dab3d9p+6, 0x1.30bace519593cp+6, -0x1.299d7bc547721p+5,
    0x1.7ef24809d79c5p+3, -0x1.251ae65f77b45p+1, 0x1.95554702af6e6p-3,
};

const double *clef_bandpass_sections(void) { return sections64; }
const double *clef_bandpass_b(void) { return tf_b; }
const double *clef_bandpass_a(void) { return tf_a; }
