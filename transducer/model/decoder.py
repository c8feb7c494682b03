"""The two transducers (decoders) that sit on top of the block encoder.

FullSumDecoder: a prediction network over labels only (`<e>` is not fed back), so the output at
lattice node (block b, labels u) is softmax(joint(q_u, attend(q_u, block b))) and the lattice is
RNN-T's with blocks as time steps and `<e>` as blank; the exact loss is `rnnt_loss`. The
prediction network is an LSTM over all labels so far, or (`pred_context` k) stateless: a
convolution over the last k labels' embeddings only.

PaperDecoder: Jaitly et al.'s transducer. Two LSTM layers: s_m = LSTM1([c_{m-1}; y_{m-1}]),
c_m = attend(s_m, block), h'_m = LSTM2([c_m; s_m]), p(y_m) = softmax(W h'_m). Every symbol,
`<e>` included, is fed back, so the state depends on the alignment: trained by cross-entropy
on one alignment (see transducer.align).
"""

from typing import NamedTuple

import torch
from torch import nn

from transducer.config import BLANK, UNK, ModelConfig
from transducer.model.attention import StepLSTMAttention, make_attention


class Joint(nn.Module):
    """logits = W tanh(Wq q + Wc c): q (..., Dq), c (..., D) -> (..., V)."""

    def __init__(self, d_query: int, d_model: int, d_joint: int, vocab_size: int):
        super().__init__()
        self.q = nn.Linear(d_query, d_joint)
        self.c = nn.Linear(d_model, d_joint, bias=False)
        self.out = nn.Linear(d_joint, vocab_size)

    def forward(self, q: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.q(q) + self.c(c)))


class PredictionState(NamedTuple):
    """LSTM: h, c (n_layers, N, Dp). Stateless: h (k - 1, N, Dp) the embeddings of the last
    k - 1 labels read, c (0, N, Dp) empty."""

    h: torch.Tensor
    c: torch.Tensor


class FullSumDecoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_dec)
        self.context = cfg.pred_context
        if self.context:  # stateless: ReLU(conv over the last k labels' embeddings)
            self.conv = nn.Conv1d(cfg.d_dec, cfg.d_dec, self.context)
        else:
            self.lstm = nn.LSTM(cfg.d_dec, cfg.d_dec, cfg.n_dec_layers, batch_first=True)
        self.attention = make_attention(cfg, cfg.d_dec)
        self.joint = Joint(cfg.d_dec, cfg.d_model, cfg.d_joint, cfg.vocab_size)
        self.dropout = nn.Dropout(cfg.dropout)
        self.label_dropout = cfg.label_dropout

    def initial_state(self, N: int) -> PredictionState:
        w = self.embed.weight
        if self.context:  # as if k - 1 `<e>` came before the first label
            history = w[BLANK].expand(self.context - 1, N, -1)
            return PredictionState(history, w.new_zeros(0, N, w.shape[1]))
        shape = (self.lstm.num_layers, N, self.lstm.hidden_size)
        return PredictionState(w.new_zeros(shape), w.new_zeros(shape))

    def predict(self, tokens: torch.Tensor, state: PredictionState | None = None):
        """tokens (N, U) -> queries (N, U, Dp), new state."""
        state = PredictionState(*state) if state is not None else self.initial_state(len(tokens))
        if self.context:
            history = torch.cat([state.h.transpose(0, 1), self.embed(tokens)], dim=1)
            out = torch.relu(self.conv(self.dropout(history).transpose(1, 2)).transpose(1, 2))
            kept = history[:, history.shape[1] - (self.context - 1) :].transpose(0, 1)
            return self.dropout(out), PredictionState(kept, state.c)
        out, (h, c) = self.lstm(self.dropout(self.embed(tokens)), tuple(state))
        return self.dropout(out), PredictionState(h, c)

    def logits(self, queries: torch.Tensor, blocks: torch.Tensor, mask: torch.Tensor):
        """queries (N, U, Dp), blocks (N, B, L, D), mask (N, B, L) -> logits (N, B, U, V).

        Equal to `joint(q, attention(q, block))` at every lattice node, computed in the cheap
        order: the query projections once per label (broadcast over blocks), and, as the
        joint's context projection has no bias, Wc (weights @ frames) as weights @ (Wc frames),
        which projects the L frames of a block instead of its U contexts.
        """
        q = queries[:, None]  # (N, 1, U, Dp): attention and joint broadcast it over blocks
        weights = self.attention.weights(q, blocks, mask)  # (N, B, U, L)
        hidden = self.joint.q(q) + weights @ self.joint.c(blocks)  # (N, B, U, d_joint)
        return self.joint.out(torch.tanh(hidden)), weights

    def forward(self, blocks, mask, targets):
        """Logits over the whole (block, label) lattice: (N, B, U + 1, V)."""
        start = torch.full_like(targets[:, :1], BLANK)
        if self.training and self.label_dropout > 0:
            dropped = torch.rand(targets.shape, device=targets.device) < self.label_dropout
            targets = targets.masked_fill(dropped, UNK)
        queries, _ = self.predict(torch.cat([start, targets], dim=1))  # (N, U + 1, Dp)
        return self.logits(queries, blocks, mask)


class PaperState(NamedTuple):
    """Decoder state between steps: both LSTM layers, the last context, the attention LSTM."""

    h1: torch.Tensor  # (N, Dd)
    c1: torch.Tensor
    h2: torch.Tensor
    c2: torch.Tensor
    context: torch.Tensor  # (N, D): c_{m-1}
    att_h: torch.Tensor  # (N, Da) LSTM-attention state (zeros, unused, for other variants)
    att_c: torch.Tensor


class PaperDecoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d, D = cfg.d_dec, cfg.d_model
        self.embed = nn.Embedding(cfg.vocab_size, d)
        self.cell1 = nn.LSTMCell(d + D, d)
        self.cell2 = nn.LSTMCell(D + d, d)
        self.out = nn.Linear(d, cfg.vocab_size)
        L = (cfg.lookback + 1) * cfg.block_width
        self.stateful = cfg.attention == "lstm"
        if self.stateful:
            self.attention = StepLSTMAttention(d, D, cfg.d_att_lstm, L)
        else:
            self.attention = make_attention(cfg, d)
        self.d_att = cfg.d_att_lstm
        self.dropout = nn.Dropout(cfg.dropout)

    def initial_state(self, N: int) -> PaperState:
        w = self.out.weight
        d, D = self.cell1.hidden_size, self.cell2.input_size - self.cell1.hidden_size
        zd, zD, za = w.new_zeros(N, d), w.new_zeros(N, D), w.new_zeros(N, self.d_att)
        return PaperState(zd, zd, zd, zd, zD, za, za)

    def step(self, y_prev, state: PaperState, frames, mask):
        """One decoder step in the current block.

        y_prev (N,) previous symbol (`<e>` at a block start), frames (N, L, D), mask (N, L).
        Returns logits (N, V), attention weights (N, L), new state.
        """
        x = torch.cat([self.dropout(self.embed(y_prev)), state.context], dim=-1)
        h1, c1 = self.cell1(x, (state.h1, state.c1))
        query = self.dropout(h1)
        if self.stateful:
            # The attention LSTM's memory spans one block: reset it when a block starts.
            new_block = (y_prev == BLANK)[:, None]
            att = (state.att_h.masked_fill(new_block, 0), state.att_c.masked_fill(new_block, 0))
            context, weights, (ah, ac) = self.attention(query, frames, mask, att)
        else:
            ctx, w = self.attention(query[:, None, None], frames[:, None], mask[:, None])
            context, weights, (ah, ac) = ctx[:, 0, 0], w[:, 0, 0], (state.att_h, state.att_c)
        h2, c2 = self.cell2(torch.cat([context, query], dim=-1), (state.h2, state.c2))
        logits = self.out(self.dropout(h2))
        return logits, weights, PaperState(h1, c1, h2, c2, context, ah, ac)

    def forward(self, blocks, mask, symbols, symbol_blocks):
        """Teacher-forced over aligned symbol sequences.

        blocks (N, B, L, D), mask (N, B, L); symbols (N, M): labels and `<e>` in emission order
        (padding: any value, masked by the caller); symbol_blocks (N, M): the block of each.
        Returns logits (N, M, V) and attention weights (N, M, L).
        """
        N, M = symbols.shape
        rows = torch.arange(N, device=blocks.device)
        state = self.initial_state(N)
        y_prev = torch.full((N,), BLANK, dtype=torch.long, device=blocks.device)
        logits, weights = [], []
        for m in range(M):
            b = symbol_blocks[:, m]
            step_logits, w, state = self.step(y_prev, state, blocks[rows, b], mask[rows, b])
            logits.append(step_logits)
            weights.append(w)
            y_prev = symbols[:, m]
        return torch.stack(logits, 1), torch.stack(weights, 1)
