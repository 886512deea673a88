"""Writes Fixtures/clef-small-lengths: embeddings of the clef-small-seed1 model for window lengths
that exercise every padding/tail case (odd lengths, shorter than the kernel, L=1).

Run with the oracle venv (bash ../shared/oracle/setup.sh):
  /root/.cache/clef-oracle-venv/bin/python Tools/oracle/make_length_fixture.py ../shared
"""
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

shared = Path(sys.argv[1]).resolve()
sys.path.insert(0, str(shared / "oracle"))
import clef_ref as cr  # noqa: E402

out = Path(__file__).resolve().parents[2] / "Fixtures" / "clef-small-lengths"
out.mkdir(parents=True, exist_ok=True)
sd = torch.load(shared / "fixtures/clef-small-seed1/clef_small_seed1_state_dict.pt", weights_only=True)
model = cr.build_encoder("small").eval()
model.load_state_dict(sd, strict=True)
model64 = cr.build_encoder("small").eval().double()
model64.load_state_dict(sd, strict=True)
rng = np.random.default_rng(2025)
files = {}
for length in [1, 2, 15, 16, 17, 333, 2501, 5000]:
    x = rng.standard_normal((2, 1, length)).astype(np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).numpy()
        y64 = model64(torch.from_numpy(x).double()).numpy().astype(np.float32)
    for name, arr in ((f"x_L{length}.f32", x), (f"emb_L{length}.f32", y), (f"emb64_L{length}.f32", y64)):
        (out / name).write_bytes(arr.astype("<f4").tobytes())
        files[name] = dict(shape=list(arr.shape), dtype="float32", byte_order="little",
                           sha256=hashlib.sha256(arr.astype("<f4").tobytes()).hexdigest())
(out / "manifest.json").write_text(json.dumps(dict(
    description="clef-small-seed1 embeddings (torch float32 and float64) for inputs of several lengths, N=2",
    generator="Tools/oracle/make_length_fixture.py", torch_version=torch.__version__, files=files), indent=1))
print("wrote", out)
