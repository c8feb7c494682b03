"""New voices from two: voice a's speech with its spectral envelope moved towards voice b's.

flite has five voices, three or four of them in training (`kal`/`kal16`, `slt`, `awb` unless it
is dev's), too few to learn what a new flite voice sounds like (one more voice in training cut
the held-out one's CER by 9 points).
Both voices say the same sentence; their frames are aligned by dynamic time warping on
cepstra, and a's short-time spectrum is multiplied by exp(alpha * (env_b - env_a)), where env
is the cepstrally smoothed log magnitude. a's excitation (pitch, voicing) and timing stay; the
formants move a fraction alpha of the way to b's.

    samples = morph(a, b, alpha=0.5)  # 16 kHz float32, as long as a
"""

import numba as nb
import numpy as np

N_FFT, HOP = 512, 128  # 32 ms Hann windows, 8 ms apart at 16 kHz
LIFTER = 40  # cepstral coefficients kept in the envelope: quefrencies below 2.5 ms
N_ALIGN = 20  # cepstral coefficients (from c1) compared by the alignment
WINDOW = np.hanning(N_FFT + 1)[:-1]


def stft(x: np.ndarray) -> np.ndarray:
    """(frames, N_FFT // 2 + 1) complex spectra; frame i is centred on sample i * HOP."""
    padded = np.pad(x.astype(np.float64), (N_FFT // 2, N_FFT // 2 + HOP))
    n = 1 + (len(padded) - N_FFT) // HOP
    index = np.arange(N_FFT)[None] + HOP * np.arange(n)[:, None]
    return np.fft.rfft(padded[index] * WINDOW, axis=1)


def istft(spectra: np.ndarray, length: int) -> np.ndarray:
    """Weighted overlap-add inverse of `stft`: `length` samples."""
    frames = np.fft.irfft(spectra, n=N_FFT, axis=1) * WINDOW
    out = np.zeros(HOP * (len(frames) - 1) + N_FFT)
    norm = np.zeros_like(out)
    for i, frame in enumerate(frames):
        out[i * HOP : i * HOP + N_FFT] += frame
        norm[i * HOP : i * HOP + N_FFT] += WINDOW**2
    out /= np.maximum(norm, 1e-8)
    return out[N_FFT // 2 : N_FFT // 2 + length]


def envelope(spectra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cepstrally smoothed log magnitude (frames, bins) and cepstra c1..c(LIFTER-1)."""
    cepstra = np.fft.irfft(np.log(np.abs(spectra) + 1e-5), axis=1)
    cepstra[:, LIFTER:-LIFTER] = 0
    return np.fft.rfft(cepstra, axis=1).real, cepstra[:, 1:LIFTER]


@nb.njit(cache=True)
def align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dynamic time warping (Euclidean, steps (1,1), (1,0), (0,1)) of feature sequences a (n, d)
    and b (m, d), both ends tied: for each frame of a, the frame of b it is matched to."""
    n, m = a.shape[0], b.shape[0]
    cost = np.full((n + 1, m + 1), np.inf)
    cost[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d = np.sqrt(((a[i - 1] - b[j - 1]) ** 2).sum())
            cost[i, j] = d + min(cost[i - 1, j - 1], cost[i - 1, j], cost[i, j - 1])
    match = np.zeros(n, np.int64)
    i, j = n, m
    while i > 0:
        match[i - 1] = j - 1
        diagonal, up, left = cost[i - 1, j - 1], cost[i - 1, j], cost[i, j - 1]
        if diagonal <= up and diagonal <= left:
            i, j = i - 1, j - 1
        elif up <= left:
            i -= 1
        else:
            j -= 1
    return match


def morph(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """a (float samples) with its spectral envelope moved `alpha` (0: a, 1: b's) towards that
    of b, the same sentence in another voice at the same rate."""
    spectra_a, spectra_b = stft(a), stft(b)
    env_a, cep_a = envelope(spectra_a)
    env_b, cep_b = envelope(spectra_b)
    match = align(cep_a[:, :N_ALIGN], cep_b[:, :N_ALIGN])
    out = istft(spectra_a * np.exp(alpha * (env_b[match] - env_a)), len(a))
    return out.astype(np.float32)
