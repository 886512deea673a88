"""How far PyTorch's own float32 gradients are from float64 ones on the clef-train-step fixture's
batch (the fixture's step was taken in float32): the floor for any implementation that does not
reproduce PyTorch's float32 summation order (issue 5's "moments within 1e-5" criterion).

  /root/.cache/clef-oracle-venv/bin/python Tools/oracle/step_float32_noise.py ../shared
"""
import json, sys, warnings
from pathlib import Path
import numpy as np, torch
warnings.filterwarnings("ignore")
shared = Path(sys.argv[1]).resolve()
sys.path.insert(0, str(shared / "oracle"))
import clef_ref as cr  # noqa: E402

src = shared / "fixtures/clef-small-seed1"
ck = torch.load(src / "clef_small_seed1.ckpt", map_location="cpu", weights_only=True)
man = json.load(open(src / "manifest.json"))["files"]
def load(rel): return torch.from_numpy(np.fromfile(src / rel, "<f4").reshape(man[rel]["shape"]).copy())
batch = [load("train_batch/view1.f32"), load("train_batch/view2.f32"), load("train_batch/risk.f32"), load("train_batch/mask.f32")]

def grads(dtype):
    m = cr.ContrastiveModel(size="small"); m.load_state_dict(ck["state_dict"]); m = m.to(dtype); m.train()
    m.compute_loss([b.to(dtype) for b in batch]).backward()
    return {n: p.grad.double() for n, p in m.named_parameters() if p.grad is not None}

g32, g64 = grads(torch.float32), grads(torch.float64)
worst = max((float((g32[n] - g64[n]).abs().max() / g64[n].abs().max()), n) for n in g64)
print(f"torch float32 vs float64 gradients on the train_batch: worst {worst[0]:.2e} of the tensor's max ({worst[1]})")
