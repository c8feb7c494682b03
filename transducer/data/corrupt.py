"""Acoustic corruption for synthetic speech: coloured noise, babble, room reverberation, gain.

Pure NumPy functions of samples and an rng, so a corpus is reproducible from its seed.
"""

import numpy as np

NOISE_KINDS = ("white", "pink", "brown", "babble")
_EXPONENT = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power spectrum ~ 1 / f^exponent


def coloured_noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise of n samples with a 1/f^a power spectrum."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = f[1] if len(f) > 1 else 1.0  # no infinite DC gain
    noise = np.fft.irfft(spectrum / f ** (_EXPONENT[kind] / 2), n)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def babble(pool: list[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS mix of 3-6 talkers from `pool`, each looped from a random start to n samples."""
    out = np.zeros(n, dtype=np.float64)
    for k in rng.choice(len(pool), size=min(len(pool), int(rng.integers(3, 7))), replace=False):
        talker = pool[k]
        reps = int(np.ceil((n + len(talker)) / len(talker)))
        start = int(rng.integers(len(talker)))
        out += np.tile(talker, reps)[start : start + n] / (np.sqrt(np.mean(talker**2)) + 1e-12)
    return (out / (np.sqrt(np.mean(out**2)) + 1e-12)).astype(np.float32)


def add_noise(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Mix unit-RMS `noise` into `speech` at `snr_db`, measured over the speech's active part."""
    speech_power = active_power(speech)
    gain = np.sqrt(speech_power / 10 ** (snr_db / 10))
    return (speech + gain * noise[: len(speech)]).astype(np.float32)


def add_random_noise(speech: np.ndarray, babble_pool: list[np.ndarray], snr_db: tuple[float, float],
                     rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """White, pink or brown noise, or babble from `babble_pool` (white if the pool is empty),
    mixed in at an SNR drawn uniformly from `snr_db`."""
    kind = NOISE_KINDS[rng.integers(len(NOISE_KINDS))]
    if kind == "babble" and babble_pool:
        noise = babble(babble_pool, len(speech), rng)
    else:
        noise = coloured_noise("white" if kind == "babble" else kind, len(speech), rng)
    return add_noise(speech, noise, float(rng.uniform(*snr_db)))


def active_power(speech: np.ndarray, frame: int = 320) -> float:
    """Mean power over 20 ms frames within 30 dB of the loudest: silence padding not counted."""
    n = max(1, len(speech) // frame)
    powers = np.mean(speech[: n * frame].astype(np.float64).reshape(n, -1) ** 2, axis=1)
    active = powers > 1e-3 * powers.max()
    return float(powers[active].mean()) if active.any() else float(np.mean(speech**2))


def room_impulse_response(rt60: float, rng: np.random.Generator, sr: int = 16000) -> np.ndarray:
    """A synthetic RIR: a direct path, then exponentially decaying noise reaching -60 dB at rt60."""
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # ln(1000) = 6.9078: -60 dB
    delay = int(rng.integers(int(0.002 * sr), int(0.010 * sr)))  # first reflections after 2-10 ms
    rir = np.concatenate([np.zeros(delay), tail])[:n]
    rir *= float(rng.uniform(0.3, 1.0)) / (np.sqrt(np.sum(rir**2)) + 1e-12)  # direct-to-reverb
    rir[0] = 1.0
    return rir


def reverberate(speech: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve (FFT) and keep the original length, rescaled to the original peak."""
    n = len(speech) + len(rir) - 1
    size = 1 << (n - 1).bit_length()
    wet = np.fft.irfft(np.fft.rfft(speech, size) * np.fft.rfft(rir, size), size)[: len(speech)]
    return (wet * (np.abs(speech).max() / (np.abs(wet).max() + 1e-12))).astype(np.float32)


def set_level(samples: np.ndarray, rms_db: float) -> np.ndarray:
    """Scale to an RMS of `rms_db` dBFS, lowered if needed so nothing clips."""
    rms = np.sqrt(np.mean(samples.astype(np.float64) ** 2)) + 1e-12
    gain = min(10 ** (rms_db / 20) / rms, 0.99 / (np.abs(samples).max() + 1e-12))
    return (samples * gain).astype(np.float32)
