"""Audio input: read, validate, mix to mono and resample.

Everything here is NumPy (plus soundfile) so the torch-free runtime can use it. `resample` is the
same polyphase windowed-sinc filter as `torchaudio.functional.resample` with its defaults (Hann
window, 6 zero crossings, roll-off 0.99), tested against it; training's speed perturbation calls
torchaudio directly (`transducer.data.augment`).
"""

import math
import struct
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000


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
            f.seek(int(round(offset * sample_rate)))
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
    """(T,) or (T, C) -> (T,) by averaging channels."""
    if samples.ndim == 1:
        return samples
    if samples.ndim != 2:
        raise AudioError(f"audio must be (T,) or (T, channels), got shape {samples.shape}")
    return samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]


@lru_cache(maxsize=16)
def _sinc_kernel(orig: int, new: int, width_zeros: int = 6, rolloff: float = 0.99):
    """torchaudio's `_get_sinc_resample_kernel` in NumPy: (new, L) filters and the pad width."""
    base_freq = min(orig, new) * rolloff
    width = math.ceil(width_zeros * orig / base_freq)
    idx = np.arange(-width, width + orig, dtype=np.float64)[None, :] / orig  # (1, L)
    t = (np.arange(0, -new, -1, dtype=np.float64)[:, None] / new + idx) * base_freq  # (new, L)
    t = t.clip(-width_zeros, width_zeros)
    window = np.cos(t * math.pi / width_zeros / 2) ** 2
    t *= math.pi
    safe = np.where(t == 0, 1.0, t)
    kernels = np.where(t == 0, 1.0, np.sin(safe) / safe) * window * (base_freq / orig)
    return kernels, width  # float64: chunked and whole outputs then round to the same float32


def resample(samples: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Resample (T,) float32 like `torchaudio.functional.resample` (same filter, same length).

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

    Output block k (`new` samples) needs input [k * orig - width, (k + 1) * orig + width), with
    zeros before the start, so it is emitted once that much input has arrived; `flush()` pads
    the end with zeros, as the whole-signal filter does, and trims to ceil(new * T / orig).
    """

    def __init__(self, orig_rate: int, new_rate: int = SAMPLE_RATE):
        if orig_rate <= 0 or new_rate <= 0:
            raise AudioError(f"sample rates must be positive, got {orig_rate} -> {new_rate}")
        gcd = math.gcd(int(orig_rate), int(new_rate))
        self.orig, self.new = orig_rate // gcd, new_rate // gcd
        self.identity = orig_rate == new_rate
        if not self.identity:
            self.kernels, self.width = _sinc_kernel(self.orig, self.new)
        self.reset()

    def reset(self) -> None:
        self.n_in = 0  # input samples accepted
        self.n_out = 0  # output samples emitted
        width = 0 if self.identity else self.width
        self._buffer = np.zeros(width, dtype=np.float32)  # input from block n_out/new on, padded

    def _blocks(self, padded: np.ndarray, n_blocks: int) -> np.ndarray:
        L = self.kernels.shape[1]
        frames = np.lib.stride_tricks.sliding_window_view(padded, L)[:: self.orig][:n_blocks]
        return (frames.astype(np.float64) @ self.kernels.T).reshape(-1).astype(np.float32)

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """(T,) float32 in -> the output samples that are now final."""
        self.n_in += len(samples)
        if self.identity:
            self.n_out += len(samples)
            return samples.astype(np.float32, copy=False)
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
        L = self.kernels.shape[1]
        n_blocks = (len(self._buffer) - L) // self.orig + 1 if len(self._buffer) >= L else 0
        out = self._blocks(self._buffer, n_blocks) if n_blocks else np.zeros(0, np.float32)
        self._buffer = self._buffer[n_blocks * self.orig :]
        self.n_out += len(out)
        return out

    def flush(self) -> np.ndarray:
        """The end of the input: the remaining output samples."""
        total = math.ceil(self.new * self.n_in / self.orig)
        if self.identity or total <= self.n_out:
            return np.zeros(0, np.float32)
        padded = np.concatenate([self._buffer, np.zeros(self.width + self.orig, np.float32)])
        L = self.kernels.shape[1]
        n_blocks = (len(padded) - L) // self.orig + 1
        out = self._blocks(padded, n_blocks)[: total - self.n_out]
        self.n_out += len(out)
        return out
