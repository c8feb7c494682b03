"""Why the unseen flite voice `rms` is hard: its spectral envelope, or the rest of its speech?

    python recipes/default/envelope.py [--manifest data/h20a/test-rms.jsonl] [--limit 100]
        [--model CHECKPOINT]

Each sentence of the manifest is said by flite's `rms` and by `awb` (a training voice), at their
own pitch and at one pace drawn per sentence, and read by the shipped model (or CHECKPOINT) as
`transducer eval --backend numba` reads (beam 8 + the shipped LM, W = 4), in eight versions
(`transducer/data/morph.py`: a's spectrum times exp(alpha * (env_b - env_a)) along a DTW
alignment, env the cepstrally smoothed log magnitude): rms and awb as they are; each with the
other's envelope (alpha 1: rms's excitation and timing with awb's envelope, and the reverse)
and half-way (alpha 0.5); rms through a fixed filter, the mean over its voiced frames of awb's
aligned envelope minus its own, per sentence ("eq") and averaged over all sentences ("eq-all").
Prints JSON: CER / WER per version, and the averaged filter's gain in dB over each kHz from 0
to 8.
"""

import argparse
import json

import numpy as np

from transducer.audio import SAMPLE_RATE, resample
from transducer.data import corrupt
from transducer.data.manifest import read_manifest
from transducer.data.morph import N_ALIGN, align, envelope, istft, stft
from transducer.data.tts import FliteEngine
from transducer.evaluate import error_rates, transcribe
from transducer.recognizer import DEFAULT_LM, EndpointConfig, Recognizer


def versions(rms: np.ndarray, awb: np.ndarray) -> tuple[dict, np.ndarray]:
    """The seven versions that need one sentence only, and rms's fixed filter (log gains)."""
    spectra, env, match = {}, {}, {}
    for name, x in (("rms", rms), ("awb", awb)):
        spectra[name] = stft(x)
        env[name], cepstra = envelope(spectra[name])
        match[name] = cepstra[:, :N_ALIGN]
    to_awb = align(match["rms"], match["awb"])
    to_rms = align(match["awb"], match["rms"])
    shift_rms = env["awb"][to_awb] - env["rms"]  # rms -> awb, per rms frame
    shift_awb = env["rms"][to_rms] - env["awb"]
    magnitude = np.abs(spectra["rms"]).sum(1)
    gains = shift_rms[magnitude > 0.01 * magnitude.max()].mean(0)  # voiced frames
    out = {"rms": rms, "awb": awb}
    for alpha in (1.0, 0.5):
        out[f"rms~awb {alpha}"] = istft(spectra["rms"] * np.exp(alpha * shift_rms), len(rms))
        out[f"awb~rms {alpha}"] = istft(spectra["awb"] * np.exp(alpha * shift_awb), len(awb))
    out["rms eq"] = istft(spectra["rms"] * np.exp(gains), len(rms))
    return out, gains


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", default="data/h20a/test-rms.jsonl")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--model", help="a checkpoint (default: the shipped model)")
    args = parser.parse_args()
    utts = read_manifest(args.manifest)[: args.limit]
    flite = FliteEngine()
    said, filters = [], []
    for k, utt in enumerate(utts):  # the same pace drawn for both voices
        say = [flite.synthesize(utt.text, v, np.random.default_rng(k)) for v in ("rms", "awb")]
        rms, awb = (resample(samples, rate, SAMPLE_RATE) for samples, rate in say)
        out, gains = versions(rms, awb)
        said.append(out)
        filters.append(gains)
    fixed = np.mean(filters, axis=0)
    for out in said:
        out["rms eq-all"] = istft(stft(out["rms"]) * np.exp(fixed), len(out["rms"]))
    never = EndpointConfig(1e9, 1e9, 1e9)  # whole utterances
    recognizer = Recognizer(args.model, beam=8, block_width=4, endpoint=never, lm=DEFAULT_LM)
    refs = [utt.text for utt in utts]
    results = {}
    for name in said[0]:
        hyps = []
        for out in said:  # 0.3 s of silence either side, at a level of -25 dB, as the test set
            samples = np.pad(out[name].astype(np.float32), int(0.3 * SAMPLE_RATE))
            hyps.append(transcribe(recognizer, corrupt.set_level(samples, -25.0)).text)
        results[name] = {k: round(v, 4) for k, v in error_rates(refs, hyps).items()}
    khz = len(fixed) * 1000 // (SAMPLE_RATE // 2)  # bins per kHz
    gains_db = fixed * 20 / np.log(10)  # log magnitude to dB
    db = [round(float(gains_db[k * khz : (k + 1) * khz].mean()), 1) for k in range(8)]
    print(json.dumps({"n_utts": len(utts), "by_version": results, "eq_all_db_by_khz": db}))


if __name__ == "__main__":
    main()
