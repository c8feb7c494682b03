"""Decoding: the torch reference searches (greedy, block-synchronous beam) for both modes."""

from transducer.decode.search import (
    Hypothesis,
    Stepper,
    beam_block,
    beam_search,
    greedy_block,
    greedy_search,
)

__all__ = ["Hypothesis", "Stepper", "beam_block", "beam_search", "greedy_block", "greedy_search"]
