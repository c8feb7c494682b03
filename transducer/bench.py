"""`transducer bench`: speed of streaming recognition, single thread, batch 1, fixed input.

Both decoders run on the same audio in one process: the whole streaming pipeline (resampling,
features, encoder, decoder) for `rtf_*` (torch; Numba, float32 and with int8 encoder weights;
onnxruntime encoder + Numba decoder on an export made on the spot, fp32 and int8), with the
model's default search (`beam`; where that is a beam, `rtf_numba_greedy` too); the decoder
alone over the same encoded blocks for `decoder_step_us_*` (time per decoder step, i.e. per
emitted label or `<e>`); the time of each `decode_stream` call (one block, encoder included)
for the latency percentiles, Numba decoder.
With no model named it uses the shipped default model, its character LM and its word LM
(`rtf_numba_no_lm`: without either, `rtf_numba_char_lm`: without the word LM, `rtf_word_lm`:
the difference), or where there is none a randomly initialised model of the default configuration
(speed does not depend on the weights). Where the model's matrices are kept as half bits
(`kernels.halve`: weights saved in half, as the shipped model's), `rtf_numba_float32` is the same
Numba backend with them in float32, as before that (the same tokens).

The audio is cut into `rounds` pieces, and each round streams one piece through every backend
in turn (the order rotated from round to round), so that a machine whose speed drifts (a
shared host) slows them alike; `rtf_*` are the medians over the rounds.
"""

import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from transducer.audio import read_audio
from transducer.checkpoint import bundle, save_atomic
from transducer.config import FeatureConfig, ModelConfig
from transducer.decode import Hypothesis, TorchDecoder
from transducer.decode.fast import FastDecoder, pack
from transducer.decode.kernels import HALF
from transducer.decode.numba_encoder import NumbaEncoder, pack_encoder
from transducer.decode.search import encode_blocks
from transducer.evaluate import features
from transducer.features import FeatureStats
from transducer.model.transducer import NeuralTransducer
from transducer.recognizer import DEFAULT_LM, DEFAULT_MODEL, DEFAULT_WORD_LM, SAMPLE, Recognizer
from transducer.text import CharTokenizer


def random_model(path: Path) -> Path:
    """A default-configuration model with random weights (seed 0), saved to `path`."""
    torch.manual_seed(0)
    tokenizer = CharTokenizer.english()
    model = NeuralTransducer(ModelConfig(vocab_size=len(tokenizer)))
    stats = FeatureStats(tuple([12.0] * 80), tuple([4.0] * 80))
    save_atomic(bundle(model, tokenizer, stats, FeatureConfig()), path)
    return path


def fixed_input(seconds: float = 60.0) -> np.ndarray:
    """The demo sample looped to `seconds` (16 kHz float32)."""
    sample = read_audio(SAMPLE)
    return np.tile(sample, int(np.ceil(seconds * 16000 / len(sample))))[: int(seconds * 16000)]


def stream(rec: Recognizer, audio: np.ndarray, chunk: int = 1600) -> tuple[float, list[float]]:
    """Stream `audio` in 100 ms chunks: total seconds and the seconds of each block."""
    s = rec.create_stream()
    blocks = []
    start = time.perf_counter()
    for i in range(0, len(audio), chunk):
        s.accept_waveform(16000, audio[i : i + chunk])
        while rec.is_ready(s):
            t = time.perf_counter()
            rec.decode_stream(s)
            blocks.append(time.perf_counter() - t)
    s.input_finished()
    while rec.is_ready(s):
        rec.decode_stream(s)
    return time.perf_counter() - start, blocks


def decoder_seconds_per_step(decoder, model, feats, repeats: int = 3) -> float:
    """Greedy decoding of pre-encoded blocks: the best of `repeats` runs, per decoder step."""
    blocks, mask = encode_blocks(model, feats)
    cfg = model.cfg
    best, steps = float("inf"), 0
    for _ in range(repeats):
        hyp = Hypothesis(state=decoder.initial())
        start = time.perf_counter()
        for b in range(len(blocks)):
            hyp = decoder.greedy_block(
                hyp, blocks[b : b + 1], mask[b : b + 1], b, cfg.max_symbols_per_block,
                cfg.block_width, cfg.lookback,
            )  # fmt: skip
        best = min(best, time.perf_counter() - start)
        steps = len(hyp.tokens) + len(blocks)  # every label, and one <e> per block
    return best / steps


def bench(model: str | Path | None = None, seconds: float = 60.0, tmp: Path | None = None,
          onnx: bool = True, rounds: int = 5) -> dict:  # fmt: skip
    """The numbers of the module docstring. Files it writes (a random model, an export) go
    under `tmp`, by default a fresh temporary folder removed afterwards."""
    if tmp is None:
        with tempfile.TemporaryDirectory(prefix="transducer-bench-") as folder:
            return bench(model, seconds, Path(folder), onnx, rounds)
    torch.set_num_threads(1)
    lm = words = None
    if model is None and DEFAULT_MODEL.exists():
        model, lm = DEFAULT_MODEL, DEFAULT_LM if DEFAULT_LM.exists() else None
        words = DEFAULT_WORD_LM if lm and DEFAULT_WORD_LM.exists() else None
    name = str(model) if model else "random default configuration"
    if model is None:
        model = random_model(tmp / "random.pt")
    audio = fixed_input(seconds)
    result = {"model": name, "threads": torch.get_num_threads(), "audio_seconds": seconds,
              "rounds": rounds}  # fmt: skip
    result["lm"], result["word_lm"] = str(lm) if lm else None, str(words) if words else None
    backends = ("torch", "numba", "numba-int8")
    recs = {b: Recognizer(model, backend=b, lm=lm, word_lm=words) for b in backends}
    result["beam"] = recs["numba"].beam  # the model's default search, which rtf_* measure
    if result["beam"] > 1:
        recs["numba-greedy"] = Recognizer(model, beam=0, backend="numba")
        if lm:
            recs["numba-no-lm"] = Recognizer(model, backend="numba")
        if words:
            recs["numba-char-lm"] = Recognizer(model, backend="numba", lm=lm)
    if onnx:
        from transducer.export.onnx_export import export

        folder = tmp / "export"
        export(model, folder, int8=True)  # checks itself on the demo sample
        recs.update({b: Recognizer(folder, backend=b, lm=lm, word_lm=words)
                     for b in ("onnx", "onnx-int8")})  # fmt: skip
    numba = recs["numba"]
    if numba.encoder.e.w_hh.dtype == HALF:  # the same backend with float32 matrices
        recs["numba-float32"] = Recognizer(model, backend="numba", lm=lm, word_lm=words)
        recs["numba-float32"].encoder = NumbaEncoder(pack_encoder(numba.model), half=False)
        recs["numba-float32"].decoder = FastDecoder(pack(numba.model), half=False)
    names = list(recs)
    rtfs, ms = {b: [] for b in names}, []
    for rec in recs.values():
        stream(rec, audio[:16000])  # warm-up
    piece = len(audio) // rounds
    for r in range(rounds):
        part = audio[r * piece : (r + 1) * piece]
        for backend in names[r % len(names) :] + names[: r % len(names)]:
            total, blocks = stream(recs[backend], part)
            rtfs[backend].append(total / (len(part) / 16000))
            if backend == "numba":
                ms += [t * 1000 for t in blocks]
    for backend in names:
        result[f"rtf_{backend.replace('-', '_')}"] = round(float(np.median(rtfs[backend])), 5)
    if "numba-char-lm" in recs:  # what the word LM costs, in seconds per second of audio
        result["rtf_word_lm"] = round(result["rtf_numba"] - result["rtf_numba_char_lm"], 5)
    result["block_latency_ms_p50"] = round(float(np.percentile(ms, 50)), 3)
    result["block_latency_ms_p99"] = round(float(np.percentile(ms, 99)), 3)
    rec = recs["torch"]
    feats = features(audio, rec.stats, rec.features)
    steps = {
        "torch": decoder_seconds_per_step(TorchDecoder(rec.model), rec.model, feats),
        "numba": decoder_seconds_per_step(FastDecoder.from_model(rec.model), rec.model, feats),
    }
    result["decoder_step_us_torch"] = round(steps["torch"] * 1e6, 2)
    result["decoder_step_us_numba"] = round(steps["numba"] * 1e6, 2)
    result["decoder_speedup"] = round(steps["torch"] / steps["numba"], 2)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["n_params"] = sum(p.numel() for p in rec.model.parameters())
    return result
