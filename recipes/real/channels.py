"""Which real channels hurt the model: each set read clean and through each channel.

    python recipes/real/channels.py [--model M] [--sets A.jsonl B.jsonl] [--limit 100]
        [--rooms data/rooms]

Every utterance goes through `transducer.data.channel.apply` (one channel, its setting drawn
from a seed fixed by the utterance's position), then the streaming Recognizer (Numba, default
search and LM). A channel that costs much WER here is one the model has not learned; training
with it (`train.channel_prob`) should help on real speech that came through it.
"""

import argparse
import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from transducer.data.channel import CHANNELS, apply, load_rooms  # noqa: E402
from transducer.data.manifest import read_manifest, read_utterance  # noqa: E402
from transducer.evaluate import error_rates, transcribe  # noqa: E402
from transducer.recognizer import DEFAULT_LM, EndpointConfig, Recognizer  # noqa: E402

SETS = ("data/asterisk/nodigits.jsonl", "data/h20a/test.jsonl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint (default: shipped)")
    parser.add_argument("--sets", nargs="+", default=SETS)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--rooms", default="data/rooms")
    args = parser.parse_args()
    rooms = load_rooms(args.rooms)
    never = EndpointConfig(1e9, 1e9, 1e9)
    rec = Recognizer(args.model, endpoint=never, backend="numba", lm=DEFAULT_LM)
    results = {}
    for manifest in args.sets:
        utts = read_manifest(manifest)
        pick = np.random.default_rng(0).choice(len(utts), min(args.limit, len(utts)), False)
        utts = [utts[i] for i in np.sort(pick)]
        clips = [read_utterance(u) for u in utts]
        refs = [u.text for u in utts]
        print(f"\n### {manifest}: {len(utts)} utterances\n\n| channel | WER | CER |\n|---|---|---|")
        for kind in ("none", *CHANNELS):
            hyps = []
            for i, clip in enumerate(clips):
                rng = np.random.default_rng([i, CHANNELS.index(kind) if kind in CHANNELS else 99])
                audio = clip if kind == "none" else apply(clip, kind, rng, rooms)
                hyps.append(transcribe(rec, audio).text)
            r = error_rates(refs, hyps)
            results.setdefault(manifest, {})[kind] = r
            print(f"| {kind} | {100 * r['wer']:.1f} % | {100 * r['cer']:.1f} % |", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
