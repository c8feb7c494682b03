"""An hour-long stream keeps memory flat (slow: run with `pytest -m slow`)."""

import os

import numpy as np
import pytest

from transducer.bench import random_model
from transducer.recognizer import Recognizer


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.slow
def test_hour_long_stream_memory_is_flat(tmp_path):
    rec = Recognizer(random_model(tmp_path / "m.pt"))
    stream, rng = rec.create_stream(), np.random.default_rng(0)
    t = np.arange(16000) / 16000
    tone = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    usage, segments = {}, 0
    for second in range(3600):
        audio = tone if second % 10 < 5 else np.zeros(16000, np.float32)
        audio = audio + (0.01 * rng.standard_normal(16000)).astype(np.float32)
        for i in range(0, 16000, 1600):  # 100 ms chunks
            stream.accept_waveform(16000, audio[i : i + 1600])
            while rec.is_ready(stream):
                rec.decode_stream(stream)
                segments += rec.is_endpoint(stream)
        if second + 1 in (300, 3600):
            usage[second + 1] = rss_mb()
    growth = usage[3600] - usage[300]
    print(f"RSS after 5 min {usage[300]:.1f} MB, after 60 min {usage[3600]:.1f} MB, "
          f"growth {growth:+.1f} MB, {segments} segments")  # fmt: skip
    assert segments > 100  # endpointing (20-s maximum at least) keeps starting new segments
    assert growth < 10.0
