"""Long streams: utterances joined with pauses into one stream, scored against the same
utterances streamed one by one (the endpointer has to split the long stream at the pauses).

    python recipes/default/longform.py --manifest data/h20/test.jsonl [--group 6] [--gap 2]
        [--noise 0.003] [--limit 120] [--model M] [--beam N]

Prints JSON: WER and CER of both, over the joined references of each group.
"""

import argparse
import json

import numpy as np

from transducer.audio import SAMPLE_RATE
from transducer.data.manifest import read_manifest, read_utterance
from transducer.evaluate import error_rates
from transducer.recognizer import Recognizer, transcript


def stream_text(rec: Recognizer, samples: np.ndarray) -> str:
    return transcript(rec.transcribe(samples, SAMPLE_RATE))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", required=True)
    p.add_argument("--model", default=None)
    p.add_argument("--beam", type=int, default=None)
    p.add_argument("--group", type=int, default=6, help="utterances per stream")
    p.add_argument("--gap", type=float, default=2.0, help="seconds of pause between them")
    p.add_argument("--noise", type=float, default=0.0, help="pause noise level (0: digital)")
    p.add_argument("--limit", type=int, default=120)
    args = p.parse_args()
    rec = Recognizer(args.model, beam=args.beam)
    utts = read_manifest(args.manifest)[: args.limit]
    rng, gap = np.random.default_rng(0), int(args.gap * SAMPLE_RATE)
    refs, alone, joined = [], [], []
    for i in range(0, len(utts) - args.group + 1, args.group):
        group = [read_utterance(u) for u in utts[i : i + args.group]]
        parts = [p for x in group for p in (x, args.noise * rng.standard_normal(gap))]
        refs.append(" ".join(u.text for u in utts[i : i + args.group]))
        alone.append(" ".join(stream_text(rec, x) for x in group))
        joined.append(stream_text(rec, np.concatenate(parts).astype(np.float32)))
    result = {"streams": len(refs), "group": args.group, "gap": args.gap, "noise": args.noise,
              "beam": rec.beam}  # fmt: skip
    for name, hyps in (("alone", alone), ("joined", joined)):
        rates = error_rates(refs, hyps)
        result.update({f"{k}_{name}": round(v, 4) for k, v in rates.items()})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
