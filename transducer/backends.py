"""Backends: the parts a `Recognizer` runs, from a checkpoint (Numba or torch) or from an ONNX
export folder (onnxruntime or Numba encoder, Numba decoder; `transducer.export.runtime`). The
recognizer asks `load_parts`; the export runtime returns Parts' fields as a plain tuple, so it
imports neither this module nor the recognizer."""

from pathlib import Path
from typing import NamedTuple

import numpy as np

from transducer.config import DecodingConfig, ModelConfig


class Parts(NamedTuple):
    """What a `Recognizer` runs, whichever backend built it."""

    cfg: ModelConfig
    tokenizer: object  # CharTokenizer
    stats: object  # FeatureStats
    features: object  # FeatureConfig
    decoding: DecodingConfig  # how the model decodes by default
    encoder: object  # initial_state() and (feats, state) -> (frames, state)
    decoder: object  # initial(), greedy_block(...), beam_block(...)
    model: object = None  # the torch model, when loaded from a checkpoint


class TorchEncoder:
    """The encoder backend: normalised features (T, F) + state -> frames (T', D) + state."""

    def __init__(self, model):
        self.model = model

    def initial_state(self):
        return self.model.encoder.initial_state(1)

    def __call__(self, feats: np.ndarray, state):
        import torch

        with torch.no_grad():
            frames, state = self.model.encoder.encode_chunk(torch.from_numpy(feats)[None], state)
        return frames[0].numpy(), state


def load_parts(model: str | Path, backend: str) -> Parts:
    """The parts of `backend` ("numba", "numba-int8", "torch", "onnx", "onnx-int8") for a
    checkpoint (numba, torch) or an export folder (numba, onnx: no torch imported)."""
    if backend.startswith("onnx") or (backend != "torch" and Path(model).is_dir()):
        from transducer.export.runtime import load_export

        return Parts(*load_export(model, backend))
    return _load_torch(model, backend)


def _load_torch(path: str | Path, backend: str) -> Parts:
    """A checkpoint's parts, with Numba or torch encoder and decoder."""
    from transducer.checkpoint import load_model

    model, tokenizer, stats, features, decoding = load_model(path)
    if backend.startswith("numba"):
        from transducer.decode.fast import FastDecoder
        from transducer.decode.numba_encoder import NumbaEncoder

        encoder = NumbaEncoder.from_model(model, int8=backend == "numba-int8")
        decoder = FastDecoder.from_model(model)
    else:
        from transducer.decode.search import TorchDecoder

        encoder, decoder = TorchEncoder(model), TorchDecoder(model)
    return Parts(model.cfg, tokenizer, stats, features, decoding, encoder, decoder, model)
