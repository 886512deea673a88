"""Fidelity of the Swift engines (f16, q8, q16) against float, side by side with the ONNX Runtime
and torch-half anchors, on a CLEF-small pretrained on real ECG (../shared/oracle/pretrain_realecg.py).

  /root/.cache/clef-oracle-venv/bin/python Tools/oracle/fidelity.py ../shared /tmp/clef-realecg [--clef .build/release/clef]

Calibration: windows of the model's training records only (its manifest); evaluation: the
held-back records' windows (inputs.f32) against torch float64 (embeddings64.f32), and the
heart-rate probe of downstream_anchor.py (ridge on float64 embeddings of hr_windows).
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("shared"); ap.add_argument("model_dir")
ap.add_argument("--clef", default=str(Path(__file__).resolve().parents[2] / ".build/release/clef"))
ap.add_argument("--methods", default="minmax,percentile,mse")
ap.add_argument("--skip-anchors", action="store_true")
ap.add_argument("--extra", default="", help="extra clef export options for q8/q16, e.g. '--table-shift 7'")
ap.add_argument("--only", default="f16,q16,q8")
a = ap.parse_args()
shared = Path(a.shared).resolve(); md = Path(a.model_dir).resolve()
sys.path.insert(0, str(shared / "oracle"))
import hr_windows as hw  # noqa: E402

ckpt = md / "clef_small_realecg.ckpt"
man = json.load(open(md / "manifest.json"))
data = shared / "data/ecg"


def rec_path(n):
    if n.endswith(".mat"):
        return str(data / "cinc2021" / n[:-4])
    return str(data / n)


train = [rec_path(n) for n in man["train_records"]]
X = np.fromfile(md / "inputs.f32", "<f4").reshape(-1, 1, 5000)
ref64 = np.fromfile(md / "embeddings64.f32", "<f4").reshape(len(X), -1).astype(np.float64)
tmp = Path(tempfile.mkdtemp())


def embed(model, x):
    inp, out = tmp / "x.f32", tmp / "y.f32"
    x.astype("<f4").tofile(inp)
    subprocess.run([a.clef, "embed", "--model", str(model), "--input", str(inp), "--shape", f"{len(x)},1,5000",
                    "--output", str(out)], check=True)
    return np.fromfile(out, "<f4").reshape(len(x), -1).astype(np.float64)


def stats(ref, got):
    cos = (ref * got).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(got, axis=1)
    rl2 = np.linalg.norm(ref - got, axis=1) / np.linalg.norm(ref, axis=1)
    return f"cos worst {cos.min():.5f} mean {cos.mean():.5f} | rel-L2 worst {rl2.max()*100:.3f}% mean {rl2.mean()*100:.3f}%"


engines = {"swift f32": ckpt}
for prec, methods in (("f16", ["-"]), ("q16", a.methods.split(",")), ("q8", a.methods.split(","))):
    if prec not in a.only.split(","):
        continue
    for m in methods:
        out = tmp / f"{prec}_{m}.clefw"
        cmd = [a.clef, "export", "--checkpoint", str(ckpt), "--precision", prec, "--output", str(out)]
        if prec.startswith("q"):
            cmd += ["--method", m, "--any-lead"] + a.extra.split() + ["--calibration"] + train
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True, check=True)
        size = [l for l in r.stdout.splitlines() if l.startswith("wrote")][0].split(": ", 1)[1]
        name = f"swift {prec}" + (f" ({m})" if prec.startswith("q") else "")
        print(f"{name:22s} {size}  [export {time.time() - t0:.0f}s]")
        engines[name] = out

print(f"\nHeld-out real windows: {len(X)} windows from {len(man['heldout_records'])} records, vs torch float64")
emb = {}
for name, path in engines.items():
    emb[name] = embed(path, X)
    print(f"{name:22s} {stats(ref64, emb[name])}")

# Heart-rate probe, as downstream_anchor.py: ridge on float64 torch embeddings of hr_windows.
import torch  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402
from ort_anchor import load  # noqa: E402
Xh, yh, rh = hw.hr_windows(); Xh = Xh[:, None, :]
m64 = load(str(ckpt)).double()
with torch.no_grad():
    base_emb = np.concatenate([m64(torch.from_numpy(Xh[i:i + 64]).double()).numpy() for i in range(0, len(Xh), 64)])
probe = Ridge(alpha=10.0).fit(base_emb, yh); base = probe.predict(base_emb)
print(f"\nHR probe on float64 embeddings: fit MAE {np.abs(base - yh).mean():.2f} bpm over {len(yh)} windows")
for name, path in engines.items():
    e = embed(path, Xh)
    dd = np.abs(probe.predict(e) - base)
    rl2 = np.linalg.norm(e - base_emb, axis=1) / np.linalg.norm(base_emb, axis=1)
    print(f"{name:22s} |bpm diff| mean {dd.mean():.3f} worst {dd.max():.3f} | rel-L2 worst {rl2.max()*100:.2f}% mean {rl2.mean()*100:.2f}%")

if not a.skip_anchors:
    env = dict(os.environ)
    print("\n== ../shared/oracle/ort_anchor.py (same held-out windows) ==", flush=True)
    subprocess.run([sys.executable, str(shared / "oracle/ort_anchor.py"), str(ckpt), str(md / "inputs.f32")], env=env)
    print("\n== ../shared/oracle/downstream_anchor.py ==", flush=True)
    subprocess.run([sys.executable, str(shared / "oracle/downstream_anchor.py"), str(ckpt)], env=env)
