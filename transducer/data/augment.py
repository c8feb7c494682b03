"""Training-time augmentation: speed perturbation and fresh noise on waveforms; frequency
warping (VTLP and formant warps), random fixed filters and SpecAugment on features.

The training loop applies both to training batches only; SpecAugment is also a no-op in eval
mode, so evaluation never sees augmented data.
"""

import math

import numpy as np
import torch
import torchaudio.functional as AF
import torchaudio.transforms as AT

from transducer.data import channel, corrupt


def speed_perturb(waveforms: torch.Tensor, lengths: torch.Tensor, factor: float,
                  sample_rate: int = 16000) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Play (N, T) audio `factor` times faster (tempo and pitch together, as Kaldi does).

    Resampling from sample_rate * factor to sample_rate; returns the waveforms and their new
    lengths in samples (torchaudio's output length, ceil(new * T / orig), per utterance).
    """
    if factor == 1.0:
        return waveforms, lengths
    orig = int(round(sample_rate * factor))
    out = AF.resample(waveforms, orig, sample_rate)
    return out, torch.ceil(lengths * sample_rate / orig).long()


def add_noise(waveforms: torch.Tensor, lengths: torch.Tensor, prob: float,
              snr_db: tuple[float, float], rng: np.random.Generator,
              onset: bool = False) -> torch.Tensor:  # fmt: skip
    """New noise at every step for a share `prob` of a batch's utterances: white, pink or brown
    noise, or babble of the batch's other utterances, at an SNR drawn from `snr_db`.

    A corpus's own noise is the same in every epoch; this gives each pass different noise.
    `onset`: the noise starts at a point drawn in the utterance's second half (often in its
    trailing silence) and lasts to its end. Training clips otherwise start and end in the same
    condition, and the model read noise that began after speech as a fricative (a final "s").
    """
    out = waveforms.clone()
    clips = [w[: int(n)].numpy() for w, n in zip(waveforms, lengths, strict=True)]
    for i in np.flatnonzero(rng.random(len(clips)) < prob):
        others = clips[:i] + clips[i + 1 :]
        noisy = corrupt.add_random_noise(clips[i], others, snr_db, rng)
        start = int(rng.uniform(0.5, 1.0) * len(noisy)) if onset else 0
        out[i, start : len(noisy)] = torch.from_numpy(noisy[start:])
    return out


def lowpass(waveforms: torch.Tensor, lengths: torch.Tensor, prob: float,
            cutoff_hz: tuple[float, float], rng: np.random.Generator,
            sample_rate: int = 16000) -> torch.Tensor:  # fmt: skip
    """A band limit at a cutoff drawn from `cutoff_hz` for a share `prob` of a batch's
    utterances (a 200 Hz linear taper, by FFT): real speech often comes band-limited (the
    games' 11,025 Hz audio stops at 5.5 kHz, a telephone at 3.4 kHz), and a model that never
    heard that would learn "muffled = real" from the few real recordings it trains on."""
    chosen = np.flatnonzero(rng.random(len(waveforms)) < prob)
    out = waveforms.clone()
    if len(chosen) == 0:
        return out
    T = waveforms.shape[1]
    freqs = torch.fft.rfftfreq(T, 1 / sample_rate)  # (F,)
    cutoff = torch.from_numpy(rng.uniform(*cutoff_hz, size=(len(chosen), 1))).float()
    gain = ((cutoff + 100 - freqs) / 200).clamp(0, 1)  # (n, F)
    spectra = torch.fft.rfft(waveforms[chosen], dim=1)
    filtered = torch.fft.irfft(spectra * gain, n=T, dim=1)
    inside = torch.arange(T)[None] < lengths[chosen][:, None]  # the padding stays silent
    out[chosen] = filtered * inside
    return out


def add_channels(waveforms: torch.Tensor, lengths: torch.Tensor, prob: float,
                 kinds: tuple[str, ...], rng: np.random.Generator,
                 rooms: list[np.ndarray] = ()) -> torch.Tensor:  # fmt: skip
    """A real channel (`channel.apply`), one of `kinds`, for a share `prob` of a batch's
    utterances; the codecs' ffmpeg processes run side by side."""
    from concurrent.futures import ThreadPoolExecutor

    chosen = np.flatnonzero(rng.random(len(waveforms)) < prob)
    jobs = [(i, kinds[rng.integers(len(kinds))], np.random.default_rng(rng.integers(2**63)))
            for i in chosen]  # fmt: skip
    out = waveforms.clone()

    def one(job):
        i, kind, job_rng = job
        return channel.apply(waveforms[i, : int(lengths[i])].numpy(), kind, job_rng, rooms)

    with ThreadPoolExecutor(4) as pool:
        for (i, _, _), samples in zip(jobs, pool.map(one, jobs), strict=True):
            out[i, : len(samples)] = torch.from_numpy(samples)
    return out


def freq_warp(feats: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """Vocal tract length perturbation on filterbank features (after Jaitly & Hinton, 2013).

    feats (N, T, F), alphas (N,): output bin k of utterance n reads input bin k * alphas[n]
    (linear interpolation, clamped to the top bin), which stretches (alpha < 1) or squeezes
    (alpha > 1) the spectral envelope as a longer or shorter vocal tract would.
    """
    F = feats.shape[-1]
    src = torch.arange(F).to(feats)[None] * alphas[:, None].to(feats)  # (N, F), on feats' device
    return read_bins(feats, src[:, None, :].expand_as(feats))


def read_bins(feats: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """feats (N, T, F) read at fractional bins src (N, T, F), linear in between and clamped to
    the first and last bins: the resampling both warps share."""
    src = src.clamp(0, feats.shape[-1] - 1)
    below = src.floor().long()
    above = (below + 1).clamp(max=feats.shape[-1] - 1)
    weight = src - below
    return feats.gather(2, below) * (1 - weight) + feats.gather(2, above) * weight


def random_eq(feats: torch.Tensor, gains_db: np.ndarray, log_floor: float) -> torch.Tensor:
    """A fixed filter per utterance, as a new channel or a new voice's long-term spectral shape
    would add, on log-mel features (natural log of the mel energies).

    feats (N, T, F), gains_db (N, K): utterance n's gain in dB at K points spread evenly from the
    first bin to the last, linear in between. A gain of g dB adds g ln(10) / 10 to a bin's log
    energy; the result stays at or above `log_floor`, the log of the mel floor, as a filtered
    waveform's features would.
    """
    F = feats.shape[-1]
    points = np.linspace(0, F - 1, gains_db.shape[1])
    curves = np.stack([np.interp(np.arange(F), points, g) for g in gains_db]) * math.log(10) / 10
    return (feats + torch.from_numpy(curves).to(feats)[:, None, :]).clamp(min=log_floor)


def formant_warp(feats: torch.Tensor, shifts: np.ndarray, every: int) -> torch.Tensor:
    """A warp of the frequency axis that differs from region to region and moves over time, as
    another voice's formants sit elsewhere, and elsewhere for each sound (VTLP moves all of them
    by one factor, for the whole utterance).

    feats (N, T, F), shifts (N, A, K): K control points spread evenly over the bins (the first
    and last bins stay put); at frame a * every, output point k of utterance n reads the input
    shifts[n, a, k] spacings away, |shift| < 0.5 keeping the map monotonic. Bins between points
    and frames between anchors interpolate linearly; frames past the last anchor keep its warp.
    every = 0 takes one warp per utterance (A = 1).
    """
    N, T, F = feats.shape
    A, K = shifts.shape[1:]
    points = np.linspace(0, F - 1, K + 2)
    reads = points + np.pad(shifts, ((0, 0), (0, 0), (1, 1))) * points[1]  # (N, A, K + 2)
    maps = np.stack([np.interp(np.arange(F), points, r) for r in reads.reshape(-1, K + 2)])
    maps = maps.reshape(N, A, F)
    at = np.minimum(np.arange(T) / every, A - 1) if every else np.zeros(T)
    lo = at.astype(int)
    frac = (at - lo)[None, :, None]
    src = maps[:, lo] * (1 - frac) + maps[:, np.minimum(lo + 1, A - 1)] * frac  # (N, T, F)
    return read_bins(feats, torch.from_numpy(src).to(feats))


class SpecAugment(torch.nn.Module):
    """Frequency and time masks (Park et al., 2019) with torchaudio's masking transforms.

    Works on normalised features (N, T, F), where the mean is 0, so masks fill with 0. Each
    utterance of a batch gets its own masks. Time masks are at most `max_time_ratio` of T each.
    """

    def __init__(
        self,
        n_freq_masks: int = 2,
        freq_mask: int = 27,
        n_time_masks: int = 2,
        time_mask: int = 40,
        max_time_ratio: float = 0.05,
    ):
        super().__init__()
        self.freq = torch.nn.ModuleList(
            [AT.FrequencyMasking(freq_mask, iid_masks=True) for _ in range(n_freq_masks)]
        )
        self.time = torch.nn.ModuleList(
            [
                AT.TimeMasking(time_mask, iid_masks=True, p=max_time_ratio)
                for _ in range(n_time_masks)
            ]
        )

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """feats (N, T, F) -> (N, T, F)."""
        assert feats.ndim == 3, feats.shape
        if not self.training:
            return feats
        x = feats.transpose(1, 2).unsqueeze(1)  # (N, 1, F, T): iid masks need 4 dims
        for mask in [*self.freq, *self.time]:
            x = mask(x)
        return x.squeeze(1).transpose(1, 2)
