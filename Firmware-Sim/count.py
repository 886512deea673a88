#!/usr/bin/env python3
"""Exact instruction counts and memory of the firmware image under QEMU, recorded for `clef profile`.

  python3 Firmware-Sim/count.py --target m4|m7|rv32 --precision q8|q16|f16 [--model CKPT|BLOB]
                                [--out Firmware-Sim/counts] [--clef .build/release/clef]

Builds the image (build.sh) with the model's blob and one 10 s window of a real handheld record
(Fixtures/ecg/cinc2017/A00003 through the simulated ADC), runs it under QEMU twice with the
qemu-insncount plugin (Firmware-Sim/qemu-insncount): once between clef_window_begin/end (the whole
hop: ring buffer, band-pass, z-score, quantisation, encoder) and once between clef_layer_begin/end
(each layer of the encoder). Writes counts/<target>-<precision>.json with those counts, the RAM the
image used (heap peak, .data+.bss, stack high-water mark painted and measured in QEMU) and the flash
it needs (code from the ELF sections, blob). Needs the cross tools of build.sh.
"""
import argparse, datetime, json, os, re, subprocess, sys, tempfile
from pathlib import Path

here = Path(__file__).resolve().parent
root = here.parent
ap = argparse.ArgumentParser()
ap.add_argument("--target", required=True, choices=["m4", "m7", "rv32"])
ap.add_argument("--precision", required=True, choices=["q8", "q16", "f16"])
ap.add_argument("--model", default=str(root / "Fixtures/clef-small-realecg/clef_small_realecg_swift.ckpt"))
ap.add_argument("--out", default=str(here / "counts"))
ap.add_argument("--clef", default=str(root / ".build/release/clef"))
ap.add_argument("--preprocess", default="float32", choices=["float32", "exact"],
                help="band-pass of the stream: float32 sections (device) or the scipy-exact double-double")
a = ap.parse_args()

QEMU = {"m4": ["qemu-system-arm", "-M", "mps2-an386"], "m7": ["qemu-system-arm", "-M", "mps2-an500"],
        "rv32": ["qemu-system-riscv32", "-M", "virt", "-bios", "none"]}[a.target]
QEMU += ["-nographic", "-monitor", "none", "-serial", "none", "-semihosting-config", "enable=on,target=native"]


def run(cmd, **kw):
    # QEMU's semihosting console goes to stderr when stdout is not a terminal: read both.
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"count.py: {' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-3000:]}")
    return r.stdout


work = Path(tempfile.mkdtemp(prefix="clef-count-"))
blob = a.model
if not blob.endswith(".clefw"):
    blob = str(work / f"{a.precision}.clefw")
    run([a.clef, "export", "--checkpoint", a.model, "--precision", a.precision,
         "--calibration", str(root / "Fixtures/ecg/cinc2021"), "--output", blob])
signal = work / "signal.bin"
run([a.clef, "stream", "--model", blob, "--record", str(root / "Fixtures/ecg/cinc2017/A00003"),
     "--minutes", str(10 / 60), "--save-signal", str(signal), "--preprocess", a.preprocess, "--quiet"])
build = here / "build-cache" / a.target
elf = run(["bash", str(here / "build.sh"), a.target, blob, str(signal), str(build)]).strip().splitlines()[-1]


def count(begin, end):
    out = run(["bash", str(here / "qemu-insncount/count.sh"), elf, begin, end, "--"] + QEMU)
    return [int(x) for x in re.findall(r"insncount: window \d+ = (\d+)", out)], out


window, out = count("clef_window_begin", "clef_window_end")
layers, _ = count("clef_layer_begin", "clef_layer_end")
mem = re.search(r"M heap (\d+) stack (\d+) static (\d+)", out)
tool = "arm-none-eabi-size" if a.target != "rv32" else "riscv64-unknown-elf-size"
sections = {}
for line in run([tool, "-A", elf]).splitlines():
    f = line.split()
    if len(f) >= 2 and f[0].startswith(".") and f[1].isdigit():
        sections[f[0]] = int(f[1])
payload = os.path.getsize(blob) + os.path.getsize(signal)
code = sum(v for k, v in sections.items() if k in (".isr_vector", ".text", ".rodata", ".data", ".ARM.exidx")) - payload
# Probe 0 covers the stem input's padding only: the integer engines fuse the stem into block 0.
names = ["input"] + [f"block {i}" for i in range(len(layers) - 2)] + ["mean"]
rec = {
    "target": a.target, "precision": a.precision, "preprocess": a.preprocess, "model": os.path.relpath(a.model, root),
    "qemu": run([QEMU[0], "--version"]).splitlines()[0], "date": datetime.date.today().isoformat(),
    "window_instructions": window[0] if window else None,
    "layers": [{"name": n, "instructions": c} for n, c in zip(names, layers)],
    "ram_bytes": {"heap_peak": int(mem.group(1)), "stack_peak": int(mem.group(2)), "static": int(mem.group(3))},
    "flash_bytes": {"code": code, "blob": os.path.getsize(blob)},
    "how": f"python3 Firmware-Sim/count.py --target {a.target} --precision {a.precision} --preprocess {a.preprocess}",
}
Path(a.out).mkdir(parents=True, exist_ok=True)
dst = Path(a.out) / f"{a.target}-{a.precision}-{a.preprocess}.json"
dst.write_text(json.dumps(rec, indent=1) + "\n")
print(f"{dst}: window {rec['window_instructions']:,} instructions, encoder {sum(layers):,}, "
      f"RAM {sum(rec['ram_bytes'].values()):,} B, flash {code + rec['flash_bytes']['blob']:,} B")
