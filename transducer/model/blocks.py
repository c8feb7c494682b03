"""Cutting encoder frames into blocks of W (plus `lookback` earlier blocks) with masks."""

import torch


def n_blocks(frame_lens: torch.Tensor, W: int) -> torch.Tensor:
    """Blocks per utterance: ceil(frames / W); the last block may be partial."""
    return (frame_lens + W - 1) // W


def to_blocks(frames: torch.Tensor, frame_lens: torch.Tensor, W: int, lookback: int = 0):
    """frames (N, T, D) -> blocks (N, B, L, D), mask (N, B, L), n_blocks (N,).

    L = (lookback + 1) * W: block b sees frames [(b - lookback) W, (b + 1) W). Frames before the
    start or past an utterance's length are zero and masked out.
    """
    N, T, D = frames.shape
    B = max(1, -(-T // W))
    L = (lookback + 1) * W
    padded = torch.nn.functional.pad(frames, (0, 0, lookback * W, B * W - T))  # (N, (lb+B)W, D)
    blocks = padded.unfold(1, L, W).permute(0, 1, 3, 2)  # (N, B, L, D)
    t = (torch.arange(B)[:, None] - lookback) * W + torch.arange(L)[None, :]  # (B, L)
    t = t.to(frames.device)
    mask = (t[None] >= 0) & (t[None] < frame_lens[:, None, None])  # (N, B, L)
    return blocks, mask, n_blocks(frame_lens, W)
