#!/usr/bin/env bash
# Float32 forward benchmark, Swift side by side with the PyTorch / ONNX Runtime anchors in one
# run (the machines are shared and noisy, so compare ratios taken together).
#   bash Tools/bench.sh            # needs the oracle venv for the anchors (bash ../shared/oracle/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product clef >/dev/null
V="${CLEF_ORACLE_VENV:-/root/.cache/clef-oracle-venv}/bin/python"
SHARED="${CLEF_SHARED:-../shared}"
out=$(mktemp -d)
.build/release/clef bench --json --repeats 100 > "$out/swift.jsonl"
# One training step of 32 pairs (float32 backprop) on 1 and 2 threads.
for t in 1 2; do .build/release/clef bench --train --threads $t --json >> "$out/swift.jsonl"; done
# Engines from blobs of the bundled checkpoint (q8/q16 calibrated on bundled records).
for p in f16 q8 q16; do
  .build/release/clef export --checkpoint Fixtures/clef-small-seed1/clef_small_seed1.ckpt --precision $p \
    --calibration Fixtures/ecg/cinc2021 --output "$out/$p.clefw" > /dev/null
  .build/release/clef bench --model "$out/$p.clefw" --json --repeats 20 >> "$out/swift.jsonl"
done
if [ -x "$V" ] && [ -d "$SHARED/oracle" ]; then
  "$V" Tools/oracle/bench_anchor.py "$SHARED" > "$out/anchor.jsonl"
else
  echo "(no oracle venv at $V: anchors skipped)" >&2
  : > "$out/anchor.jsonl"
fi
.build/release/clef bench --json --repeats 100 >> "$out/swift.jsonl"
python3 - "$out" <<'PY'
import json, sys, statistics
d = sys.argv[1]
rows = [json.loads(l) for f in ("swift.jsonl", "anchor.jsonl") for l in open(f"{d}/{f}") if l.strip()]
by = {}
for r in rows:
    by.setdefault(r["case"], []).append(r["median_ms"])
med = {k: min(v) for k, v in by.items()}   # best of the runs before and after the anchors
print(f"{'case':<44} {'median ms':>10}")
for k, v in med.items():
    print(f"{k:<44} {v:>10.3f}")
def ratio(a, b):
    if a in med and b in med:
        print(f"{a} / {b}: {med[a] / med[b]:.2f}x")
for n in ("1,1,5000", "32,1,5000"):
    ratio(f"swift f32 small fwd ({n})", f"torch small fwd ({n})")
ratio("swift f32 small fwd (1,1,5000)", "ORT small fwd (1,1,5000)")
for t in (1, 2):
    a, b = f"swift small train step 32 pairs", f"torch small train step 32 pairs thr{t}"
    rows_t = [r for r in rows if r["case"] == a and r.get("threads") == t]
    if rows_t and b in med:
        print(f"{a} thr{t} / torch: {rows_t[0]['median_ms'] / med[b]:.1f}x ({rows_t[0]['median_ms']:.0f} ms vs {med[b]:.0f} ms)")
for p in ("f16", "q8", "q16"):
    ratio(f"swift {p} small fwd (1,1,5000)", "ORT int8 small fwd (1,1,5000)")
PY
