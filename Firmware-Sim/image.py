"""What count.py and profile.py share: the command-line options naming an image, the QEMU command
per target, and building the image for a model (exported to a blob if it is a checkpoint) with one
10 s window of a real handheld record (Fixtures/ecg/cinc2017/A00003 through the simulated ADC)."""
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
