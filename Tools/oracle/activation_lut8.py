"""What an 8-bit lookup-table Swish (TFLM's design: int8 pre-activation per tensor -> int8 output)
would cost the bundled model's fidelity, against the activation coding q8 uses now (the
pre-activation kept at table-offset precision, the Swish output int8 per channel). Issue 6's
1.5 instructions per MAC needs about 5 M instructions less per-element work than q8's
(docs/firmware.md): this measures whether the cheaper activation is affordable before anyone
builds it.

  /root/.cache/clef-oracle-venv/bin/python Tools/oracle/activation_lut8.py ../shared [--ckpt Fixtures/clef-small-realecg/clef_small_realecg_swift.ckpt]

Float simulation with the PyTorch oracle (fake quantisation at the convolutions' Swish modules;
the squeeze-excitation's Swish is left in float, as q8 keeps it in 32-bit codes): only the
activation coding differs between the rows, weights stay float, so each row is the error that
coding alone adds. Calibration: windows of the model's training records (every record but each
fifth, as it was trained); evaluation: the held-back records' windows, as
shared/oracle/pretrain_realecg.py takes them, against the float64 model.
"""
import argparse, sys
from pathlib import Path
import numpy as np
import torch

ap = argparse.ArgumentParser()
ap.add_argument("shared")
ap.add_argument("--ckpt", default=str(Path(__file__).resolve().parents[2] / "Fixtures/clef-small-realecg/clef_small_realecg_swift.ckpt"))
ap.add_argument("--calibration-per-record", type=int, default=4)
a = ap.parse_args()
sys.path.insert(0, str(Path(a.shared).resolve() / "oracle"))
import clef_ref as cr  # noqa: E402
import ecg_windows as ew  # noqa: E402

torch.set_num_threads(2)
state = torch.load(a.ckpt, map_location="cpu", weights_only=True)["state_dict"]
model = cr.ContrastiveModel(size="small", loss="infonce", lr=1e-3)
missing, unexpected = model.load_state_dict(state, strict=False)
if [k for k in missing if k.startswith("backbone.")] or unexpected:
    sys.exit(f"{a.ckpt}: state_dict does not match CLEF-small (missing {missing[:3]}, unexpected {unexpected[:3]})")
net = model.backbone.eval()

# Records split as the model was trained: every fifth held back.
recs = list(ew.records())
train = [ew.bandpass(np.nan_to_num(x)) for i, (n, x, _) in enumerate(recs) if i % 5 != 0 and len(x) >= ew.WIN]
held = [(n, ew.bandpass(np.nan_to_num(x))) for i, (n, x, _) in enumerate(recs) if i % 5 == 0 and len(x) >= ew.WIN]
cal = []
for x in train:
    starts = np.linspace(0, len(x) - ew.WIN, a.calibration_per_record).astype(int)
    cal += [ew.zscore(x[s:s + ew.WIN]).astype(np.float32) for s in sorted(set(starts))]
xs = []
for n, x in held:
    k = 0
    for s in range(0, len(x) - ew.WIN + 1, 2500):
        xs.append(ew.zscore(x[s:s + ew.WIN]).astype(np.float32)); k += 1
        if k >= 8:
            break
C = torch.from_numpy(np.stack(cal)[:, None, :])
X = torch.from_numpy(np.stack(xs)[:, None, :])

# The Swish modules of the convolutions (the stem's and each block's activation1-3).
acts = [(name, m) for name, m in net.named_modules() if isinstance(m, cr.Swish) and "se_activation" not in name]

# Calibration statistics of each Swish's input (per tensor, with a sample for the clipping
# search) and output (per channel).
stats = {}


def collect(name):
    def hook(m, inp, out):
        x, y = inp[0].detach(), out.detach()
        s = stats.setdefault(name, dict(xlo=np.inf, xhi=-np.inf, ylo=None, yhi=None, sample=[]))
        s["xlo"] = min(s["xlo"], x.min().item()); s["xhi"] = max(s["xhi"], x.max().item())
        lo, hi = y.amin(dim=(0, 2)).numpy(), y.amax(dim=(0, 2)).numpy()
        s["ylo"] = lo if s["ylo"] is None else np.minimum(s["ylo"], lo)
        s["yhi"] = hi if s["yhi"] is None else np.maximum(s["yhi"], hi)
        flat = x.flatten().numpy()
        s["sample"].append(flat[np.random.default_rng(0).integers(0, len(flat), 20000)])
    return hook


hs = [m.register_forward_hook(collect(n)) for n, m in acts]
with torch.no_grad():
    for i in range(0, len(C), 32):
        net(C[i:i + 32])
for h in hs:
    h.remove()
acts = [(n, m) for n, m in acts if n in stats]     # (block 0's input has no Swish: it never ran)


def fq(x, lo, hi):
    """Asymmetric 8-bit fake quantisation of x over [lo, hi] (broadcast: per tensor or channel)."""
    lo, hi = torch.as_tensor(lo, dtype=x.dtype), torch.as_tensor(hi, dtype=x.dtype)
    scale = (hi - lo) / 255.0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.round((x - lo) / scale), 0, 255)
    return q * scale + lo


def mse_range(sample, lo, hi):
    """The clipped range (lo a, hi a) of least squared error on the calibration sample."""
    t = torch.from_numpy(np.concatenate(sample)).double()
    best = None
    for alpha in np.linspace(1.0, 0.3, 36):
        err = ((fq(t, lo * alpha, hi * alpha) - t) ** 2).mean().item()
        if best is None or err < best[0]:
            best = (err, alpha)
    return lo * best[1], hi * best[1]


def run(mode):
    hooks = []
    for name, m in acts:
        s = stats[name]
        ylo = torch.from_numpy(s["ylo"]).double()[None, :, None]
        yhi = torch.from_numpy(s["yhi"]).double()[None, :, None]
        if mode == "lut8-mse":
            xlo, xhi = mse_range(s["sample"], s["xlo"], s["xhi"])
        else:
            xlo, xhi = s["xlo"], s["xhi"]

        def pre(mod, inp, xlo=xlo, xhi=xhi):
            return (fq(inp[0], xlo, xhi),)

        def post(mod, inp, out, ylo=ylo, yhi=yhi):
            if mode in ("out8-channel", "lut8-in-only"):
                return fq(out, ylo, yhi)
            return fq(out, ylo.min(), yhi.max())      # the LUT's codes: one scale per tensor

        if mode.startswith("lut8"):        # (lut8-in-only: the pre-activation alone, output per channel)
            hooks.append(m.register_forward_pre_hook(pre))
        hooks.append(m.register_forward_hook(post))
    with torch.no_grad():
        got = net.double()(X.double()).numpy()
    for h in hooks:
        h.remove()
    return got


with torch.no_grad():
    ref = net.double()(X.double()).numpy()
print(f"{a.ckpt}: {len(acts)} Swish stages quantised; calibration {len(C)} windows of {len(train)} training records, "
      f"evaluation {len(X)} windows of {len(held)} held-back records, against float64")
for mode, what in (("out8-channel", "q8's coding: pre-activation exact, output int8 per channel"),
                   ("lut8-minmax", "8-bit LUT: pre-activation int8 per tensor (min/max), output int8 per tensor"),
                   ("lut8-mse", "8-bit LUT: pre-activation int8 per tensor (least-squares clip), output int8 per tensor"),
                   ("lut8-in-only", "pre-activation int8 per tensor (min/max), output int8 per channel: a LUT to int16 values "
                                    "then q8's per-channel requantisation")):
    got = run(mode)
    rl2 = np.linalg.norm(ref - got, axis=1) / np.linalg.norm(ref, axis=1)
    cos = (ref * got).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(got, axis=1)
    print(f"{mode:13s} rel-L2 mean {rl2.mean() * 100:6.3f}% worst {rl2.max() * 100:6.3f}% | cos worst {cos.min():.5f}  ({what})")
