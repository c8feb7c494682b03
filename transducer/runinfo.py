"""Summarise a training run from its metrics: `python -m transducer.runinfo RUN`.

Prints JSON: steps, audio hours trained on, training throughput (audio hours per wall-clock
hour of training steps; also for the transducer phase alone after CTC pre-training), and the share
of the transducer phase's step time spent in the loss or the alignment (sampled on logged rows).
"""

import csv
import json
import statistics
import sys
from pathlib import Path


def read_csv(path: Path) -> list[dict]:
    """Rows of a run's CSV file (metrics.csv, dev.csv) as dicts; [] if it does not exist."""
    if not path.exists():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def summarize(run: Path) -> dict:
    rows = [r for r in read_csv(run / "metrics.csv") if r.get("step_seconds")]
    step = [float(r["step_seconds"]) for r in rows]
    out = {
        "run": str(run),
        "steps": int(rows[-1]["step"]),
        "audio_hours": round(float(rows[-1]["audio_hours"]), 2),
        "hours_per_hour": round(float(rows[-1]["hours_per_hour"]), 1),
        "step_seconds_median": round(statistics.median(step), 3),
    }
    # Shares and throughput of the transducer phase alone: CTC pre-training rows (transducer
    # NaN) spend nothing in the transducer loss or the alignment and run faster.
    joint = [r for r in rows if r.get("transducer") not in (None, "", "nan")]
    if len(joint) < len(rows) and joint:
        seconds = sum(float(r["step_seconds"]) for r in joint)
        audio = sum(float(r["batch_seconds"]) for r in joint)
        out["pretrain_steps"] = max(int(r["step"]) for r in rows if r not in joint)
        out["transducer_phase_hours_per_hour"] = round(audio / seconds, 1)
    for key, name in (("loss_s", "loss_share"), ("align_s", "alignment_share")):
        if joint and joint[0].get(key):
            total = sum(float(r["step_seconds"]) for r in joint)
            out[name] = round(sum(float(r[key]) for r in joint) / total, 3)
    evals = read_csv(run / "dev.csv")
    if evals:
        best = min(evals, key=lambda r: float(r["cer"]))
        out["best_dev"] = {k: float(best[k]) for k in ("step", "cer", "wer")}
    return out


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(json.dumps(summarize(Path(arg))))
