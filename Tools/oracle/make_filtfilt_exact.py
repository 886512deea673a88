"""Exact-arithmetic reference for filtfilt (Fixtures/preprocess/E07500_leadI_filtfilt_exact.f64).

scipy's filtfilt with the tf-form 10th-order band-pass (poles near z = 1) amplifies float64
rounding: scipy on this machine differs from the shared fixture by 3.3e-4 of the signal range,
because lfilter_zi's LAPACK solve and lfilter's recursion round differently per build. This script
runs the same algorithm (odd extension, padlen 33, lfilter_zi steady state, forward-backward
DF2T) with the same float64 coefficients in 50-digit arithmetic, so implementations can be
compared with the mathematically defined result.
  python3 Tools/oracle/make_filtfilt_exact.py     (needs scipy and mpmath)
"""
from pathlib import Path
import numpy as np
import mpmath
import scipy.signal as s

mpmath.mp.dps = 50
root = Path(__file__).resolve().parents[2] / "Fixtures"
d = np.fromfile(root / "ecg/cinc2021/E07500.mat", "<i2", offset=24).reshape(-1, 12)[:, 0].astype(np.float64) / 1000
b, a = s.butter(5, [0.67, 40], btype="bandpass", fs=500)
bm = [mpmath.mpf(float(v)) for v in b]
am = [mpmath.mpf(float(v)) for v in a]
n = len(a) - 1
M = mpmath.eye(n)
for i in range(n):
    M[i, 0] += am[i + 1]
for i in range(n - 1):
    M[i, i + 1] -= 1
zi = mpmath.lu_solve(M, mpmath.matrix([bm[i + 1] - am[i + 1] * bm[0] for i in range(n)]))
zi = [zi[i] for i in range(n)]


def lfilt(x, z0):
    z = list(z0)
    out = []
    for xi in x:
        yi = bm[0] * xi + z[0]
        for j in range(n - 1):
            z[j] = bm[j + 1] * xi + z[j + 1] - am[j + 1] * yi
        z[n - 1] = bm[n] * xi - am[n] * yi
        out.append(yi)
    return out


pad = 33
x = [mpmath.mpf(float(v)) for v in d]
ext = [2 * x[0] - x[pad - i] for i in range(pad)] + x + [2 * x[-1] - x[-2 - i] for i in range(pad)]
y1 = lfilt(ext, [z * ext[0] for z in zi])
y2 = lfilt(y1[::-1], [z * y1[-1] for z in zi])[::-1][pad:-pad]
y = np.array([float(v) for v in y2])
y.astype("<f8").tofile(root / "preprocess/E07500_leadI_filtfilt_exact.f64")
print("zi", [float(v) for v in zi])
print("scipy vs exact", abs(s.filtfilt(b, a, d) - y).max(), "range", y.max() - y.min())
