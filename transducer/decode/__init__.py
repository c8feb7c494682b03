"""Decoding: the torch reference searches (greedy, block-synchronous beam) for both modes;
the Numba decoder with the same results is `transducer.decode.fast`."""

from transducer.decode.search import (
    Hypothesis,
    Stepper,
    TorchDecoder,
    beam_block,
    beam_search,
    greedy_block,
    greedy_search,
)

__all__ = [
    "Hypothesis",
    "Stepper",
    "TorchDecoder",
    "beam_block",
    "beam_search",
    "greedy_block",
    "greedy_search",
]
