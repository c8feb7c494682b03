"""Summarise a training run from its metrics: `python -m transducer.runinfo RUN`.

Prints JSON: steps, audio hours trained on, training throughput (audio hours per wall-clock
hour of training steps), and the share of step time spent in the loss or the alignment search.
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
    for key, name in (("loss_s", "loss_share"), ("align_s", "alignment_share")):
        if rows[0].get(key):
            out[name] = round(sum(float(r[key]) for r in rows) / sum(step), 3)
    evals = read_csv(run / "dev.csv")
    if evals:
        best = min(evals, key=lambda r: float(r["cer"]))
        out["best_dev"] = {k: float(best[k]) for k in ("step", "cer", "wer")}
    return out


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(json.dumps(summarize(Path(arg))))
