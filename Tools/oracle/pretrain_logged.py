"""Run ../shared/oracle/pretrain_realecg.py unchanged, but also record the training loss of every
step (its own script logs none), so the Swift trainer's curve can be put beside PyTorch's.

  /root/.cache/clef-oracle-venv/bin/python Tools/oracle/pretrain_logged.py ../shared OUT_DIR [--steps 1500] [--threads 1]

Writes OUT_DIR/loss.csv (step,loss,lr) next to what pretrain_realecg.py writes.
"""
import sys, time
from pathlib import Path

shared = Path(sys.argv[1]).resolve()
out = Path(sys.argv[2])
sys.path.insert(0, str(shared / "oracle"))
import clef_ref as cr  # noqa: E402
import pretrain_realecg as pr  # noqa: E402

rows = []
_step = cr.ContrastiveModel.training_step


def training_step(self, batch, batch_idx):
    loss = _step(self, batch, batch_idx)
    lr = self.trainer.optimizers[0].param_groups[0]["lr"]
    rows.append((len(rows) + 1, float(loss.detach()), lr, time.time()))
    return loss


cr.ContrastiveModel.training_step = training_step
sys.argv = [sys.argv[0], str(out)] + sys.argv[3:]
try:
    pr.main()
finally:
    out.mkdir(parents=True, exist_ok=True)
    t0 = rows[0][3] if rows else 0
    with open(out / "loss.csv", "w") as f:
        f.write("step,loss,lr,seconds\n")
        for s, l, lr, t in rows:
            f.write(f"{s},{l:.6f},{lr:.8g},{t - t0:.2f}\n")
