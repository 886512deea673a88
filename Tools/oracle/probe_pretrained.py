"""Issue 5's real run, evaluated: loss curves of the Swift and PyTorch pretraining runs side by side
(plot + window means), and the same linear probes on both encoders and on a randomly initialised
one: heart rate (ridge, leave-one-record-out MAE in bpm, on hr_windows) and AF (logistic regression,
leave-one-record-out balanced accuracy, on af_windows). Every model is loaded with
torch.load(weights_only=True) and embedded in float64 by the oracle's encoder.

  /root/.cache/clef-oracle-venv/bin/python Tools/oracle/probe_pretrained.py ../shared SWIFT_RUN TORCH_RUN [--plot docs/pretrain-loss.png]

SWIFT_RUN holds last.ckpt and loss.csv (bash Tools/pretrain_realecg.sh); TORCH_RUN holds
clef_small_realecg.ckpt and loss.csv (Tools/oracle/pretrain_logged.py).
"""
import argparse, copy, csv, sys, warnings, logging
from pathlib import Path
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("shared"); ap.add_argument("swift_run"); ap.add_argument("torch_run")
ap.add_argument("--plot", default=None); ap.add_argument("--seed", type=int, default=11)
a = ap.parse_args()
sys.path.insert(0, str(Path(a.shared).resolve() / "oracle"))
warnings.filterwarnings("ignore"); logging.disable(logging.WARNING)
import torch  # noqa: E402
import clef_ref as cr, hr_windows as hw, af_windows as aw  # noqa: E402
from ort_anchor import load  # noqa: E402
from sklearn.linear_model import Ridge, LogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

def losses(path):
    return np.array([float(r["loss"]) for r in csv.DictReader(open(path))])

sw, tw = losses(Path(a.swift_run) / "loss.csv"), losses(Path(a.torch_run) / "loss.csv")
print(f"steps: swift {len(sw)}, torch {len(tw)}")
for lo, hi in ((0, 100), (400, 500), (900, 1000), (1400, 1500)):
    s, t = sw[lo:hi].mean(), tw[lo:hi].mean()
    print(f"mean loss steps {lo + 1}-{hi}: swift {s:.4f}  torch {t:.4f}  swift/torch {s / t:.3f}")
if a.plot:
    import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
    def ma(x, k=50): return np.convolve(x, np.ones(k) / k, mode="valid")
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for x, name, c in ((tw, "PyTorch oracle", "tab:orange"), (sw, "Swift (clef train)", "tab:blue")):
        ax.plot(np.arange(1, len(x) + 1), x, color=c, alpha=0.18, lw=0.8)
        ax.plot(np.arange(50, len(x) + 1), ma(x), color=c, lw=2, label=f"{name}, 50-step mean")
    ax.set_xlabel("step (32 pairs)"); ax.set_ylabel("InfoNCE loss (T = 0.07)"); ax.set_ylim(0, 2.5)
    ax.set_title("CLEF-small pretraining on shared/data/ecg, same recipe (lr 1e-3, cosine restarts per 100 steps)")
    ax.title.set_fontsize(9); ax.legend(); ax.grid(alpha=0.3); fig.tight_layout(); fig.savefig(a.plot, dpi=110)
    print(f"wrote {a.plot}")

torch.manual_seed(a.seed)
models = {"swift-pretrained": load(str(Path(a.swift_run) / "last.ckpt")),
          "torch-pretrained": load(str(Path(a.torch_run) / "clef_small_realecg.ckpt")),
          "random init": cr.build_encoder("small").eval()}

def embed(m, X):
    m = copy.deepcopy(m).double()
    with torch.no_grad():
        return np.concatenate([m(torch.from_numpy(X[i:i + 64, None, :]).double()).numpy() for i in range(0, len(X), 64)])

def loro(E, y, rec, make, score):
    pred = np.zeros(len(y), dtype=float)
    for r in np.unique(rec):
        te = rec == r
        if len(np.unique(y[~te])) < 2 and make is not None and score == "bacc":
            pred[te] = y[~te][0]; continue
        pred[te] = make().fit(E[~te], y[~te]).predict(E[te])
    return pred

Xh, yh, rh = hw.hr_windows(); Xa, ya, ra = aw.af_windows()
print(f"HR windows {len(yh)} from {len(np.unique(rh))} records; AF windows {len(ya)} ({int(ya.sum())} AF) from {len(np.unique(ra))} records")
base = np.concatenate([np.full((rh == r).sum(), yh[rh != r].mean()) for r in np.unique(rh)])
order = np.concatenate([np.where(rh == r)[0] for r in np.unique(rh)])
print(f"HR baseline (predict the training mean): LORO MAE {np.abs(base - yh[order]).mean():.2f} bpm")

def bacc(y, p):
    return 0.5 * (((p == 1) & (y == 1)).sum() / max(1, (y == 1).sum()) + ((p == 0) & (y == 0)).sum() / max(1, (y == 0).sum()))

for name, m in models.items():
    Eh, Ea = embed(m, Xh), embed(m, Xa)
    ph = loro(Eh, yh, rh, lambda: make_pipeline(StandardScaler(), Ridge(alpha=10.0)), "mae")
    pa = loro(Ea, ya, ra, lambda: make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000, class_weight="balanced")), "bacc")
    print(f"{name:17s} HR LORO MAE {np.abs(ph - yh).mean():6.2f} bpm | AF LORO balanced accuracy {bacc(ya, pa.round().astype(int)):.3f}")
