"""Causal encoder: stack 4 feature frames (x4 subsampling, 40 ms) and run a unidirectional LSTM.

Stacking needs no look-ahead beyond the 4 frames it stacks, so a block of W encoder frames needs
exactly 4W feature frames, and encoding a block at a time with the carried (h, c) state equals
encoding the whole utterance.

Optionally (`conv_channels` > 0) a small convolutional front-end also reads each group of 4
stacked frames as a (4, n_mels) image: two 3x3 convolutions, stride 2 along frequency, whose
output is projected and added to the linear projection of the stack. It sees one group at a
time (zero padding at the group's edges), so it needs no state and streaming stays exact. Its
last projection starts at zero: a model trained without it starts from the same function.

Optionally (`n_res_layers` > 0) the top layers are residual, x + proj(LSTM(x)) with proj
starting at zero, so that a trained stack can be grown deeper and start from its own function.
"""

from typing import NamedTuple

import torch
from torch import nn

from transducer.config import ModelConfig


def conv_bins(n_mels: int) -> int:
    """Frequency bins after the front-end's two stride-2 convolutions."""
    return (n_mels + 3) // 4


class EncoderState(NamedTuple):
    h: torch.Tensor  # (n_layers, N, D)
    c: torch.Tensor  # (n_layers, N, D)


class ResidualLSTM(nn.Module):
    """x + proj(LSTM(x)) with proj starting at zero: added to a trained stack, the stack's
    function is unchanged at first, and proj's gradient (the LSTM's output) is not zero."""

    def __init__(self, d: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(d, d, batch_first=True)
        self.proj = nn.Linear(d, d)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x, state):
        out, state = self.lstm(self.dropout(x), state)
        return x + self.proj(out), state


class Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.stack = cfg.stack
        self.proj = nn.Linear(cfg.n_mels * cfg.stack, cfg.d_model)
        self.conv = None
        if cfg.conv_channels:
            C = cfg.conv_channels
            self.conv = nn.Sequential(
                nn.Conv2d(1, C, 3, stride=(1, 2), padding=1),
                nn.ReLU(),
                nn.Conv2d(C, C, 3, stride=(1, 2), padding=1),
                nn.ReLU(),
                nn.Flatten(),
                nn.Linear(C * cfg.stack * conv_bins(cfg.n_mels), cfg.d_model),
            )
            nn.init.zeros_(self.conv[-1].weight)
            nn.init.zeros_(self.conv[-1].bias)
        # Per-frame LayerNorm of the input: global normalisation is dominated by digital
        # silence (log-mel floor) versus speech, which squeezes noisy speech into a narrow
        # range; normalising each stacked frame restores its contrast from the first step.
        self.in_norm = nn.LayerNorm(cfg.d_model)
        n_plain = cfg.n_enc_layers - cfg.n_res_layers
        self.lstm = nn.LSTM(
            cfg.d_model,
            cfg.d_model,
            n_plain,
            batch_first=True,
            dropout=cfg.dropout if n_plain > 1 else 0.0,
        )
        # Residual layers on top (grown onto a trained stack): x + proj(LSTM(x)), proj at zero.
        self.res = nn.ModuleList(
            ResidualLSTM(cfg.d_model, cfg.dropout) for _ in range(cfg.n_res_layers)
        )
        # Per-frame LayerNorm keeps the frames the decoder attends to at unit scale; without it
        # the LSTM's small outputs starve attention and CTC of gradient and training stalls
        # on a character language model. It acts on each frame alone, so streaming is exact.
        self.norm = nn.LayerNorm(cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)
        with torch.no_grad():  # forget gates start open (bias 1): gradient flows through time
            for name, bias in self.named_parameters():
                if "lstm.bias_ih" in name:
                    bias[cfg.d_model : 2 * cfg.d_model].fill_(1.0)

    def initial_state(self, N: int) -> EncoderState:
        shape = (self.lstm.num_layers + len(self.res), N, self.lstm.hidden_size)
        p = self.proj.weight
        return EncoderState(p.new_zeros(shape), p.new_zeros(shape))

    def subsample(self, feats: torch.Tensor) -> torch.Tensor:
        """(N, T, F) -> (N, ceil(T / stack), stack * F); a partial last group is zero-padded."""
        N, T, F = feats.shape
        pad = -T % self.stack
        feats = nn.functional.pad(feats, (0, 0, 0, pad))
        return feats.reshape(N, (T + pad) // self.stack, self.stack * F)

    def encode_chunk(
        self, feats: torch.Tensor, state: EncoderState | None = None
    ) -> tuple[torch.Tensor, EncoderState]:
        """feats (N, T, F) with T a multiple of `stack` (except at the end of a stream).

        Returns frames (N, ceil(T / stack), D) and the state to pass with the next chunk.
        """
        x = self.subsample(feats)  # (N, T', stack * F)
        y = self.proj(x)
        if self.conv is not None:
            N, T, _ = x.shape
            images = x.reshape(N * T, 1, self.stack, feats.shape[-1])  # (N T', 1, stack, F)
            y = y + self.conv(images).reshape(N, T, -1)
        x = self.dropout(torch.relu(self.in_norm(y)))  # (N, T', D)
        state = state if state is not None else self.initial_state(feats.shape[0])
        h0, c0 = state
        n = self.lstm.num_layers
        out, (h, c) = self.lstm(x, (h0[:n], c0[:n]))
        hs, cs = [h], [c]
        for k, layer in enumerate(self.res, n):
            out, (h, c) = layer(out, (h0[k : k + 1], c0[k : k + 1]))
            hs.append(h)
            cs.append(c)
        return self.dropout(self.norm(out)), EncoderState(torch.cat(hs), torch.cat(cs))

    def forward(self, feats: torch.Tensor, feat_lens: torch.Tensor):
        """Whole padded batch: feats (N, T, F) -> frames (N, T', D), frame_lens (N,).

        Padding sits after each utterance, and the LSTM is causal, so a padded frame never
        influences a real one; no packing needed.
        """
        out, _ = self.encode_chunk(feats)
        return out, (feat_lens + self.stack - 1) // self.stack
