"""scipy's sosfiltfilt (float64) of E07500 lead I with the training band-pass as sections, for the
float32 device preprocessing test.  python3 Tools/oracle/make_sosfiltfilt.py  (needs scipy)"""
from pathlib import Path
import numpy as np
from scipy.signal import butter, sosfiltfilt
root = Path(__file__).resolve().parents[2]
x = np.fromfile(root / "Fixtures/ecg/cinc2021/E07500.mat", "<i2", offset=24).reshape(-1, 12)[:, 0] / 1000.0
sos = butter(5, [0.67, 40], btype="bandpass", fs=500, output="sos")
sosfiltfilt(sos, x).astype("<f8").tofile(root / "Fixtures/preprocess/E07500_leadI_sosfiltfilt.f64")
