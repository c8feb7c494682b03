"""Streaming recognition with the sherpa-onnx verbs.

    recognizer = Recognizer("exp/run/best.pt")
    stream = recognizer.create_stream()
    stream.accept_waveform(sample_rate, samples)      # any rate, any chunk, float or int16
    while recognizer.is_ready(stream):
        recognizer.decode_stream(stream)              # one block
        if recognizer.is_endpoint(stream):            # a segment just ended
            print(recognizer.get_result(stream).text)  # a `Result`; is_final: True
    stream.input_finished()                           # then decode the last, partial block

Audio flows resampler -> streaming fbank -> normalisation -> (stack * W frames) -> encoder with
carried state -> one block -> decoder with carried hypothesis. Every stage is exact under any
chunking, so until an endpoint the tokens equal the offline `greedy_search`/`beam_search` (with
the same LM) on the whole file. An endpoint starts the next segment with a new hypothesis; one
reached in a pause (not by the segment-length limit) also restarts the encoder, so the next
segment is decoded as a new stream starting there would be (at its first block of sound, if
digital silence follows).
The block arithmetic lives in `Stream.take_block` only.

Beam search can be fused with a character LM (`transducer.lm`; the shipped model's by default).
Backends: "numba" (encoder and decoder as Numba kernels), "numba-int8" (the same with the
encoder's LSTM weights in int8, `numba_encoder.quantize_encoder`), "torch" (the reference) and
"onnx" (`transducer.export.runtime`: onnxruntime encoder, Numba decoder), built by
`backends.load_parts`. Streams are NumPy throughout; this module imports torch only when a
torch checkpoint is loaded.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from transducer.audio import (
    MAX_RATE,
    MIN_RATE,
    SAMPLE_RATE,
    AudioError,
    StreamingResampler,
    to_float32,
    to_mono,
)
from transducer.backends import load_parts
from transducer.config import DecodingConfig, backend_kind
from transducer.decode.hypothesis import Hypothesis
from transducer.features import OnlineCMN, StreamingFbank

PRETRAINED = Path(__file__).parent / "pretrained"  # the shipped default model (MODEL_CARD.md)
DEFAULT_MODEL = PRETRAINED / "model.pt"
DEFAULT_EXPORT = PRETRAINED / "onnx"  # its int8 graphs
SAMPLE = PRETRAINED / "sample.wav"  # a short real recording and its text (SAMPLE.md)
DEFAULT_LM = PRETRAINED / "lm.npz"  # its character LM for beam search
DEFAULT_WORD_LM = PRETRAINED / "words.npz"  # its word LM, built by `make` (transducer.wordlm)
DEFAULT_DECODING = PRETRAINED / "decoding.json"  # its beam and block width (DecodingConfig)


def default_model(backend: str = "numba") -> Path:
    """The shipped model for `backend`: its checkpoint (torch) or its export folder (numba,
    numba-int8, onnx-int8: int8 graphs and the Numba kernels' weights; no torch needed)."""
    if backend == "onnx":
        raise ValueError(
            "the shipped model has int8 ONNX graphs only: use --backend onnx-int8, or write "
            "fp32 graphs with `transducer export --out DIR` and pass --model DIR"
        )
    path = DEFAULT_MODEL if backend == "torch" else DEFAULT_EXPORT
    if not path.exists():
        raise FileNotFoundError(f"no default model at {path}: pass a model")
    return path


@dataclass(frozen=True)
class EndpointConfig:
    """When a segment ends (sherpa-onnx's three rules); times in seconds."""

    silence_no_speech: float = 2.4  # trailing audio with nothing decoded in the segment
    silence_after_speech: float = 1.2  # trailing audio since the segment's last token
    max_segment: float = 20.0  # a segment never grows longer than this


@dataclass(frozen=True)
class Result:
    """A segment's text as decoded so far, or its final text (`is_final`): what
    `get_result` returns, and `transcribe` for each segment. Times count from the stream's
    start; `to_dict()` gives the JSON of the CLI and the websocket server."""

    text: str
    tokens: tuple[str, ...]  # the model's symbols, " " between words
    timestamps: tuple[float, ...]  # s: the encoder frame each token attended most
    blocks: tuple[int, ...]  # the block that emitted each token
    is_final: bool  # the segment is over (an endpoint, or the end of the input)
    segment: int  # 0, 1, ... in the stream

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


class Stream:
    """One utterance's state. Create with `Recognizer.create_stream()`. A recognizer reads
    and sets only its public part: the beam `hyps`, `segment`, `segment_start`, `ended`,
    `n_blocks`, `finished`, and `ready`, `take_block` and `end_segment`."""

    def __init__(self, recognizer: "Recognizer"):
        self._rec = recognizer
        self.reset()

    def reset(self) -> None:
        """Forget everything, the feature extractor included."""
        rec = self._rec
        self._rate: int | None = None
        self._resampler: StreamingResampler | None = None
        self._fbank = StreamingFbank(rec.features)
        self._feats = np.zeros((0, rec.features.n_mels), np.float32)  # globally normalised
        self._silent = np.zeros(0, bool)  # per buffered frame: digital silence (all zeros)
        self.finished = False
        self._restart_encoder()
        self.n_blocks = 0  # blocks decoded since the stream began
        self.segment = 0
        self.segment_start = 0.0
        self.hyps = [Hypothesis(state=rec.decoder.initial())]
        self.ended: Result | None = None  # the final result of a segment that just ended

    def _restart_encoder(self, at_pause: bool = False) -> None:
        """Encode what follows as the start of a new utterance (used at a pause): the model
        never heard minutes of audio in one piece in training, and the encoder state it
        carries out of a long stream made it say "s" into the silence after each segment.
        At a pause, blocks of digital silence (exact zeros) are then skipped, not encoded,
        until sound comes: the model never heard a second of them before a sentence."""
        rec = self._rec
        self._skip_silence = at_pause
        self._cmn = OnlineCMN(rec.features)  # the mean too starts afresh, as in training
        self._encoder_state = rec.encoder.initial_state()
        n = rec.cfg.lookback * rec.W  # look-back frames
        self._history = np.zeros((n, rec.cfg.d_model), np.float32)
        self._history_valid = np.zeros(n, bool)

    def accept_waveform(self, sample_rate: int, samples) -> None:
        """Append audio: samples (T,) or (T, channels), float in [-1, 1] or int16."""
        if self.finished:
            raise AudioError("accept_waveform after input_finished(); call reset() first")
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
            raise AudioError(f"sample_rate must be an integer (Hz), got {sample_rate!r}")
        if not MIN_RATE <= sample_rate <= MAX_RATE:
            raise AudioError(f"sample_rate must be {MIN_RATE} to {MAX_RATE} Hz, got {sample_rate}")
        if self._rate is not None and sample_rate != self._rate:
            raise AudioError(
                f"sample rate changed from {self._rate} to {sample_rate} Hz mid-stream"
            )
        samples = to_mono(to_float32(samples))
        if not np.isfinite(samples).all():
            raise AudioError("samples contain NaN or Inf")
        if self._resampler is None:
            self._rate, self._resampler = sample_rate, StreamingResampler(sample_rate, SAMPLE_RATE)
        self._add(self._resampler.accept(samples))

    def input_finished(self) -> None:
        """No more audio: what is buffered becomes the last (possibly partial) block."""
        if self._resampler is not None and not self.finished:
            self._add(self._resampler.flush())
        self.finished = True

    def _add(self, samples: np.ndarray) -> None:
        feats = self._fbank.accept(samples)
        if len(feats):
            floor = np.log(self._rec.features.mel_floor) + 1e-4
            self._silent = np.concatenate([self._silent, (feats <= floor).all(axis=1)])
            self._feats = np.concatenate([self._feats, self._rec.stats.normalize(feats)])

    def end_segment(self, result: Result, now: float, restart_encoder: bool) -> None:
        """Close the segment with its final `result`; the next starts at `now` (s) with a new
        hypothesis and, after a pause, a new encoder (`_restart_encoder`)."""
        self.ended = result
        self.segment += 1
        self.segment_start = now
        self.hyps = [Hypothesis(state=self._rec.decoder.initial())]
        if restart_encoder:
            self._restart_encoder(at_pause=True)

    def ready(self) -> bool:
        """A whole block (or, after input_finished, the last part) is buffered."""
        return len(self._feats) >= self._rec.frames_per_block or (
            self.finished and len(self._feats) > 0
        )

    def take_block(self):
        """Encode the next block: frames (1, L, D) with look-back, mask (1, L), block index;
        frames and mask are None for a block of silence skipped after a pause."""
        n, b = self._rec.frames_per_block, self.n_blocks
        feats, self._feats = self._feats[:n], self._feats[n:]
        silent, self._silent = self._silent[:n], self._silent[n:]
        self.n_blocks += 1
        if self._skip_silence and silent.all():
            return None, None, b
        self._skip_silence = False
        feats = self._cmn.accept(feats)  # here, not on arrival: a restart starts at this block
        frames, self._encoder_state = self._rec.encoder(feats, self._encoder_state)  # (<=W, D)
        W = self._rec.W
        valid = np.arange(W) < len(frames)
        if len(frames) < W:  # a stream's last block: zero frames, masked (np.pad is slow)
            pad = np.zeros((W - len(frames), frames.shape[1]), frames.dtype)
            frames = np.concatenate([frames, pad])
        block = np.concatenate([self._history, frames])[None]
        mask = np.concatenate([self._history_valid, valid])[None]
        if len(self._history):
            self._history = block[0, W:]
            self._history_valid = mask[0, W:]
        return block, mask, b


class Recognizer:
    """Weights and settings; decodes any number of independent `Stream`s."""

    def __init__(self, model: str | Path | None = None, beam: int | None = None,
                 block_width: int | None = None, endpoint: EndpointConfig = EndpointConfig(),
                 backend: str = "numba", lm: str | Path | None = None,
                 lm_weight: float | None = None, lm_bonus: float | None = None,
                 word_lm: str | Path | None = None,
                 word_lm_weight: float | None = None, int8: bool = False):  # fmt: skip
        """model: a checkpoint (numba, torch) or an export folder (numba, onnx; no torch), by
        default the shipped one (its export folder; its checkpoint for torch). backend:
        "numba" (compiled on first use, then cached), "torch" (the reference searches) or
        "onnx", which give the same tokens; int8: int8 weights on numba or onnx (faster, a few
        tokens differ; backend "numba-int8" / "onnx-int8" for short). beam and block_width:
        by default the model's decoding config's (`DecodingConfig`; for the shipped model's
        files pretrained/decoding.json), its block width by default the model's.
        lm: a character LM (`transducer lm`) fused into beam search, by default the shipped
        one with the shipped model; lm_weight: by default the LM's own, 0 turns it off;
        lm_bonus (added per label with the LM on): by default the LM's own. word_lm: a word
        LM (`transducer lm --from-sphinx`) scoring each word the beam ends, on top of the
        character LM, by default the shipped one (if built) with the shipped model;
        word_lm_weight: by default its own, 0 turns it off."""
        backend = backend_kind(backend, int8)
        if lm is None and model is None and DEFAULT_LM.exists():
            lm = DEFAULT_LM
        if word_lm is None and model is None and DEFAULT_WORD_LM.exists() and lm_weight != 0:
            word_lm = DEFAULT_WORD_LM  # the shipped model's, with its character LM
        model = default_model(backend) if model is None else Path(model)
        parts = load_parts(model, backend)
        self.cfg, self.tokenizer, self.stats, self.features, decoding = parts[:5]
        self.encoder, self.decoder, self.model = parts[5:]  # model: the torch one, if any
        shipped = model.resolve() in (DEFAULT_MODEL.resolve(), DEFAULT_EXPORT.resolve())
        if shipped and DEFAULT_DECODING.exists():  # which may change without new weights
            decoding = read_decoding(DEFAULT_DECODING)
        decoding = decoding.given(beam, block_width)
        self.W, self.beam = decoding.block_width or self.cfg.block_width, decoding.beam
        if self.cfg.attention == "lstm" and self.cfg.block_width != self.W:
            raise ValueError(f"this model's LSTM attention reads blocks of its own width "
                             f"{self.cfg.block_width}, not {self.W}")  # fmt: skip
        self.endpoint = endpoint
        self.lm = None
        if word_lm is not None and word_lm_weight != 0 and (lm is None or lm_weight == 0):
            raise ValueError("a word LM scores words on top of a character LM: give --lm too")
        if lm is not None and lm_weight != 0:
            self.lm = load_lm(lm, lm_weight, lm_bonus, self.tokenizer, word_lm, word_lm_weight)
        self.frames_per_block = self.W * self.cfg.stack  # feature frames per block
        self.frame_seconds = self.cfg.stack * self.features.frame_shift_ms / 1000

    def create_stream(self) -> Stream:
        return Stream(self)

    def is_ready(self, stream: Stream) -> bool:
        """True when a whole block (or, after input_finished, the last part) can be decoded."""
        return stream.ready()

    def decode_stream(self, stream: Stream) -> None:
        """Decode one block; then apply the endpoint rules."""
        if not stream.ready():
            return
        stream.ended = None
        block, mask, b = stream.take_block()
        K, lookback = self.cfg.max_symbols_per_block, self.cfg.lookback
        if block is None:
            pass  # silence skipped after a pause
        elif self.beam > 1:
            stream.hyps = self.decoder.beam_block(
                stream.hyps, block, mask, b, K, self.W, self.beam, lookback, self.lm
            )
        else:
            stream.hyps = [
                self.decoder.greedy_block(stream.hyps[0], block, mask, b, K, self.W, lookback)
            ]
        rule = self._endpoint(stream)
        if rule:
            stream.end_segment(self._result(stream, is_final=True), self._now(stream),
                               restart_encoder=rule != "max_segment")  # fmt: skip

    def decode_ready(self, stream: Stream):
        """Decode every ready block, yielding (result, closed) after each; `closed`: the block
        ended a segment, and `result` is that segment's final result."""
        while self.is_ready(stream):
            self.decode_stream(stream)
            yield self.get_result(stream), self.is_endpoint(stream)

    def _now(self, stream: Stream) -> float:
        """Seconds of audio decoded so far in the stream."""
        return stream.n_blocks * self.W * self.frame_seconds

    def _endpoint(self, stream: Stream) -> str | None:
        """The rule that ends the segment after this block, if any."""
        now = self._now(stream)
        hyp, rules = stream.hyps[0], self.endpoint
        if now - stream.segment_start >= rules.max_segment:
            return "max_segment"
        if not hyp.tokens:
            silent = now - stream.segment_start >= rules.silence_no_speech
            return "silence_no_speech" if silent else None
        last = (hyp.frames[-1] + 1) * self.frame_seconds
        silent = now - max(last, stream.segment_start) >= rules.silence_after_speech
        return "silence_after_speech" if silent else None

    def is_endpoint(self, stream: Stream) -> bool:
        """True right after the block that ended a segment (until the next decode_stream)."""
        return stream.ended is not None

    def transcribe(self, samples, sample_rate: int = SAMPLE_RATE, chunk_seconds: float = 0.0,
                   on_result=None) -> list[Result]:  # fmt: skip
        """A whole recording through a new stream: its segments' final results, in order (one
        segment unless an endpoint rule fires). chunk_seconds: feed it in pieces of that
        length, as a live source would (0: all at once; the tokens are the same). on_result:
        called with (result, closed) after each block, for partial results."""
        stream, segments = self.create_stream(), []
        whole = max(len(samples), 1)
        step = max(1, round(chunk_seconds * sample_rate)) if chunk_seconds > 0 else whole
        for i in range(0, len(samples), step):
            stream.accept_waveform(sample_rate, samples[i : i + step])
            segments += self._collect(stream, on_result)
        stream.input_finished()
        return segments + self._collect(stream, on_result) + self.open_segment(stream)

    def _collect(self, stream: Stream, on_result) -> list[Result]:
        ended = []
        for result, closed in self.decode_ready(stream):
            if closed:
                ended.append(result)
            if on_result is not None:
                on_result(result, closed)
        return ended

    def open_segment(self, stream: Stream) -> list[Result]:
        """After the last block: the segment still open, as a list of one final result, or []
        when that block closed it. Closed segments plus this are the whole transcript."""
        return [] if self.is_endpoint(stream) else [self.get_result(stream)]

    def get_result(self, stream: Stream) -> Result:
        """The current segment's `Result`, or the final one of the segment that just ended when
        `is_endpoint` is true."""
        if stream.ended is not None:
            return stream.ended
        return self._result(stream, is_final=stream.finished and not stream.ready())

    def _result(self, stream: Stream, is_final: bool) -> Result:
        hyp = stream.hyps[0]
        return Result(
            text=self.tokenizer.decode(hyp.tokens),
            tokens=tuple(self.tokenizer.symbols[t] for t in hyp.tokens),
            timestamps=tuple(round(f * self.frame_seconds, 3) for f in hyp.frames),
            blocks=tuple(hyp.blocks),
            is_final=is_final,
            segment=stream.segment,
        )

    def reset(self, stream: Stream) -> None:
        stream.reset()


def read_decoding(path: Path) -> DecodingConfig:
    """A decoding.json: {"beam": N, "block_width": W}; ValueError naming the file."""
    try:
        return DecodingConfig(**json.loads(path.read_text()))
    except (ValueError, TypeError) as e:  # JSONDecodeError is a ValueError
        raise ValueError(f"{path}: not a decoding config ({e})") from None


def transcript(segments: list[Result]) -> str:
    """A stream's whole text: its segments' texts in order, empty ones left out."""
    return " ".join(r.text for r in segments if r.text)


def load_lm(path: str | Path, weight: float | None, bonus: float | None, tokenizer,
            word_lm: str | Path | None = None, word_weight: float | None = None):  # fmt: skip
    """A character LM file for beam search, with its weight and bonus overridden if given,
    and a word LM file on top of it (`lm.word_lm`) unless word_lm is None or word_weight 0."""
    from transducer.lm import CharLM

    lm = CharLM.load(path).with_weight(weight, bonus)
    if lm.symbols != tuple(tokenizer.symbols):
        raise ValueError(f"{path}: the language model's symbols differ from the model's tokens")
    if word_lm is None or word_weight == 0:
        return lm
    from transducer.wordlm import WordLM

    words = WordLM.load(word_lm).with_weight(word_weight)
    if words.symbols != lm.symbols:
        raise ValueError(f"{word_lm}: the word LM was built for other tokens than the model's")
    return lm._replace(word_lm=words)
