"""Checkpoints: written atomically, carrying their config, loaded with weights_only=True.

{"format_version": 1, "config": {"model": ..., "train": ..., "features": ..., ["decoding": ...]},
 "tokens": [...], "stats": {"mean": [...], "std": [...]}, "model": state_dict, ...training state}
"""

import os
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import torch

from transducer.config import (
    DECODING_DEFAULTS,
    TRAINING_RATES,
    DecodingConfig,
    FeatureConfig,
    ModelConfig,
    TrainConfig,
    lists_to_tuples,
)
from transducer.features import EPSILON, FeatureStats
from transducer.model.transducer import NeuralTransducer
from transducer.text import CharTokenizer

FORMAT_VERSION = 1  # checkpoints without the key are of format 1 too


def save_atomic(obj: dict, path: str | Path) -> None:
    """torch.save to a temp file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def bundle(
    model: NeuralTransducer,
    tokenizer,
    stats: FeatureStats,
    features: FeatureConfig,
    train: TrainConfig | None = None,
    decoding: DecodingConfig | None = None,
) -> dict:
    """What inference needs: config, tokenizer, normalisation statistics and weights."""
    config = {"model": asdict(model.cfg), "features": asdict(features)}
    if train is not None:
        config["train"] = asdict(train)
    if decoding is not None:
        config["decoding"] = asdict(decoding)
    return {
        "format_version": FORMAT_VERSION,
        "config": config,
        "tokens": list(tokenizer.symbols),
        "stats": {"mean": list(stats.mean), "std": list(stats.std)},
        "model": model.state_dict(),
    }


def load(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt or not a checkpoint: say which file
        raise ValueError(f"{path}: not a readable checkpoint ({e})") from e


class Loaded(NamedTuple):
    model: NeuralTransducer  # in eval mode
    tokenizer: CharTokenizer
    stats: FeatureStats
    features: FeatureConfig
    decoding: DecodingConfig  # how it decodes by default


def load_model(path: str | Path) -> Loaded:
    """A checkpoint's model and what decoding it needs."""
    ckpt = load(path)
    version = ckpt.setdefault("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format_version {version!r}; this transducer reads "
                         f"up to {FORMAT_VERSION} (a newer release wrote it?)")  # fmt: skip
    for key in ("config", "tokens", "stats", "model"):
        if key not in ckpt:
            raise ValueError(f"{path}: checkpoint has no {key!r} entry")
    for key in ("model", "features"):
        if not isinstance(ckpt["config"].get(key), dict):
            raise ValueError(f"{path}: checkpoint config has no {key!r} section")
    cfg = _config(path, ModelConfig, ckpt["config"]["model"])
    try:
        decoding = DecodingConfig.of(ckpt["config"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: DecodingConfig: {e}") from None
    model = NeuralTransducer(cfg)
    _check_finite(path, ckpt["model"])
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:  # names the missing, unexpected or misshapen tensors
        raise ValueError(f"{path}: weights do not fit its model config: {e}") from e
    stats = FeatureStats(tuple(ckpt["stats"]["mean"]), tuple(ckpt["stats"]["std"]))
    # Checkpoints from before `mel_floor` existed were trained with Kaldi's floor.
    features = _config(path, FeatureConfig, {"mel_floor": EPSILON, **ckpt["config"]["features"]})
    return Loaded(model.eval(), CharTokenizer(ckpt["tokens"]), stats, features, decoding)


def _config(path, cls, d: dict):
    """A config dataclass from a checkpoint's section; errors name the file. A model section
    may hold the beam of a checkpoint from before `DecodingConfig` (`DecodingConfig.of`)."""
    legacy = {"beam"} if cls is ModelConfig else set()
    unknown = sorted(set(d) - set(cls.__dataclass_fields__) - legacy)
    if unknown:
        raise ValueError(f"{path}: unknown {cls.__name__} keys {unknown} (newer or damaged?)")
    try:
        return ModelConfig.of(d) if cls is ModelConfig else cls(**lists_to_tuples(d))
    except (TypeError, ValueError) as e:  # validates the values
        raise ValueError(f"{path}: {cls.__name__}: {e}") from None


def _check_finite(path, weights: dict) -> None:
    """NaN or Inf weights (a diverged run, a damaged file) would decode silently to nothing."""
    for name, value in weights.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            bad = int((~torch.isfinite(value)).sum())
            raise ValueError(f"{path}: weight {name!r} has {bad} NaN or Inf values")


def average(paths: list[str | Path]) -> dict:
    """The weights of several checkpoints of one model averaged (as icefall's `--avg`): a
    weights-only bundle with the last one's config, tokens, statistics and dtypes. Their decoding
    defaults (W, beam) may differ."""
    if not paths:
        raise ValueError("average needs at least one checkpoint")
    ckpts = [load(p) for p in paths]
    last = ckpts[-1]
    for path, ckpt in zip(paths, ckpts, strict=True):
        if _architecture(ckpt) != _architecture(last):
            raise ValueError(f"{path}: its model config differs from {paths[-1]}'s")
        if ckpt["tokens"] != last["tokens"] or ckpt["model"].keys() != last["model"].keys():
            raise ValueError(f"{path}: its tokens or weights differ in kind from {paths[-1]}'s")
    weights = {}
    for key, value in last["model"].items():
        if value.is_floating_point():
            total = sum(c["model"][key].double() for c in ckpts)
            value = (total / len(ckpts)).to(value.dtype)
        weights[key] = value  # integer buffers (counters) are the last one's
    return weights_only(last, weights)


def weights_only(ckpt: dict, weights: dict) -> dict:
    """What inference needs of `ckpt` (no training state), with `weights` as its model."""
    kept = {k: ckpt[k] for k in ("config", "tokens", "stats")}
    return {"format_version": FORMAT_VERSION, **kept, "model": weights}


def _architecture(ckpt: dict) -> dict:
    """A checkpoint's model config less its decoding defaults (a shipped model sets W and beam)
    and its dropout rates (fine-tunes of one model may train with others)."""
    model = ckpt.get("config", {}).get("model", {})
    return {k: v for k, v in model.items() if k not in DECODING_DEFAULTS + TRAINING_RATES}
