#!/usr/bin/env python3
"""Exact instruction counts and memory of the firmware image under QEMU, recorded for `clef profile`.

  python3 Firmware-Sim/count.py --target m4|m7|rv32 --precision q8|q16|f16 [--model CKPT|BLOB]
                                [--preprocess float32|exact|fixed] [--out Firmware-Sim/counts] [--clef .build/release/clef]

Builds the image (build.sh) with the model's blob and one 10 s window of a real handheld record
(Fixtures/ecg/cinc2017/A00003 through the simulated ADC), runs it under QEMU twice with the
qemu-insncount plugin (Firmware-Sim/qemu-insncount): once between clef_window_begin/end (the whole
hop: ring buffer, band-pass, z-score, quantisation, encoder) and once between clef_layer_begin/end
(each layer of the encoder). Writes counts/<target>-<precision>-<preprocess>.json with those counts, the RAM the
image used (heap peak, .data+.bss, stack high-water mark painted and measured in QEMU) and the flash
it needs (code from the ELF sections, blob). Needs the cross tools of build.sh.
"""
import argparse, datetime, json, os, re, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from image import add_image_options, build, here, m4_cycles, qemu, root, run as run_checked, window_profile  # noqa: E402

ap = argparse.ArgumentParser()
add_image_options(ap)
ap.add_argument("--out", default=str(here / "counts"))
a = ap.parse_args()
QEMU = qemu(a.target)


def run(cmd, **kw):
    return run_checked(cmd, "count.py", **kw)


work, blob, signal, elf = build(a, "count.py")


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
if a.target == "m4":
    # The window's instructions weighed by the Cortex-M4 TRM's timings (image.m4_cycles): the
    # cycles per instruction that `clef profile` uses for the M4/M33 devices instead of a guess.
    per_pc = window_profile(elf, a.target, work)
    cycles = sum(m4_cycles(elf, per_pc).values())
    rec["m4_model"] = {"window_cycles": cycles, "cpi": round(cycles / max(1, sum(per_pc.values())), 4),
                       "note": "Cortex-M4 TRM instruction timings, zero-wait memory (Firmware-Sim/image.py m4_cycles)"}
Path(a.out).mkdir(parents=True, exist_ok=True)
dst = Path(a.out) / f"{a.target}-{a.precision}-{a.preprocess}.json"
dst.write_text(json.dumps(rec, indent=1) + "\n")
print(f"{dst}: window {rec['window_instructions']:,} instructions, encoder {sum(layers):,}, "
      f"RAM {sum(rec['ram_bytes'].values()):,} B, flash {code + rec['flash_bytes']['blob']:,} B"
      + (f", M4 model {rec['m4_model']['window_cycles']:,} cycles (CPI {rec['m4_model']['cpi']})" if "m4_model" in rec else ""))
