"""A decoding hypothesis: shared by the torch searches, the Numba decoder and the recognizers
(no torch import here, so the onnxruntime runtime can use it)."""

from dataclasses import dataclass, field

from transducer.config import BLANK


@dataclass
class Hypothesis:
    tokens: list[int] = field(default_factory=list)
    blocks: list[int] = field(default_factory=list)  # block that emitted each token
    frames: list[int] = field(default_factory=list)  # encoder frame each token attended most
    score: float = 0.0
    state: tuple = ()
    y_prev: int = BLANK  # the symbol the decoder reads next

    def extend(self, y: int, b: int, frame: int, logp: float, state: tuple) -> "Hypothesis":
        """This hypothesis plus token y. Its frame never precedes the previous token's, so
        timestamps are monotone even where attention peaks out of order."""
        frame = max(frame, self.frames[-1]) if self.frames else frame
        return Hypothesis(self.tokens + [y], self.blocks + [b], self.frames + [frame],
                          self.score + logp, state, y)  # fmt: skip

    def end_block(self, logp: float, state: tuple) -> "Hypothesis":
        """This hypothesis after `<e>`: the next block starts with y_prev = `<e>`."""
        return Hypothesis(self.tokens, self.blocks, self.frames, self.score + logp, state)
