import numpy as np
import pytest
import soundfile as sf

from tests.helpers import WORDS, letter_audio, make_corpus, write_config
from transducer.train import train


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


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """Toy-trained models: beam search on a random model rightly emits nothing."""
    folder = tmp_path_factory.mktemp("trained")
    corpus = make_corpus(folder, WORDS[:4])
    paths = {}
    for mode in ("fullsum", "paper"):
        model = {"mode": mode, "n_dec_layers": 1 if mode == "fullsum" else 2}
        config = write_config(
            folder / f"{mode}.json", model, {"alignment": "ctc", "eval_every": 300}
        )
        train(config, corpus, corpus, folder / mode, show_progress=False)
        paths[mode] = folder / mode / "best.pt"
    words = np.concatenate([letter_audio(w + " ", np.random.default_rng(5)) for w in WORDS[:4]])
    return paths, words
