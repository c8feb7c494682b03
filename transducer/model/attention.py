"""Attention over the encoder frames of the current block (plus `lookback` earlier blocks).

Every variant maps a query (N, B, U, Dq) and block frames (N, B, L, D) with a validity mask
(N, B, L) to a context (N, B, U, D) and weights (N, B, U, L): each query position u attends,
in block b, only to that block's L = (lookback + 1) * W frames.

- none: no attention; the context is the block's last valid frame (the encoder's summary).
- dot:  s . h with the query projected to D (Luong et al.).
- mlp:  v . tanh(Wq s + Wh h) (additive, Bahdanau et al.).
- lstm: the paper's LSTM-attention. Its original form keeps LSTM memory across decoder steps
  within a block, which makes the state depend on the path and so cannot serve the exact
  full-sum loss. Here the LSTM runs over the L positions of the block instead (input: the dot
  score at each position), which depends only on (query, block): path-independent, usable by
  both modes. `StepLSTMAttention` is the original, stateful form, used in paper mode only.
"""

import torch
from torch import nn

from transducer.config import ModelConfig

NEG_INF = -1e4  # masked scores; finite so a fully masked row gives uniform weights, not NaN


def _softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """scores (N, B, U, L), mask (N, B, L) -> weights (N, B, U, L)."""
    return scores.masked_fill(~mask[:, :, None, :], NEG_INF).softmax(dim=-1)


class Attention(nn.Module):
    """Context = weights @ frames; subclasses define `weights(query, frames, mask)`, which the
    full-sum lattice also uses alone (see FullSumDecoder.logits)."""

    def forward(self, query, frames, mask):
        weights = self.weights(query, frames, mask)
        return weights @ frames, weights


class NoAttention(Attention):
    def weights(self, query, frames, mask):
        last = (mask.long().cumsum(-1) == mask.sum(-1, keepdim=True)) & mask  # (N, B, L)
        return last[:, :, None, :].to(frames.dtype).expand(-1, -1, query.shape[2], -1)


class DotAttention(Attention):
    def __init__(self, d_query: int, d_model: int):
        super().__init__()
        self.q = nn.Linear(d_query, d_model, bias=False)
        self.scale = d_model**-0.5

    def scores(self, query, frames):
        return self.q(query) @ frames.transpose(-1, -2) * self.scale  # (N, B, U, L)

    def weights(self, query, frames, mask):
        return _softmax(self.scores(query, frames), mask)


class MLPAttention(Attention):
    def __init__(self, d_query: int, d_model: int, d_att: int):
        super().__init__()
        self.q = nn.Linear(d_query, d_att)
        self.k = nn.Linear(d_model, d_att, bias=False)
        self.v = nn.Linear(d_att, 1, bias=False)

    def weights(self, query, frames, mask):
        hidden = torch.tanh(
            self.q(query)[:, :, :, None] + self.k(frames)[:, :, None]
        )  # (N,B,U,L,A)
        return _softmax(self.v(hidden).squeeze(-1), mask)


class LSTMAttention(Attention):
    """Path-independent LSTM-attention: a small LSTM reads the L dot scores in order."""

    def __init__(self, d_query: int, d_model: int, d_hidden: int):
        super().__init__()
        self.dot = DotAttention(d_query, d_model)
        self.lstm = nn.LSTM(1, d_hidden, batch_first=True)
        self.out = nn.Linear(d_hidden, 1)

    def weights(self, query, frames, mask):
        raw = self.dot.scores(query, frames)  # (N, B, U, L)
        N, B, U, L = raw.shape
        hidden, _ = self.lstm(raw.reshape(N * B * U, L, 1))  # (N*B*U, L, H)
        scores = raw + self.out(hidden).reshape(N, B, U, L)  # residual keeps dot's start
        return _softmax(scores, mask)


class StepLSTMAttention(nn.Module):
    """The paper's LSTM-attention: at decoder step m the W raw scores e_m are the input of an
    LSTM whose state carries over the steps of one block; its outputs are the attention logits.
    Used by the paper-mode decoder one step at a time (query (N, Dq), frames (N, L, D))."""

    def __init__(self, d_query: int, d_model: int, d_hidden: int, n_positions: int):
        super().__init__()
        self.dot = DotAttention(d_query, d_model)
        self.cell = nn.LSTMCell(n_positions, d_hidden)
        self.out = nn.Linear(d_hidden, n_positions)
        self.d_hidden = d_hidden

    def initial_state(self, N: int, like: torch.Tensor):
        zeros = like.new_zeros(N, self.d_hidden)
        return zeros, zeros

    def forward(self, query, frames, mask, state):
        """query (N, Dq), frames (N, L, D), mask (N, L) -> context (N, D), weights, state."""
        raw = self.dot.scores(query[:, None, None], frames[:, None])[:, 0, 0]  # (N, L)
        h, c = self.cell(raw, state)
        weights = (raw + self.out(h)).masked_fill(~mask, NEG_INF).softmax(-1)  # (N, L)
        return (weights[:, None] @ frames).squeeze(1), weights, (h, c)


def make_attention(cfg: ModelConfig, d_query: int) -> nn.Module:
    """The block attention for `cfg` (the path-independent form for "lstm")."""
    if cfg.attention == "none":
        return NoAttention()
    if cfg.attention == "dot":
        return DotAttention(d_query, cfg.d_model)
    if cfg.attention == "mlp":
        return MLPAttention(d_query, cfg.d_model, cfg.d_att)
    return LSTMAttention(d_query, cfg.d_model, cfg.d_att_lstm)
