#!/usr/bin/env python3
"""Instructions per function of a firmware image under QEMU (exact, every executed instruction).

    python3 Firmware-Sim/profile.py --target m4 [--precision q8] [--preprocess float32] [--top 25]

Builds the image the same way as count.py (cached in Firmware-Sim/build-cache), runs it once with
the insncount plugin's per-PC profile over .text, and sums the counts per symbol (llvm-nm sizes,
Swift names demangled). The whole run is counted (set-up, preprocessing and one 10 s window).
"""
import argparse
import bisect
import re
import subprocess
import sys
import tempfile
from pathlib import Path

here = Path(__file__).resolve().parent
root = here.parent
ap = argparse.ArgumentParser()
ap.add_argument("--target", required=True, choices=["m4", "m7", "rv32"])
ap.add_argument("--precision", default="q8", choices=["q8", "q16", "f16"])
ap.add_argument("--preprocess", default="float32", choices=["float32", "exact"])
ap.add_argument("--model", default=str(root / "Fixtures/clef-small-realecg/clef_small_realecg_swift.ckpt"))
ap.add_argument("--clef", default=str(root / ".build/release/clef"))
ap.add_argument("--top", type=int, default=25)
ap.add_argument("--annotate", help="also print the disassembly of the hottest function whose name contains this, with counts")
a = ap.parse_args()

QEMU = {"m4": ["qemu-system-arm", "-M", "mps2-an386"], "m7": ["qemu-system-arm", "-M", "mps2-an500"],
        "rv32": ["qemu-system-riscv32", "-M", "virt", "-bios", "none"]}[a.target]
QEMU += ["-nographic", "-monitor", "none", "-serial", "none", "-semihosting-config", "enable=on,target=native"]
nm = "/opt/swift/usr/bin/llvm-nm"
demangle = "/opt/swift/usr/bin/swift-demangle"


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"profile.py: {' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-3000:]}")
    return r.stdout


work = Path(tempfile.mkdtemp(prefix="clef-profile-"))
blob = str(work / f"{a.precision}.clefw")
run([a.clef, "export", "--checkpoint", a.model, "--precision", a.precision,
     "--calibration", str(root / "Fixtures/ecg/cinc2021"), "--output", blob])
signal = work / "signal.bin"
run([a.clef, "stream", "--model", blob, "--record", str(root / "Fixtures/ecg/cinc2017/A00003"),
     "--minutes", str(10 / 60), "--save-signal", str(signal), "--preprocess", a.preprocess, "--quiet"])
elf = run(["bash", str(here / "build.sh"), a.target, blob, str(signal), str(here / "build-cache" / a.target)]).strip().splitlines()[-1]

# Function symbols with sizes (Thumb bit stripped).
syms = []
for line in run([nm, "-S", "--defined-only", elf]).splitlines():
    f = line.split()
    if len(f) == 4 and f[2] in "tTwW":
        syms.append((int(f[0], 16) & ~1, int(f[1], 16), f[3]))
syms.sort()
text_lo = min(s[0] for s in syms)
text_hi = max(s[0] + s[1] for s in syms)
plugin = run(["bash", str(here / "qemu-insncount/build.sh"), str(work)]).strip()
log = work / "log"
run(QEMU + ["-icount", "shift=0,sleep=off", "-plugin", f"{plugin},plo={hex(text_lo)},phi={hex(text_hi)}",
            "-d", "plugin", "-D", str(log), "-kernel", elf])
starts = [s[0] for s in syms]
per = {}
total = 0
pcs = {}
for m in re.finditer(r"insnprofile: 0x([0-9a-f]+) (\d+)", log.read_text()):
    pc, n = int(m.group(1), 16), int(m.group(2))
    pcs[pc] = n
    total += n
    i = bisect.bisect_right(starts, pc) - 1
    name = syms[i][2] if i >= 0 and pc < syms[i][0] + max(syms[i][1], 2) else "?"
    per[name] = per.get(name, 0) + n
top = sorted(per.items(), key=lambda kv: -kv[1])[:a.top]
names = run([demangle, "--simplified", "--compact"], input="\n".join(k for k, _ in top)).splitlines() \
    if Path(demangle).exists() else [k for k, _ in top]
print(f"{a.target} {a.precision} {a.preprocess}: {total:,} instructions in the whole run")
for (k, n), d in zip(top, names):
    print(f"{n:>13,}  {100 * n / total:5.1f}%  {d[:150]}")

if a.annotate:
    hit = next((k for k, _ in sorted(per.items(), key=lambda kv: -kv[1]) if a.annotate in k), None)
    if hit is None:
        sys.exit(f"profile.py: no executed function matches {a.annotate!r}")
    dis = run(["/opt/swift/usr/bin/llvm-objdump", "-d", "--no-show-raw-insn", f"--disassemble-symbols={hit}", elf])
    print(f"\n{hit}: {per[hit]:,} instructions")
    for line in dis.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s*(.*)", line)
        if m:
            n = pcs.get(int(m.group(1), 16), 0)
            print(f"{n:>10,}  {m.group(1)}  {re.sub(r'<[^>]*>', '', m.group(2))[:80]}")
