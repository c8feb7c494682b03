import numpy as np
import pytest
import soundfile as sf


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def speechlike(rng):
    """2.3 s of 16 kHz noise bursts with a stretch of digital silence, like TTS output."""
    x = (rng.standard_normal(36800) * 0.1).astype(np.float32)
    x *= np.repeat(rng.uniform(0.05, 1.0, size=23), 1600).astype(np.float32)
    x[9000:14000] = 0.0
    return x


@pytest.fixture
def write_wav(tmp_path):
    def write(name, samples, sample_rate=16000, subtype=None):
        path = tmp_path / name
        sf.write(str(path), samples, sample_rate, subtype=subtype)
        return path

    return write
