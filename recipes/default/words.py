"""Where the words go wrong: word errors by TTS engine, substitutions and insertions split into
English words and non-words (by a word list), from `transducer eval`'s text output.

    transducer eval --backend numba --manifest data/h20a/test.jsonl > hyps.txt
    python recipes/default/words.py hyps.txt data/h20a/test.jsonl \
        [--words /usr/share/dict/american-english-large]   # Debian's wamerican-large
"""

import argparse
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import jiwer

from transducer.data.manifest import read_manifest

PAST = {"substitute": "substituted", "insert": "inserted"}


def read_hypotheses(path: str) -> tuple[dict, dict]:
    """{id: reference}, {id: hypothesis} from lines "ID\\tref: TEXT" and "ID\\thyp: TEXT"."""
    texts = {"ref": {}, "hyp": {}}
    for line in Path(path).read_text().splitlines():
        m = re.match(r"(\S+)\t(ref|hyp): (.*)$", line)
        if m:
            texts[m[2]][m[1]] = m[3]
    if not texts["ref"] or texts["ref"].keys() != texts["hyp"].keys():
        raise SystemExit(f"{path}: expected an ID<tab>ref: and an ID<tab>hyp: line per utterance "
                         "(`transducer eval` without --json)")  # fmt: skip
    return texts["ref"], texts["hyp"]


def count(refs: dict, hyps: dict, engines: dict, lexicon: set) -> dict:
    """{engine: Counter} of words, deletions, and substitutions / insertions of words in and
    not in `lexicon`."""
    counts = defaultdict(Counter)
    for utt, ref in refs.items():
        c, hyp = counts[engines[utt]], hyps[utt].split()
        c["words"] += len(ref.split())
        for a in jiwer.process_words(ref, hyps[utt]).alignments[0]:
            if a.type == "delete":
                c["deleted"] += a.ref_end_idx - a.ref_start_idx
            elif a.type in ("substitute", "insert"):
                for word in hyp[a.hyp_start_idx : a.hyp_end_idx]:
                    kind = "words" if word in lexicon else "non-words"
                    c[f"{PAST[a.type]} {kind}"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hypotheses", help="`transducer eval` text output")
    parser.add_argument("manifest", help="the manifest it scored (for each speaker's engine)")
    parser.add_argument("--words", default="/usr/share/dict/american-english-large")
    args = parser.parse_args()
    refs, hyps = read_hypotheses(args.hypotheses)
    engines = {utt.id: utt.engine for utt in read_manifest(args.manifest)}
    lexicon = set(Path(args.words).read_text().lower().split())
    counts = count(refs, hyps, engines, lexicon)
    print(json.dumps({engine: dict(sorted(c.items())) for engine, c in sorted(counts.items())}))


if __name__ == "__main__":
    main()
