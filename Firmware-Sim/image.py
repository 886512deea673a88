"""What count.py and profile.py share: the command-line options naming an image, the QEMU command
per target, and building the image for a model (exported to a blob if it is a checkpoint) with one
10 s window of a real handheld record (Fixtures/ecg/cinc2017/A00003 through the simulated ADC)."""
import re
import subprocess
import sys
import tempfile
from pathlib import Path

here = Path(__file__).resolve().parent
root = here.parent


def add_image_options(ap, precision_required=True):
    ap.add_argument("--target", required=True, choices=["m4", "m7", "rv32"])
    ap.add_argument("--precision", required=precision_required, default="q8", choices=["q8", "q16", "f16"])
    ap.add_argument("--model", default=str(root / "Fixtures/clef-small-realecg/clef_small_realecg_swift.ckpt"))
    ap.add_argument("--clef", default=str(root / ".build/release/clef"))
    ap.add_argument("--preprocess", default="float32", choices=["float32", "exact", "fixed"],
                    help="band-pass of the stream: float32 sections (device), the same sections in integers (fixed, for cores without FPU) or the scipy-exact double-double")


def qemu(target):
    cmd = {"m4": ["qemu-system-arm", "-M", "mps2-an386"], "m7": ["qemu-system-arm", "-M", "mps2-an500"],
           "rv32": ["qemu-system-riscv32", "-M", "virt", "-bios", "none"]}[target]
    return cmd + ["-nographic", "-monitor", "none", "-serial", "none", "-semihosting-config", "enable=on,target=native"]


def run(cmd, who, **kw):
    # QEMU's semihosting console goes to stderr when stdout is not a terminal: read both.
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"{who}: {' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-3000:]}")
    return r.stdout


def build(a, who):
    """(work dir, blob path, signal path, ELF path) of the image `a` (parsed image options) names."""
    work = Path(tempfile.mkdtemp(prefix=f"clef-{who.split('.')[0]}-"))
    blob = a.model
    if not blob.endswith(".clefw"):
        blob = str(work / f"{a.precision}.clefw")
        run([a.clef, "export", "--checkpoint", a.model, "--precision", a.precision,
             "--calibration", str(root / "Fixtures/ecg/cinc2021"), "--output", blob], who)
    signal = work / "signal.bin"
    run([a.clef, "stream", "--model", blob, "--record", str(root / "Fixtures/ecg/cinc2017/A00003"),
         "--minutes", str(10 / 60), "--save-signal", str(signal), "--preprocess", a.preprocess, "--quiet"], who)
    elf = run(["bash", str(here / "build.sh"), a.target, blob, str(signal), str(here / "build-cache" / a.target)],
              who).strip().splitlines()[-1]
    return work, blob, signal, elf


def m4_cycles(elf, counts):
    """Cycles of the executed instructions by the Cortex-M4 TRM's timings (Table 3-1): 1 for data
    processing, multiplies and the DSP MACs; a single load 2, or 1 right after another single
    load or store (their phases pipeline); a single store 1; LDRD/STRD 3; LDM/STM/PUSH/POP (and
    their VFP forms, per word) 1 + N; a taken branch 1 + P with P = 2 (the refill is 1-3), a
    conditional branch's taken count being its count less its successor's; SDIV/UDIV 7 (2-12);
    VDIV/VSQRT 14; the VFP multiply-accumulates 3; VLDR/VSTR 2. Zero-wait memory: flash wait
    states and bus contention are not in it. Returns {pc: cycles}."""
    listing = run(["/opt/swift/usr/bin/llvm-objdump", "-d", "--no-show-raw-insn", elf], "m4_cycles")
    insns = []
    for line in listing.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+([a-z][a-z0-9.]*)\s*(.*)", line)
        if m:
            insns.append((int(m.group(1), 16), m.group(2), m.group(3)))
    P = 2
    single_ld = re.compile(r"^ldr(b|h|sb|sh|ex|exb|exh)?(\.w|\.n)?$")
    single_st = re.compile(r"^str(b|h|ex|exb|exh)?(\.w|\.n)?$")
    cond = "(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le)"

    def words(ops):
        n = 0
        for part in re.findall(r"\{([^}]*)\}", ops)[:1]:
            for r in part.split(","):
                r = r.strip()
                if "-" in r:
                    x, y = r.split("-")
                    n += (int(y.lstrip("rsd")) - int(x.lstrip("rsd")) + 1) * (2 if x.startswith("d") else 1)
                elif r:
                    n += 2 if r.startswith("d") else 1
        return n

    out = {}
    for i, (pc, mn, ops) in enumerate(insns):
        c = counts.get(pc, 0)
        if not c:
            continue
        base = mn.split(".")[0]
        prev = insns[i - 1][1] if i > 0 else ""
        nxt = counts.get(insns[i + 1][0], 0) if i + 1 < len(insns) else 0
        if single_ld.match(mn):
            cyc = c * (2 if "pc" not in ops.split(",")[0] else 2 + P)
            if single_ld.match(prev) or single_st.match(prev):
                cyc -= c
        elif single_st.match(mn):
            cyc = c
        elif base in ("ldrd", "strd"):
            cyc = 3 * c
        elif re.match(r"^(ldm|stm|push|pop|vldm|vstm|vpush|vpop)", base):
            cyc = c * (1 + words(ops)) + (c * P if "pc" in ops else 0)
        elif base in ("b", "bl", "bx", "blx"):
            cyc = c * (1 + P)
        elif re.match(r"^(b" + cond + r"|cbz|cbnz)$", base):
            cyc = c + max(0, c - nxt) * P
        elif base in ("tbb", "tbh"):
            cyc = c * (2 + P)
        elif base in ("sdiv", "udiv"):
            cyc = 7 * c
        elif base in ("vdiv", "vsqrt"):
            cyc = 14 * c
        elif base in ("vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"):
            cyc = 3 * c
        elif base in ("vldr", "vstr"):
            cyc = 2 * c
        else:
            cyc = c
        out[pc] = cyc
    return out


def window_profile(elf, target, work):
    """{pc: instructions executed there} over the image's first window (clef_window_begin to
    clef_window_end), from the insncount plugin's per-PC profile."""
    syms = {}
    for line in run(["/opt/swift/usr/bin/llvm-nm", "-S", "--defined-only", elf], "window_profile").splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tTwW":
            syms[f[3]] = (int(f[0], 16) & ~1, int(f[1], 16))
    lo = min(a for a, _ in syms.values())
    hi = max(a + n for a, n in syms.values())
    plugin = run(["bash", str(here / "qemu-insncount/build.sh"), str(work)], "window_profile").strip()
    log = Path(work) / "window-log"
    run(qemu(target) + ["-icount", "shift=0,sleep=off", "-plugin",
                        f"{plugin},plo={hex(lo)},phi={hex(hi)},begin={hex(syms['clef_window_begin'][0])},end={hex(syms['clef_window_end'][0])}",
                        "-d", "plugin", "-D", str(log), "-kernel", elf], "window_profile")
    return {int(m.group(1), 16): int(m.group(2)) for m in re.finditer(r"insnwindow: 0x([0-9a-f]+) (\d+)", log.read_text())}
