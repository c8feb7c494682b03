"""80-bin log-mel filterbank features, as `torchaudio.compliance.kaldi.fbank` computes them.

Settings: 25 ms Povey window, 10 ms hop, 512-point FFT, per-frame DC removal and pre-emphasis,
power spectrum, Kaldi mel banks from 20 Hz to Nyquist, natural log of the mel energies floored
at `mel_floor` (Kaldi floors at float32 epsilon), `snip_edges=True`, no dither. Every frame
depends only on its own 400 samples, which is what makes exact streaming possible: the streaming
extractor emits frame i as soon as sample 160 i + 399 has arrived, and gives the same numbers
whatever the chunking.

Two implementations with the same numbers (tested to <= 1e-4):
- `fbank_torch`: batched, for training;
- `StreamingFbank`: NumPy, for inference without torch.
Global mean/variance normalisation (`FeatureStats`) is computed from training data and is stored
with the model; an optional online mean normalisation (`online_cmn`, `OnlineCMN`) follows it.
"""

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from transducer.config import FeatureConfig

EPSILON = float(np.finfo(np.float32).eps)


def _mel(freq):
    return 1127.0 * np.log(1.0 + freq / 700.0)


@lru_cache(maxsize=8)
def mel_banks(cfg: FeatureConfig) -> np.ndarray:
    """Kaldi triangular mel filters, (n_fft // 2 + 1, n_mels) float64, last FFT bin zero.

    Computed in float32 like `torchaudio.compliance.kaldi.get_mel_banks`, so that the two agree
    to rounding (float64 filters would differ from it by ~1e-5).
    """
    n_bins = cfg.n_fft // 2
    mel_low, mel_high = math.log1p(cfg.low_freq / 700.0), math.log1p(cfg.mel_high_freq / 700.0)
    mel_low, mel_high = 1127.0 * mel_low, 1127.0 * mel_high
    delta = (mel_high - mel_low) / (cfg.n_mels + 1)
    b = np.arange(cfg.n_mels, dtype=np.float32)[:, None]
    left, center, right = (
        (mel_low + (b + k) * delta).astype(np.float32) for k in (0.0, 1.0, 2.0)
    )  # (n_mels, 1)
    freqs = np.float32(cfg.sample_rate / cfg.n_fft) * np.arange(n_bins, dtype=np.float32)
    mel = _mel(freqs)[None, :]  # (1, n_bins) float32
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))  # (n_mels, n_bins)
    banks = np.pad(banks.astype(np.float64), ((0, 0), (0, 1)))  # Nyquist bin: no weight (Kaldi)
    return banks.T


@lru_cache(maxsize=8)
def povey_window(window_size: int) -> np.ndarray:
    """Kaldi's Povey window: a symmetric Hann window to the power 0.85."""
    n = np.arange(window_size, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(2 * math.pi * n / (window_size - 1))) ** 0.85


def n_frames(n_samples: int, cfg: FeatureConfig) -> int:
    """Frames from `n_samples` samples (snip_edges: only whole windows)."""
    if n_samples < cfg.window_size:
        return 0
    return 1 + (n_samples - cfg.window_size) // cfg.hop_size


def _fbank_frames(frames: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """(F, window_size) raw sample frames -> (F, n_mels) float32 log-mel, in float64 inside."""
    x = frames.astype(np.float64) * cfg.input_scale
    x = x - x.mean(axis=1, keepdims=True)
    previous = np.concatenate([x[:, :1], x[:, :-1]], axis=1)  # replicate-pad, as Kaldi
    x = (x - cfg.preemphasis * previous) * povey_window(cfg.window_size)
    power = np.abs(np.fft.rfft(x, n=cfg.n_fft)) ** 2  # (F, n_fft // 2 + 1)
    return np.log(np.maximum(power @ mel_banks(cfg), cfg.mel_floor)).astype(np.float32)


def fbank(samples: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Whole-utterance NumPy features: (T,) float32 samples -> (F, n_mels) float32."""
    F = n_frames(len(samples), cfg)
    if F == 0:
        return np.zeros((0, cfg.n_mels), dtype=np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(samples, cfg.window_size)[:: cfg.hop_size]
    return _fbank_frames(windows[:F], cfg)


class StreamingFbank:
    """NumPy streaming extractor: feed samples in any chunks, get each frame once it is whole.

    >>> fe = StreamingFbank()
    >>> feats = [fe.accept(chunk) for chunk in chunks]  # each (F_i, n_mels), F_i may be 0
    """

    def __init__(self, cfg: FeatureConfig = FeatureConfig()):
        self.cfg = cfg
        self.reset()

    def reset(self) -> None:
        """Forget all audio; the next sample starts frame 0 again."""
        self._buffer = np.zeros(0, dtype=np.float32)  # samples not yet fully consumed
        self.n_frames_out = 0

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """Append 16 kHz float32 samples (T,); return the newly complete frames (F, n_mels)."""
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
        feats = fbank(self._buffer, self.cfg)
        # Drop the samples no future frame needs: frame k starts at k * hop.
        self._buffer = self._buffer[len(feats) * self.cfg.hop_size :]
        self.n_frames_out += len(feats)
        return feats


def fbank_torch(waveforms, lengths=None, cfg: FeatureConfig = FeatureConfig()):
    """Batched torch features for training.

    waveforms: (N, T) float32 at cfg.sample_rate, padded; lengths: (N,) samples or None.
    Returns feats (N, F, n_mels) and feat_lens (N,); frames past a length are zero.
    """
    import torch

    assert waveforms.ndim == 2, waveforms.shape
    N, T = waveforms.shape
    if lengths is None:
        lengths = torch.full((N,), T, dtype=torch.long)
    F = n_frames(T, cfg)
    feat_lens = torch.clamp((lengths - cfg.window_size) // cfg.hop_size + 1, min=0)
    if F == 0:
        return waveforms.new_zeros(N, 0, cfg.n_mels), feat_lens
    # float64 inside: in float32 the FFT loses ~2e-4 (log domain) on weak bins beside strong
    # ones, more than the 1e-4 by which training and streaming features may differ.
    x = waveforms.double().unfold(1, cfg.window_size, cfg.hop_size) * cfg.input_scale  # (N, F, W)
    x = x - x.mean(dim=2, keepdim=True)
    previous = torch.cat([x[..., :1], x[..., :-1]], dim=2)
    window = torch.from_numpy(povey_window(cfg.window_size)).to(x)
    x = (x - cfg.preemphasis * previous) * window
    spectrum = torch.fft.rfft(x, n=cfg.n_fft)  # |z|^2 as re^2 + im^2: abs() is 4x slower
    power = spectrum.real.square() + spectrum.imag.square()  # (N, F, n_fft // 2 + 1)
    banks = torch.from_numpy(mel_banks(cfg)).to(x)
    feats = torch.clamp(power @ banks, min=cfg.mel_floor).log()  # (N, F, n_mels)
    mask = torch.arange(F, device=feats.device)[None, :] < feat_lens[:, None]
    return (feats * mask[..., None]).to(waveforms.dtype), feat_lens


@dataclass(frozen=True)
class FeatureStats:
    """Global per-bin mean and standard deviation, from training data; stored with the model."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def normalize(self, feats: np.ndarray) -> np.ndarray:
        """(..., n_mels) -> (feats - mean) / std, float32."""
        mean = np.asarray(self.mean, dtype=np.float32)
        return (feats - mean) / np.asarray(self.std, dtype=np.float32)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"mean": self.mean, "std": self.std}))

    @staticmethod
    def load(path: str | Path) -> "FeatureStats":
        d = json.loads(Path(path).read_text())
        return FeatureStats(tuple(d["mean"]), tuple(d["std"]))


def online_cmn(feats: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Causal mean normalisation of globally normalised features (..., T, n_mels): frame t minus
    the sum of the last `cfg.cmn_window` frames up to t, divided by their count plus
    `cfg.cmn_prior` (prior frames at 0, the global mean), so a stream's first frames change
    little. Off when cmn_window is 0. `OnlineCMN` does the same for a stream.
    """
    if not cfg.cmn_window:
        return feats
    T = feats.shape[-2]
    sums = np.cumsum(feats, axis=-2, dtype=np.float64)
    sums = np.concatenate([np.zeros_like(sums[..., :1, :]), sums], axis=-2)  # sums[t]: t frames
    end = np.arange(1, T + 1)
    start = np.maximum(end - cfg.cmn_window, 0)
    mean = (sums[..., end, :] - sums[..., start, :]) / (cfg.cmn_prior + end - start)[:, None]
    return (feats - mean).astype(np.float32)


class OnlineCMN:
    """`online_cmn` for features that arrive in pieces: the same output (to float64 rounding),
    whatever the chunking.

    Keeps running (prefix) sums of the frames in float64, so a chunk costs O(its length), not
    O(the window): `sums[i + 1] - sums[j]` is the sum of the frames j..i kept in the buffer."""

    def __init__(self, cfg: FeatureConfig):
        self.cfg = cfg
        self.sums = np.zeros((max(2 * cfg.cmn_window, 64) + 1, cfg.n_mels))
        self.rows = 1  # sums[0] = 0: nothing yet
        self.seen = 0  # frames so far

    def accept(self, feats: np.ndarray) -> np.ndarray:
        """(T, n_mels) globally normalised -> (T, n_mels) mean-normalised."""
        window, T = self.cfg.cmn_window, len(feats)
        if not window:
            return feats
        if self.rows + T > len(self.sums):  # keep the last `window` rows, make room for T more
            keep = min(self.rows, window)
            sums = np.zeros((keep + T + max(2 * window, 64), self.cfg.n_mels))
            sums[:keep] = self.sums[self.rows - keep : self.rows]
            self.sums, self.rows = sums, keep
        end = np.arange(self.rows, self.rows + T)  # the row after each new frame
        self.sums[end] = self.sums[self.rows - 1] + np.cumsum(feats, axis=0, dtype=np.float64)
        count = np.minimum(self.seen + 1 + np.arange(T), window)  # frames in each window
        mean = (self.sums[end] - self.sums[end - count]) / (self.cfg.cmn_prior + count)[:, None]
        self.rows, self.seen = self.rows + T, self.seen + T
        return (feats - mean).astype(np.float32)


class StatsAccumulator:
    """Running sums over frames, in float64 so hours of audio add up exactly enough."""

    def __init__(self, n_mels: int):
        self.n = 0
        self.sum = np.zeros(n_mels)
        self.sum_sq = np.zeros(n_mels)

    def add(self, feats: np.ndarray) -> None:
        """feats: (F, n_mels)."""
        self.n += len(feats)
        self.sum += feats.sum(axis=0, dtype=np.float64)
        self.sum_sq += np.square(feats, dtype=np.float64).sum(axis=0)

    def result(self, min_std: float = 1e-3) -> FeatureStats:
        if self.n == 0:
            raise ValueError("cannot compute feature statistics from zero frames")
        mean = self.sum / self.n
        std = np.sqrt(np.maximum(self.sum_sq / self.n - mean**2, min_std**2))
        return FeatureStats(tuple(mean.tolist()), tuple(std.tolist()))
