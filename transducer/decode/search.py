"""Reference searches in torch, one utterance at a time, for both model modes.

Both searches see the model through a `Stepper`: `step(state, y_prev, frames, mask)` gives the
log-probabilities of the next symbol in the current block after the decoder consumed `y_prev`
(the symbol just chosen, `<e>` at a block start). In full-sum mode the prediction network only
advances on labels, so `<e>` leaves its state alone; in paper mode every symbol is fed back.
The Numba decoders (issue 4) must reproduce these searches token for token.
"""

from dataclasses import dataclass, field

import torch

from transducer.model.blocks import to_blocks
from transducer.model.decoder import BLANK, PaperDecoder, PaperState
from transducer.model.transducer import NeuralTransducer


class Stepper:
    """One decoder step for R rows (hypotheses) at once. States are tuples of row-major
    tensors (R, ...), so hypotheses are stacked with `cat` and split by slicing."""

    def __init__(self, model: NeuralTransducer):
        self.decoder = model.decoder
        self.paper = isinstance(model.decoder, PaperDecoder)

    def initial(self) -> tuple:
        """The state before the first symbol, for one row."""
        if self.paper:
            return tuple(self.decoder.initial_state(1))
        q, pred = self.decoder.predict(torch.full((1, 1), BLANK, dtype=torch.long))
        return (pred.h.transpose(0, 1), pred.c.transpose(0, 1), q[:, 0])  # the start query

    def step(self, state: tuple, y_prev: torch.Tensor, frames: torch.Tensor, mask: torch.Tensor):
        """state, y_prev (R,), frames (R, L, D), mask (R, L) -> logp (R, V), new state."""
        if self.paper:
            logits, _, new = self.decoder.step(y_prev, PaperState(*state), frames, mask)
            return logits.log_softmax(-1), tuple(new)
        h, c, q = state  # (R, layers, Dp), (R, layers, Dp), (R, Dp)
        advance = y_prev != BLANK  # the prediction network only reads labels
        if advance.any():
            hc = (h.transpose(0, 1).contiguous(), c.transpose(0, 1).contiguous())
            q_new, pred = self.decoder.predict(y_prev[:, None], hc)
            q = torch.where(advance[:, None], q_new[:, 0], q)
            h = torch.where(advance[:, None, None], pred.h.transpose(0, 1), h)
            c = torch.where(advance[:, None, None], pred.c.transpose(0, 1), c)
        logits, _ = self.decoder.logits(q[:, None], frames[:, None], mask[:, None])
        return logits[:, 0, 0].log_softmax(-1), (h, c, q)

    @staticmethod
    def stack(states: list[tuple]) -> tuple:
        return tuple(torch.cat(fields) for fields in zip(*states, strict=True))

    @staticmethod
    def row(state: tuple, r: int) -> tuple:
        return tuple(s[r : r + 1] for s in state)


@dataclass
class Hypothesis:
    tokens: list[int] = field(default_factory=list)
    blocks: list[int] = field(default_factory=list)  # block that emitted each token
    score: float = 0.0
    state: tuple = ()
    y_prev: int = BLANK  # the symbol the decoder reads next


@torch.no_grad()
def encode_blocks(model: NeuralTransducer, feats: torch.Tensor, W: int | None = None):
    """feats (T, F) of one utterance -> blocks (B, L, D), mask (B, L)."""
    W = W or model.cfg.block_width
    frames, frame_lens = model.encoder(feats[None], torch.tensor([feats.shape[0]]))
    blocks, mask, _ = to_blocks(frames, frame_lens, W, model.cfg.lookback)
    return blocks[0], mask[0]


@torch.no_grad()
def greedy_search(model: NeuralTransducer, feats: torch.Tensor, W: int | None = None) -> Hypothesis:
    """The most likely symbol at every step; `<e>` is forced after max_symbols_per_block labels."""
    stepper = Stepper(model)
    blocks, mask = encode_blocks(model, feats, W)
    K = model.cfg.max_symbols_per_block
    hyp = Hypothesis(state=stepper.initial())
    for b in range(blocks.shape[0]):
        y = BLANK  # a block starts after <e>
        for k in range(K + 1):
            logp, hyp.state = stepper.step(
                hyp.state, torch.tensor([y]), blocks[b : b + 1], mask[b : b + 1]
            )
            y = int(logp[0].argmax()) if k < K else BLANK
            hyp.score += float(logp[0, y])
            if y == BLANK:
                break
            hyp.tokens.append(y)
            hyp.blocks.append(b)
    return hyp


@torch.no_grad()
def beam_search(
    model: NeuralTransducer, feats: torch.Tensor, beam: int = 4, W: int | None = None
) -> Hypothesis:
    """Block-synchronous beam search.

    In each block, every hypothesis is extended step by step: ending the block (`<e>`) moves
    it to the block's finished set; emitting one of the top `beam` labels keeps it active.
    At most `beam` active hypotheses survive each step, at most max_symbols_per_block labels
    per block. The `beam` best finished hypotheses enter the next block; ties keep the order
    in which they were found. The best hypothesis after the last block wins.
    """
    stepper = Stepper(model)
    blocks, mask = encode_blocks(model, feats, W)
    K = model.cfg.max_symbols_per_block
    hyps = [Hypothesis(state=stepper.initial())]
    for b in range(blocks.shape[0]):
        active, finished = hyps, []
        for k in range(K + 1):
            if not active:
                break
            state = stepper.stack([h.state for h in active])
            y_prev = torch.tensor([h.y_prev for h in active])
            R = len(active)
            logp, new = stepper.step(
                state, y_prev, blocks[b].expand(R, -1, -1), mask[b].expand(R, -1)
            )
            extended = []
            for r, h in enumerate(active):
                s = stepper.row(new, r)
                finished.append(Hypothesis(h.tokens, h.blocks, h.score + float(logp[r, BLANK]), s))
                if k == K:
                    continue
                top = logp[r, 1:].topk(min(beam, logp.shape[1] - 1))
                for value, index in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                    y = index + 1
                    extended.append(
                        Hypothesis(h.tokens + [y], h.blocks + [b], h.score + value, s, y_prev=y)
                    )
            active = sorted(extended, key=lambda h: -h.score)[:beam]
            finished = sorted(finished, key=lambda h: -h.score)[:beam]
            if len(finished) == beam and active and active[0].score < finished[-1].score:
                break  # no active hypothesis can beat the finished ones: scores only fall
        hyps = finished
    return hyps[0]
