"""Decoding: the torch reference searches (greedy, block-synchronous beam) for both modes in
`search`, the Numba decoder with the same results in `fast`. Importing this package does not
import torch (the onnxruntime runtime relies on that); the torch names load on first use."""

from transducer.decode.hypothesis import Hypothesis

_SEARCH = ("Stepper", "TorchDecoder", "beam_block", "beam_search", "greedy_block", "greedy_search")

__all__ = ["Hypothesis", *_SEARCH]


def __getattr__(name: str):
    if name in _SEARCH:
        from transducer.decode import search

        return getattr(search, name)
    raise AttributeError(f"module 'transducer.decode' has no attribute {name!r}")
