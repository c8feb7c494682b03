"""Audio input: read, validate, mix to mono and resample.

Everything here is NumPy, soundfile and soxr so the torch-free runtime can use it. Resampling
is libsoxr's (memory and time in proportion to the audio at any rate); training's speed
perturbation calls torchaudio directly (`transducer.data.augment`).
"""

import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from transducer.config import FeatureConfig

SAMPLE_RATE = FeatureConfig.sample_rate  # Hz: what every model's features are computed at
MIN_RATE, MAX_RATE = 1000, 384000  # Hz: input rates accepted (telephony to studio)
MAX_CHANNELS = 16  # more is taken for a channels-first (C, T) array


class AudioError(ValueError):
    """Audio that cannot be used; the message names the file (or input) and the problem."""


def read_audio(path: str | Path, offset: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Read a file soundfile understands (wav, flac, ogg, ...) as 16 kHz mono float32 in [-1, 1].

    `offset` and `duration` (seconds) select a segment. Returns samples of shape (T,).
    Raises AudioError for a missing, unreadable, truncated, empty or non-finite file.
    """
    samples, sample_rate = read_audio_raw(path, offset, duration)
    return resample(to_mono(samples), sample_rate, SAMPLE_RATE)


def read_audio_raw(
    path: str | Path, offset: float = 0.0, duration: float | None = None
) -> tuple[np.ndarray, int]:
    """Read a file as float32 (T, C) at its own sample rate, validated."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    _check_wav_not_truncated(path)
    try:
        with sf.SoundFile(str(path)) as f:
            sample_rate = f.samplerate
            start = int(round(offset * sample_rate))
            if start >= f.frames > 0:
                raise AudioError(f"{path}: offset {offset:g} s is past the end of the file "
                                 f"({f.frames / sample_rate:g} s)")  # fmt: skip
            f.seek(start)
            n = -1 if duration is None else int(round(duration * sample_rate))
            samples = f.read(n, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as e:
        raise AudioError(f"{path}: cannot read audio ({e})") from e
    validate(samples, name=str(path))
    return samples, sample_rate


def _check_wav_not_truncated(path: Path) -> None:
    """libsndfile silently shortens a truncated WAV; compare the data chunk with the file size."""
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return  # not a RIFF WAV: soundfile itself reports what is wrong
        size = path.stat().st_size
        while chunk := f.read(8):
            if len(chunk) < 8:
                break
            chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                available = size - f.tell()
                # Streaming writers leave 0 or 0xFFFFFFFF as "unknown length": not an error.
                if chunk_size not in (0, 0xFFFFFFFF) and available < chunk_size:
                    raise AudioError(
                        f"{path}: truncated WAV file: header promises {chunk_size} bytes "
                        f"of audio, only {available} present"
                    )
                return
            f.seek(chunk_size + (chunk_size & 1), 1)


def validate(samples: np.ndarray, name: str = "audio") -> None:
    """Raise AudioError if `samples` is empty or holds NaN or Inf."""
    if samples.size == 0:
        raise AudioError(f"{name}: no audio samples (empty input)")
    if not np.isfinite(samples).all():
        bad = int(np.flatnonzero(~np.isfinite(samples.reshape(-1)))[0])
        raise AudioError(f"{name}: non-finite value (NaN or Inf) at flat sample index {bad}")


def to_float32(samples: np.ndarray) -> np.ndarray:
    """int16 -> float32 in [-1, 1); float input is cast to float32 unchanged."""
    samples = np.asarray(samples)
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / 32768.0
    if samples.dtype.kind == "f":
        return samples.astype(np.float32, copy=False)
    raise AudioError(f"audio samples must be float or int16, got dtype {samples.dtype}")


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(T,) or (T, C) -> (T,) by averaging channels (at most MAX_CHANNELS of them)."""
    if samples.ndim == 1:
        return samples
    if samples.ndim != 2 or not 1 <= samples.shape[1] <= MAX_CHANNELS:
        hint = ""
        if samples.ndim == 2 and 1 <= samples.shape[0] <= MAX_CHANNELS:
            hint = f" (channels first? pass the transpose, shape {samples.shape[::-1]})"
        raise AudioError(
            f"audio must be (T,) or (T, channels) with at most {MAX_CHANNELS} channels, "
            f"got shape {samples.shape}{hint}"
        )
    return samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]


def resample(samples: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Resample (T,) float32 from `orig_rate` to `new_rate` Hz.

    The whole signal goes through the streaming resampler, so both give the same numbers.
    """
    resampler = StreamingResampler(orig_rate, new_rate)
    return np.concatenate([resampler.accept(samples), resampler.flush()])


def write_audio(path: str | Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write 16-bit PCM WAV atomically: a temp file in the same folder, then rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    sf.write(str(tmp), np.clip(samples, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    tmp.replace(path)


class StreamingResampler:
    """`resample` for audio that arrives in pieces: the same output, whatever the chunking.

    libsoxr (python-soxr) at "HQ" quality: a linear-phase filter whose cost per input sample is
    bounded for any pair of rates (a polyphase table of new/gcd phases is not: 44101 Hz needs
    16,000 of them). Its stream carries the filter's state between pieces and `flush()` returns
    what the filter still holds, so chunked output equals whole output sample for sample (tested).
    """

    def __init__(self, orig_rate: int, new_rate: int = SAMPLE_RATE):
        for rate in (orig_rate, new_rate):
            if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)):
                raise AudioError(f"sample rates must be integers, got {rate!r}")
            if not MIN_RATE <= rate <= MAX_RATE:
                raise AudioError(f"sample rate must be in [{MIN_RATE}, {MAX_RATE}] Hz, got {rate}")
        self.orig, self.new = int(orig_rate), int(new_rate)
        self.reset()

    def reset(self) -> None:
        self._stream = None
        if self.orig != self.new:
            self._stream = soxr.ResampleStream(self.orig, self.new, 1, "float32", "HQ")

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """(T,) float32 in -> the output samples that are now final."""
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if self._stream is None:
            return samples
        return self._stream.resample_chunk(samples, last=False)

    def flush(self) -> np.ndarray:
        """The end of the input: the remaining output samples."""
        if self._stream is None:
            return np.zeros(0, np.float32)
        return self._stream.resample_chunk(np.zeros(0, np.float32), last=True)
