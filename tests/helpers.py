"""Helpers shared by the tests: a toy 'speech' corpus for fast training tests (each letter a
70 ms tone of its own pitch) and a skip where ffmpeg is missing."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from transducer.data.importers import ffmpeg
from transducer.data.manifest import ManifestError

WORDS = ["abc", "cab", "bad", "dab", "ace", "bead", "deed", "fade", "cafe", "face"]


def letter_audio(text: str, rng: np.random.Generator) -> np.ndarray:
    pieces = [np.zeros(1600, np.float32)]
    for ch in text:
        n = 1120  # 70 ms
        if ch == " ":
            pieces.append(np.zeros(n, np.float32))
            continue
        f = 300.0 + 180.0 * (ord(ch) - ord("a"))
        t = np.arange(n) / 16000
        pieces.append((0.3 * np.sin(2 * np.pi * f * t) * np.hanning(n)).astype(np.float32))
    pieces.append(np.zeros(1600, np.float32))
    audio = np.concatenate(pieces)
    return audio + 0.003 * rng.standard_normal(len(audio)).astype(np.float32)


def make_corpus(folder: Path, texts: list[str], seed: int = 0, name: str = "train") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for i, text in enumerate(texts):
        audio = letter_audio(text, rng)
        path = folder / f"{name}-{i:03d}.wav"
        sf.write(str(path), audio, 16000)
        lines.append(
            {
                "id": f"{name}-{i}",
                "audio": path.name,
                "duration": len(audio) / 16000,
                "text": text,
                "speaker": "toy/tone",
            }
        )
    manifest = folder / f"{name}.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return manifest


TINY_MODEL = {
    "d_model": 48,
    "n_enc_layers": 1,
    "d_dec": 32,
    "d_joint": 32,
    "d_att": 16,
    "d_att_lstm": 8,
    "block_width": 4,
    "dropout": 0.0,
    "ctc_weight": 0.1,
    "max_symbols_per_block": 6,
}
TINY_TRAIN = {
    "max_steps": 200,
    "batch_seconds": 8.0,
    "lr": 0.01,
    "warmup_steps": 10,
    "spec_augment": False,
    "speed_perturb": [],
    "log_every": 10,
    "eval_every": 100,
    "eval_utts": 0,
    "stats_utts": 0,
    "num_workers": 0,
}


def write_config(path: Path, model: dict | None = None, train: dict | None = None) -> Path:
    path.write_text(
        json.dumps(
            {"model": {**TINY_MODEL, **(model or {})}, "train": {**TINY_TRAIN, **(train or {})}}
        )
    )
    return path


def ffmpeg_or_skip() -> str:
    """The ffmpeg binary (PyPI's imageio-ffmpeg), or skip the test saying why not."""
    try:
        return ffmpeg()
    except ManifestError as e:
        pytest.skip(str(e))
