"""PNG plots for training runs: loss curves, and one utterance's block-by-block emissions."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from transducer.data.manifest import read_utterance  # noqa: E402
from transducer.decode import greedy_search  # noqa: E402
from transducer.evaluate import features  # noqa: E402
from transducer.model.blocks import to_blocks  # noqa: E402
from transducer.model.decoder import BLANK  # noqa: E402
from transducer.model.transducer import alignment_to_symbols  # noqa: E402
from transducer.runinfo import read_csv  # noqa: E402


def loss_curves(metrics: Path, dev: Path, out: Path) -> None:
    rows, evals = read_csv(metrics), read_csv(dev)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for key in ("loss", "transducer", "ctc"):
        points = [
            (int(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "", "nan")
        ]
        if points:
            top.plot(*zip(*points, strict=True), label=key)
    top.set_ylabel("loss per token")
    top.legend()
    for key in ("cer", "wer"):
        if evals:
            bottom.plot(
                [int(r["step"]) for r in evals],
                [100 * float(r[key]) for r in evals],
                marker="o",
                label=f"dev {key.upper()}",
            )
    bottom.set_ylabel("%")
    bottom.set_xlabel("step")
    bottom.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


@torch.no_grad()
def attention_map(model, feats: torch.Tensor, hyp) -> tuple[np.ndarray, list[str], int]:
    """Weights (symbols, encoder frames) of the greedy path, symbol labels, and W."""
    W = model.cfg.block_width
    frames, frame_lens = model.encoder(feats[None], torch.tensor([len(feats)]))
    blocks, mask, n_blocks = to_blocks(frames, frame_lens, W, model.cfg.lookback)
    B = int(n_blocks[0])
    counts = torch.bincount(torch.tensor(hyp.blocks, dtype=torch.long), minlength=B)[None, :B]
    targets = torch.tensor([hyp.tokens or [0]])
    symbols, symbol_blocks, valid = alignment_to_symbols(counts, n_blocks, targets)
    if model.cfg.mode == "paper":
        _, weights = model.decoder(blocks, mask, symbols, symbol_blocks)  # (1, M, L)
        weights = weights[0]
    else:
        _, all_weights = model.decoder(blocks, mask, targets)  # (1, B, U + 1, L)
        u = torch.cumsum((symbols[0] != BLANK).long(), 0) - (symbols[0] != BLANK).long()
        weights = all_weights[0, symbol_blocks[0], u]  # (M, L)
    L = weights.shape[-1]
    image = np.zeros((int(valid.sum()), B * W))
    for m in range(image.shape[0]):
        b = int(symbol_blocks[0, m])
        start = (b - model.cfg.lookback) * W
        for j in range(L):
            if 0 <= start + j < B * W:
                image[m, start + j] = float(weights[m, j])
    return image, [int(s) for s in symbols[0, : image.shape[0]]], W


def emissions(model, tokenizer, stats, features_cfg, utt, out: Path) -> None:
    """Spectrogram with block boundaries over the attention of every emitted symbol."""
    samples = read_utterance(utt)
    feats = features(samples, stats, features_cfg)
    model.eval()
    hyp = greedy_search(model, feats)
    image, symbols, W = attention_map(model, feats, hyp)
    labels = ["<e>" if s == BLANK else repr(tokenizer.symbols[s])[1:-1] or "·" for s in symbols]
    fig, (spec, att) = plt.subplots(
        2,
        1,
        figsize=(12, 3 + 0.12 * len(labels)),
        sharex=True,
        gridspec_kw={"height_ratios": [1, max(1, len(labels) / 20)]},
    )
    stack = model.cfg.stack
    spec.imshow(
        feats.T.numpy(),
        aspect="auto",
        origin="lower",
        extent=(0, len(feats) / stack, 0, feats.shape[1]),
    )
    for x in range(0, image.shape[1] + 1, W):
        spec.axvline(x, color="w", lw=0.5)
        att.axvline(x - 0.5, color="gray", lw=0.3)
    spec.set_title(f"ref: {utt.text}\nhyp: {tokenizer.decode(hyp.tokens)}", fontsize=9, loc="left")
    att.imshow(image, aspect="auto", cmap="viridis", interpolation="nearest")
    att.set_yticks(range(len(labels)), labels, fontsize=6)
    att.set_xlabel(f"encoder frame (40 ms); blocks of W={W}")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
