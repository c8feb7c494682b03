"""Reference searches in torch, one utterance at a time, for both model modes.

Both searches see the model through a `Stepper`: `step(state, y_prev, frames, mask)` gives the
log-probabilities of the next symbol in the current block after the decoder consumed `y_prev`
(the symbol just chosen, `<e>` at a block start). In full-sum mode the prediction network only
advances on labels, so `<e>` leaves its state alone; in paper mode every symbol is fed back.
The Numba decoders (issue 4) must reproduce these searches token for token.
"""

import numpy as np
import torch

from transducer.decode.hypothesis import Hypothesis
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
        """state, y_prev (R,), frames (R, L, D), mask (R, L) -> logp (R, V), new state, and
        the attention weights (R, L) behind logp."""
        if self.paper:
            logits, weights, new = self.decoder.step(y_prev, PaperState(*state), frames, mask)
            return logits.log_softmax(-1), tuple(new), weights
        h, c, q = state  # (R, layers, Dp), (R, layers, Dp), (R, Dp)
        advance = y_prev != BLANK  # the prediction network only reads labels
        if advance.any():
            hc = (h.transpose(0, 1).contiguous(), c.transpose(0, 1).contiguous())
            q_new, pred = self.decoder.predict(y_prev[:, None], hc)
            q = torch.where(advance[:, None], q_new[:, 0], q)
            h = torch.where(advance[:, None, None], pred.h.transpose(0, 1), h)
            c = torch.where(advance[:, None, None], pred.c.transpose(0, 1), c)
        logits, weights = self.decoder.logits(q[:, None], frames[:, None], mask[:, None])
        return logits[:, 0, 0].log_softmax(-1), (h, c, q), weights[:, 0, 0]

    @staticmethod
    def stack(states: list[tuple]) -> tuple:
        return tuple(torch.cat(fields) for fields in zip(*states, strict=True))

    @staticmethod
    def row(state: tuple, r: int) -> tuple:
        return tuple(s[r : r + 1] for s in state)


def _peak(weights: torch.Tensor, b: int, W: int, lookback: int) -> int:
    """The encoder frame (utterance-wide index) with the most attention in block b."""
    return (b - lookback) * W + int(weights.argmax())


@torch.no_grad()
def greedy_block(stepper: Stepper, hyp: Hypothesis, frames, mask, b: int, K: int, W: int,
                 lookback: int = 0) -> Hypothesis:  # fmt: skip
    """Decode block b greedily: frames (1, L, D), mask (1, L); `<e>` forced after K labels."""
    y = BLANK  # a block starts after <e>
    for k in range(K + 1):
        logp, state, weights = stepper.step(hyp.state, torch.tensor([y]), frames, mask)
        y = int(logp[0].argmax()) if k < K else BLANK
        if y == BLANK:
            return hyp.end_block(float(logp[0, y]), state)
        hyp = hyp.extend(y, b, _peak(weights[0], b, W, lookback), float(logp[0, y]), state)
    raise AssertionError("unreachable: the last step always ends the block")


@torch.no_grad()
def beam_block(stepper: Stepper, hyps: list[Hypothesis], frames, mask, b: int, K: int, W: int,
               beam: int, lookback: int = 0, lm=None) -> list[Hypothesis]:  # fmt: skip
    """One block of block-synchronous beam search: frames (1, L, D), mask (1, L).

    Every hypothesis is extended step by step: ending the block (`<e>`) moves it to the
    finished set; emitting one of the top `beam` labels keeps it active. At most `beam` active
    hypotheses survive a step and at most K labels are emitted per block. Returns the `beam`
    best finished hypotheses (ties keep the order in which they were found). With `lm` (a
    `transducer.lm.CharLM`), a label scores log p + lm.weight * log p_lm + lm.bonus, a
    space that ends a word outside the LM's lexicon (if it has one) lm.oov_penalty less, and
    with a word LM (`lm.word_lm`) labels add `WordLM.label_scores`.
    """
    active, finished = hyps, []
    for k in range(K + 1):
        if not active:
            break
        R = len(active)
        state = stepper.stack([h.state for h in active])
        y_prev = torch.tensor([h.y_prev for h in active])
        logp, new, weights = stepper.step(
            state, y_prev, frames.expand(R, -1, -1), mask.expand(R, -1)
        )
        extended = []
        for r, h in enumerate(active):
            s = stepper.row(new, r)
            finished.append(h.end_block(float(logp[r, BLANK]), s))
            if k == K:
                continue
            label = logp[r, 1:]
            if lm is not None:
                lm_logp = torch.from_numpy(lm.log_probs(h.tokens)[1:])
                label = label + (lm.weight * lm_logp + lm.bonus)
                if lm.out_of_lexicon(h.tokens):
                    label[lm.space - 1] -= np.float32(lm.oov_penalty)
                if lm.word_lm is not None:
                    label += torch.from_numpy(lm.word_lm.label_scores(h.tokens, lm))
            top = label.topk(min(beam, logp.shape[1] - 1))
            frame = _peak(weights[r], b, W, lookback)
            for value, index in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                extended.append(h.extend(index + 1, b, frame, value, s))
        active = sorted(extended, key=lambda h: -h.score)[:beam]
        finished = sorted(finished, key=lambda h: -h.score)[:beam]
        if len(finished) == beam and active and active[0].score < finished[-1].score:
            break  # no active hypothesis can beat the finished ones: scores only fall
            # (with an LM bonus they may rise a little, and this becomes a pruning rule)
    return finished


class TorchDecoder:
    """The reference searches behind the interface the Numba decoder (`fast.FastDecoder`)
    shares: `initial()`, `greedy_block(hyp, ...)`, `beam_block(hyps, ...)`."""

    def __init__(self, model: NeuralTransducer):
        self.stepper = Stepper(model)

    def initial(self) -> tuple:
        return self.stepper.initial()

    def greedy_block(self, hyp, frames, mask, b, K, W, lookback=0) -> Hypothesis:
        frames, mask = torch.as_tensor(frames), torch.as_tensor(mask)  # NumPy from a stream
        return greedy_block(self.stepper, hyp, frames, mask, b, K, W, lookback)

    def beam_block(self, hyps, frames, mask, b, K, W, beam, lookback=0, lm=None):
        frames, mask = torch.as_tensor(frames), torch.as_tensor(mask)
        return beam_block(self.stepper, hyps, frames, mask, b, K, W, beam, lookback, lm)


@torch.no_grad()
def encode_blocks(model: NeuralTransducer, feats: torch.Tensor, W: int | None = None):
    """feats (T, F) of one utterance -> blocks (B, L, D), mask (B, L)."""
    W = W or model.cfg.block_width
    frames, frame_lens = model.encoder(feats[None], torch.tensor([feats.shape[0]]))
    blocks, mask, _ = to_blocks(frames, frame_lens, W, model.cfg.lookback)
    return blocks[0], mask[0]


@torch.no_grad()
def greedy_search(model: NeuralTransducer, feats: torch.Tensor, W: int | None = None) -> Hypothesis:
    """The most likely symbol at every step, block by block."""
    W = W or model.cfg.block_width
    stepper = Stepper(model)
    blocks, mask = encode_blocks(model, feats, W)
    hyp = Hypothesis(state=stepper.initial())
    K, lookback = model.cfg.max_symbols_per_block, model.cfg.lookback
    for b in range(blocks.shape[0]):
        hyp = greedy_block(stepper, hyp, blocks[b : b + 1], mask[b : b + 1], b, K, W, lookback)
    return hyp


@torch.no_grad()
def beam_search(model: NeuralTransducer, feats: torch.Tensor, beam: int = 4,
                W: int | None = None, lm=None) -> Hypothesis:  # fmt: skip
    """Block-synchronous beam search (see `beam_block`, and for `lm` a `transducer.lm.CharLM`);
    the best hypothesis at the end."""
    W = W or model.cfg.block_width
    stepper = Stepper(model)
    blocks, mask = encode_blocks(model, feats, W)
    hyps = [Hypothesis(state=stepper.initial())]
    K, lookback = model.cfg.max_symbols_per_block, model.cfg.lookback
    for b in range(blocks.shape[0]):
        hyps = beam_block(
            stepper, hyps, blocks[b : b + 1], mask[b : b + 1], b, K, W, beam, lookback, lm
        )
    return hyps[0]
