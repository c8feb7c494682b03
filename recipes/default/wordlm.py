"""The word LM's weights, tuned on dev, and the three decodings side by side.

    python recipes/default/wordlm.py tune [--sets data/h20a/dev.jsonl data/fotaq/dev.jsonl]
        [--limit 200] [--weights 0.2 0.4 0.6] [--bonuses 0 1 2] [--oov -10 -14]
        [--char-weights 0.1 0.2] [--char-bonuses 0.2 0.35]
    python recipes/default/wordlm.py compare [--weight W --bonus B --oov-logp O]
        [--sets data/h20a/test.jsonl data/h20a/test-noisy.jsonl data/asterisk/nodigits.jsonl]

The shipped model, its beam and character LM, through the streaming Recognizer (Numba, one
thread). `tune` prints the WER of every (weight, bonus, oov_logp), and with --char-weights or
--char-bonuses of the character LM's too, on each dev set (a fixed random subset of `--limit`)
and their mean; `compare` prints WER/CER/RTF with no LM, the
character LM and the character plus word LM (transducer/pretrained/words.npz, built by `make`
from Debian's pocketsphinx-en-us).
"""

import argparse
import itertools
import json

from compare import score, subset

from transducer.evaluate import evaluate_recognizer
from transducer.recognizer import (
    DEFAULT_LM,
    DEFAULT_MODEL,
    DEFAULT_WORD_LM,
    EndpointConfig,
    Recognizer,
)
from transducer.wordlm import WordLM


def run(utts, word_lm: WordLM | None, lm=DEFAULT_LM, lm_weight=None, lm_bonus=None) -> dict:
    """The shipped model on `utts` with the character LM `lm` (None: none; its weight and bonus
    by default its own) and `word_lm`."""
    never = EndpointConfig(1e9, 1e9, 1e9)  # whole utterances, as compare.py decodes them
    rec = Recognizer(str(DEFAULT_MODEL), endpoint=never, lm=lm, lm_weight=lm_weight,
                     lm_bonus=lm_bonus)  # fmt: skip
    if word_lm is not None:
        rec.lm = rec.lm._replace(word_lm=word_lm)
    evaluate_recognizer(rec, utts[:2])  # compile / warm up outside the timing
    r = evaluate_recognizer(rec, utts)
    return score(utts, r["hypotheses"], r["audio_seconds"], r["rtf"] * r["audio_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["tune", "compare"])
    parser.add_argument("--sets", nargs="+")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--weights", nargs="+", type=float, default=[0.2, 0.4, 0.6])
    parser.add_argument("--bonuses", nargs="+", type=float, default=[0.0, 1.0, 2.0])
    parser.add_argument("--oov", nargs="+", type=float, default=[-10.0, -14.0])
    parser.add_argument("--char-weights", nargs="+", type=float, default=[None])
    parser.add_argument("--char-bonuses", nargs="+", type=float, default=[None])
    parser.add_argument("--weight", type=float, help="compare: default the word LM's own")
    parser.add_argument("--bonus", type=float)
    parser.add_argument("--oov-logp", type=float)
    args = parser.parse_args()
    words = WordLM.load(DEFAULT_WORD_LM)
    if args.what == "tune":
        sets = args.sets or ["data/h20a/dev.jsonl", "data/fotaq/dev.jsonl"]
        data = {s: subset(s, args.limit or 200) for s in sets}
        print("| char weight | char bonus | weight | bonus | oov_logp | " + " | ".join(sets)
              + " | mean |")  # fmt: skip
        print("|---" * (len(sets) + 6) + "|")
        base = [run(u, None)["wer"] for u in data.values()]
        print(f"| own | own | char LM only | | | {' | '.join(f'{100 * w:.2f}' for w in base)} | "
              f"{100 * sum(base) / len(base):.2f} |", flush=True)  # fmt: skip
        grid = itertools.product(args.char_weights, args.char_bonuses, args.weights,
                                 args.bonuses, args.oov)  # fmt: skip
        for char_weight, char_bonus, weight, bonus, oov in grid:
            lm = words._replace(weight=weight, bonus=bonus, oov_logp=oov)
            wers = [run(u, lm, lm_weight=char_weight, lm_bonus=char_bonus)["wer"]
                    for u in data.values()]  # fmt: skip
            own = lambda v: "own" if v is None else v  # noqa: E731
            print(f"| {own(char_weight)} | {own(char_bonus)} | {weight} | {bonus} | {oov} | "
                  f"{' | '.join(f'{100 * w:.2f}' for w in wers)} | "
                  f"{100 * sum(wers) / len(wers):.2f} |", flush=True)  # fmt: skip
        return
    sets = args.sets or ["data/asterisk/nodigits.jsonl", "data/h20a/test.jsonl",
                         "data/h20a/test-noisy.jsonl"]  # fmt: skip
    given = {"weight": args.weight, "bonus": args.bonus, "oov_logp": args.oov_logp}
    lm = words._replace(**{k: v for k, v in given.items() if v is not None})  # else its own
    results = {}
    for s in sets:
        utts = subset(s, args.limit)
        results[s] = {"no LM": run(utts, None, lm=None), "character LM": run(utts, None),
                      "character + word LM": run(utts, lm)}  # fmt: skip
        print(f"\n### {s}: {len(utts)} utterances\n")
        print("| decoding | WER | CER | RTF |\n|---|---|---|---|")
        for name, r in results[s].items():
            print(f"| {name} | {100 * r['wer']:.2f} % | {100 * r['cer']:.2f} % | {r['rtf']:.4f} |")
    print(json.dumps({s: {k: {m: r[m] for m in ("wer", "cer", "rtf")} for k, r in v.items()}
                      for s, v in results.items()}))  # fmt: skip


if __name__ == "__main__":
    main()
