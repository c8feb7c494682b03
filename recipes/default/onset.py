"""Word errors at an utterance's start: its first two reference words against the rest.

    python recipes/default/onset.py --manifest data/h20a/test-flite.jsonl [--limit 200]

Three readings, each of the same utterances: "alone" (the shipped model and decoder as
`transducer eval --backend numba` runs them); "after" (the utterance appended to the one
before it in the manifest, so the encoder and the online mean start warm; only this
utterance's words are counted); "cmn" (the reference greedy decoder, W = 4, once as usual and
once with the online mean warmed by the previous utterance's features, the encoder cold).
A word is wrong when the alignment with the hypothesis does not match it.
"""

import argparse
import json

import jiwer
import numpy as np
import torch

from transducer.checkpoint import load_model
from transducer.data.manifest import read_manifest, read_utterance
from transducer.evaluate import decode, error_rates, transcribe
from transducer.features import fbank, online_cmn
from transducer.recognizer import DEFAULT_MODEL, Recognizer


def wrong_words(ref: str, hyp: str) -> list[bool]:
    """For each reference word: is it substituted or deleted, or followed by an insertion?"""
    wrong = [False] * len(ref.split())
    for a in jiwer.process_words(ref, hyp or "<empty>").alignments[0]:
        if a.type != "equal":
            for i in range(a.ref_start_idx, max(a.ref_end_idx, a.ref_start_idx + 1)):
                wrong[min(i, len(wrong) - 1)] = True
    return wrong


def count(counts: dict, name: str, wrong: list[bool]) -> None:
    for i, w in enumerate(wrong):
        key = f"{name}_{'first2' if i < 2 else 'rest'}"
        counts.setdefault(key, [0, 0])
        counts[key][0] += w
        counts[key][1] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--limit", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    utts = read_manifest(args.manifest)[: args.limit]
    recognizer = Recognizer(backend="numba")
    model, tokenizer, stats, features, _ = load_model(DEFAULT_MODEL)
    counts, refs, cold, warm = {}, [], [], []
    previous = None
    for utt in utts:
        samples = read_utterance(utt)
        feats = stats.normalize(fbank(samples, features))
        count(counts, "alone", wrong_words(utt.text, transcribe(recognizer, samples).text))
        if previous is not None:
            prev_samples, prev_text, prev_feats = previous
            hyp = transcribe(recognizer, np.concatenate([prev_samples, samples])).text
            n = len(utt.text.split())
            count(counts, "after", wrong_words(f"{prev_text} {utt.text}", hyp)[-n:])
            tail = prev_feats[-features.cmn_window :]
            warmed = online_cmn(np.concatenate([tail, feats]), features)[len(tail) :]
            refs.append(utt.text)
            for out, x in ((cold, online_cmn(feats, features)), (warm, warmed)):
                tokens = decode(model, torch.from_numpy(x), beam=0, W=4).tokens
                out.append(tokenizer.decode(tokens))
        previous = samples, utt.text, feats
    result = {k: {"wrong": w, "words": n, "rate": round(w / n, 3)} for k, (w, n) in counts.items()}
    result["cmn_cold_greedy"] = error_rates(refs, cold)
    result["cmn_warm_greedy"] = error_rates(refs, warm)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
