#!/usr/bin/env python3
"""Instructions per function of a firmware image under QEMU (exact, every executed instruction).

    python3 Firmware-Sim/profile.py --target m4 [--precision q8] [--preprocess float32] [--top 25]
                                    [--window] [--cycles] [--annotate NAME]

Builds the image the same way as count.py (cached in Firmware-Sim/build-cache), runs it once with
the insncount plugin's per-PC profile over .text, and sums the counts per symbol (llvm-nm sizes,
Swift names demangled). The whole run is counted (set-up, preprocessing and one 10 s window), or
with --window the first window only (clef_window_begin to clef_window_end, as count.py's window).

--cycles (Cortex-M4/M33 images) weighs every executed instruction by the Cortex-M4 Technical
Reference Manual's timings (m4_cycles below): a model of the core with zero-wait memory, to check
the cycles-per-instruction factor the device profiles assume, not a measurement.
"""
import argparse
import bisect
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from image import add_image_options, build, here, m4_cycles, qemu, run as run_checked  # noqa: E402

ap = argparse.ArgumentParser()
add_image_options(ap, precision_required=False)
ap.add_argument("--top", type=int, default=25)
ap.add_argument("--annotate", help="also print the disassembly of the hottest function whose name contains this, with counts")
ap.add_argument("--window", action="store_true", help="count the first window only (clef_window_begin to clef_window_end)")
ap.add_argument("--layer", type=int, help="count one layer of the first window only (its index in count.py's per-layer table: 0 the input padding, 1 block 0 with the stem, ...)")
ap.add_argument("--cycles", action="store_true", help="also estimate Cortex-M4 cycles from the TRM's instruction timings")
a = ap.parse_args()
QEMU = qemu(a.target)
nm = "/opt/swift/usr/bin/llvm-nm"
demangle = "/opt/swift/usr/bin/swift-demangle"


def run(cmd, **kw):
    return run_checked(cmd, "profile.py", **kw)


work, blob, signal, elf = build(a, "profile.py")

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
marks = {name: addr for addr, _, name in syms}
window = f",begin={hex(marks['clef_window_begin'])},end={hex(marks['clef_window_end'])}" if a.window else ""
if a.layer is not None:
    window = f",begin={hex(marks['clef_layer_begin'])},end={hex(marks['clef_layer_end'])},nth={a.layer + 1}"
run(QEMU + ["-icount", "shift=0,sleep=off", "-plugin", f"{plugin},plo={hex(text_lo)},phi={hex(text_hi)}{window}",
            "-d", "plugin", "-D", str(log), "-kernel", elf])
starts = [s[0] for s in syms]
per = {}
total = 0
pcs = {}
for m in re.finditer(r"insnwindow: 0x([0-9a-f]+) (\d+)" if a.window or a.layer is not None else r"insnprofile: 0x([0-9a-f]+) (\d+)", log.read_text()):
    pc, n = int(m.group(1), 16), int(m.group(2))
    pcs[pc] = n
    total += n
    i = bisect.bisect_right(starts, pc) - 1
    name = syms[i][2] if i >= 0 and pc < syms[i][0] + max(syms[i][1], 2) else "?"
    per[name] = per.get(name, 0) + n


if a.cycles:
    cyc = m4_cycles(elf, pcs)
    cper = {}
    for pc, n in cyc.items():
        i = bisect.bisect_right(starts, pc) - 1
        name = syms[i][2] if i >= 0 and pc < syms[i][0] + max(syms[i][1], 2) else "?"
        cper[name] = cper.get(name, 0) + n
    ctotal = sum(cyc.values())

top = sorted(per.items(), key=lambda kv: -kv[1])[:a.top]
names = run([demangle, "--simplified", "--compact"], input="\n".join(k for k, _ in top)).splitlines() \
    if Path(demangle).exists() else [k for k, _ in top]
entry = {name: pcs.get(addr, 0) for addr, _, name in syms}
print(f"{a.target} {a.precision} {a.preprocess}: {total:,} instructions in " + (f"layer {a.layer} of the first window" if a.layer is not None else "the first window" if a.window else "the whole run"))
if a.cycles:
    print(f"Cortex-M4 TRM model (zero-wait memory): {ctotal:,} cycles, {ctotal / total:.3f} cycles per instruction")
print(f"{'instructions':>13}  {'share':>6}  {'calls':>9}  {'per call':>8}  " + ("  cycles/instr  " if a.cycles else "") + "function")
for (k, n), d in zip(top, names):
    c = entry.get(k, 0)  # executions of the first instruction: calls (or more, where a loop starts there)
    per_call = f"{n / c:8.0f}" if c else f"{'-':>8}"
    cpi = f"  {cper.get(k, 0) / n:12.2f}  " if a.cycles else ""
    print(f"{n:>13,}  {100 * n / total:5.1f}%  {c:>9,}  {per_call}  {cpi}{d[:130]}")

if a.annotate:
    # Match the mangled name or, for Swift symbols, the demangled one.
    ranked = [k for k, _ in sorted(per.items(), key=lambda kv: -kv[1])]
    readable = run([demangle, "--simplified", "--compact"], input="\n".join(ranked)).splitlines() \
        if Path(demangle).exists() else ranked
    hit = next((k for k, d in zip(ranked, readable) if a.annotate in k or a.annotate in d), None)
    if hit is None:
        sys.exit(f"profile.py: no executed function matches {a.annotate!r}")
    # By address range, not --disassemble-symbols: that stops at the first mapping symbol inside
    # the function ($d before a TBB table, $t after it) and hid the rest of the code.
    lo_addr, size = next((addr, n) for addr, n, name in syms if name == hit)
    dis = run(["/opt/swift/usr/bin/llvm-objdump", "-d", "--no-show-raw-insn", f"--start-address={hex(lo_addr)}",
               f"--stop-address={hex(lo_addr + max(size, 2))}", elf])
    print(f"\n{hit}: {per[hit]:,} instructions")
    for line in dis.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s*(.*)", line)
        if m:
            n = pcs.get(int(m.group(1), 16), 0)
            print(f"{n:>10,}  {m.group(1)}  {re.sub(r'<[^>]*>', '', m.group(2))[:80]}")
