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
for threads in (1, 2):
    torch.set_num_threads(threads)
    r = bt.bench_train_step(32, 1, 3)
    print(json.dumps(dict(case=f"torch small train step 32 pairs thr{threads}", threads=threads, **r)))
torch.set_num_threads(1)
with contextlib.redirect_stdout(sys.stderr):  # the ONNX exporter prints progress
    res, how = bt.bench_ort(small, 5, 100, threads=1)
if res is not None:
    print(json.dumps(dict(case="ORT small fwd (1,1,5000)", threads=1, median_ms=res["median_ms"], mean_ms=res["mean_ms"])))

# ONNX Runtime static int8 (QDQ, per-channel weights) of the same model, as ort_anchor.py builds it.
try:
    import tempfile
    import numpy as np
    import onnxruntime as ort
    from onnxruntime.quantization import quantize_static, CalibrationDataReader, QuantType, QuantFormat
    d = tempfile.mkdtemp()
    x = torch.randn(1, 1, 5000)
    with contextlib.redirect_stdout(sys.stderr):
        torch.onnx.export(small, (x,), f"{d}/f32.onnx", input_names=["x"], output_names=["e"], dynamo=False)
    class R(CalibrationDataReader):
        def __init__(s): s.it = iter([{"x": np.random.default_rng(i).standard_normal((1, 1, 5000)).astype(np.float32)} for i in range(8)])
        def get_next(s): return next(s.it, None)
    quantize_static(f"{d}/f32.onnx", f"{d}/q.onnx", R(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True)
    so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
    sess = ort.InferenceSession(f"{d}/q.onnx", so, providers=["CPUExecutionProvider"])
    xin = x.numpy()
    r = bt.timeit(lambda: sess.run(None, {"x": xin}), 5, 50)
    print(json.dumps(dict(case="ORT int8 small fwd (1,1,5000)", threads=1, median_ms=r["median_ms"], mean_ms=r["mean_ms"])))
except Exception as e:  # noqa: BLE001
    print(f"ORT int8 anchor failed: {e}", file=sys.stderr)
