"""PyTorch and ONNX Runtime anchors for Tools/bench.sh, one JSON line per case, on one thread.
Uses the oracle's model definition and benchmark helpers (../shared/oracle)."""
import contextlib
import json
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
shared = Path(sys.argv[1]).resolve()
sys.path.insert(0, str(shared / "oracle"))
import torch  # noqa: E402
import bench_torch as bt  # noqa: E402
import clef_ref as cr  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(0)
small = cr.build_encoder("small").eval()
for shape, reps in (((1, 1, 5000), 100), ((32, 1, 5000), 10)):
    r = bt.bench_forward(small, shape, 5, reps)
    print(json.dumps(dict(case=f"torch small fwd ({','.join(map(str, shape))})", threads=1, **r)))
with contextlib.redirect_stdout(sys.stderr):  # the ONNX exporter prints progress
    res, how = bt.bench_ort(small, 5, 100, threads=1)
if res is not None:
    print(json.dumps(dict(case="ORT small fwd (1,1,5000)", threads=1, median_ms=res["median_ms"], mean_ms=res["mean_ms"])))
