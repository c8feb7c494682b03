"""The Neural Transducer: encoder + block attention + decoder (either mode) + CTC head."""

import math
import time

import torch
import torchaudio.functional as AF
from torch import nn

from transducer.align import ctc_alignment, decoder_step_fn, search_alignment
from transducer.config import ModelConfig
from transducer.model.blocks import to_blocks
from transducer.model.decoder import BLANK, FullSumDecoder, PaperDecoder
from transducer.model.encoder import Encoder
from transducer.phonemes import PHONES


class NeuralTransducer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = FullSumDecoder(cfg) if cfg.mode == "fullsum" else PaperDecoder(cfg)
        self.ctc = nn.Linear(cfg.d_model, cfg.vocab_size) if cfg.ctc_weight > 0 else None
        self.phone_ctc = None  # training only: phoneme CTC head (see transducer.phonemes)
        if cfg.phone_ctc_weight > 0:
            self.phone_ctc = nn.Linear(cfg.d_model, len(PHONES) + 1)

    def blocks(self, feats, feat_lens, W: int):
        """Encode and cut into blocks: (N, B, L, D), mask (N, B, L), n_blocks (N,), frames."""
        frames, frame_lens = self.encoder(feats, feat_lens)  # (N, T', D)
        blocks, mask, n_blocks = to_blocks(frames, frame_lens, W, self.cfg.lookback)
        return blocks, mask, n_blocks, frames, frame_lens

    def ctc_log_probs(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, T', D) -> (N, T', V) log-probabilities of the auxiliary CTC head (blank = <e>)."""
        assert self.ctc is not None, "ctc_weight is 0: the model has no CTC head"
        return self.ctc(frames).log_softmax(-1)

    def forward(
        self,
        feats,
        feat_lens,
        targets,
        target_lens,
        W: int | None = None,
        alignment: torch.Tensor | str | None = None,
        ctc_only: bool = False,
        phones: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        """Training loss per target token.

        feats (N, T, F), feat_lens (N,), targets (N, U) padded, target_lens (N,). `W` overrides
        the block width (dynamic block training). Paper mode needs `alignment`: labels emitted in
        each block (N, B), or the method that computes them, "search" or "ctc" (transducer.align).
        Returns (loss, parts) where parts holds the float value of each term. `ctc_only` trains
        the encoder alone with the CTC head (encoder pre-training); the transducer term is then
        reported as NaN. `phones`: phoneme targets (N, P) padded and their lengths (N,), for the
        phoneme CTC head when it has one.
        """
        if ctc_only:
            frames, frame_lens = self.encoder(feats, feat_lens)
            n_tokens = target_lens.sum().clamp(min=1)
            ctc = self.ctc_loss(frames, frame_lens, targets, target_lens) / n_tokens
            timing = {"align_s" if self.cfg.mode == "paper" else "loss_s": 0.0}  # same columns
            parts = {"transducer": math.nan, **timing, "ctc": float(ctc.detach())}
            return self._add_phone_ctc(ctc, parts, frames, frame_lens, phones), parts
        W = W or self.cfg.block_width
        blocks, mask, n_blocks, frames, frame_lens = self.blocks(feats, feat_lens, W)
        n_tokens = target_lens.sum().clamp(min=1)
        timing = {}
        if self.cfg.mode == "fullsum":
            main = self.fullsum_nll(blocks, mask, n_blocks, targets, target_lens, timing)
            main = main.sum() / n_tokens
        else:
            if isinstance(alignment, str):
                start = time.perf_counter()
                alignment = self.align(
                    blocks.detach(),
                    mask,
                    n_blocks,
                    frames.detach(),
                    frame_lens,
                    targets,
                    target_lens,
                    W,
                    alignment,
                )
                timing["align_s"] = time.perf_counter() - start
            main = self.paper_nll(blocks, mask, n_blocks, targets, target_lens, alignment)
        parts = {"transducer": float(main.detach()), **timing}
        loss = main
        if self.ctc is not None:
            ctc = self.ctc_loss(frames, frame_lens, targets, target_lens) / n_tokens
            parts["ctc"] = float(ctc.detach())
            loss = main + self.cfg.ctc_weight * ctc
        return self._add_phone_ctc(loss, parts, frames, frame_lens, phones), parts

    def _add_phone_ctc(self, loss, parts: dict, frames, frame_lens, phones):
        """loss + phone_ctc_weight * the phoneme CTC loss per phoneme (none without the head)."""
        if self.phone_ctc is None:
            return loss
        if phones is None:
            raise ValueError("this model has a phoneme CTC head (phone_ctc_weight > 0): "
                             "training needs the phoneme targets")  # fmt: skip
        targets, lens = phones
        log_probs = self.phone_ctc(frames).log_softmax(-1)
        phone_ctc = self._ctc(log_probs, frame_lens, targets, lens) / lens.sum().clamp(min=1)
        parts["phone_ctc"] = float(phone_ctc.detach())
        return loss + self.cfg.phone_ctc_weight * phone_ctc

    def align(
        self,
        blocks,
        mask,
        n_blocks,
        frames,
        frame_lens,
        targets,
        target_lens,
        W: int,
        method: str = "search",
        beam: int = 8,
    ) -> torch.Tensor:
        """Labels per block (N, B) for paper-mode training, by the paper's search or by CTC."""
        if method == "ctc":
            if self.ctc is None:
                raise ValueError("CTC alignments need the CTC head: set ctc_weight > 0")
            log_probs = self.ctc_log_probs(frames)
            return ctc_alignment(log_probs, frame_lens, targets, target_lens, W).to(blocks.device)
        if method != "search":
            raise ValueError(f"alignment method must be 'search' or 'ctc', got {method!r}")
        training = self.decoder.training
        self.decoder.eval()  # no dropout while searching
        with torch.autocast(blocks.device.type, enabled=False):  # in fp32 at any precision
            step = decoder_step_fn(self.decoder, blocks.float(), mask)
            init = self.decoder.initial_state(blocks.shape[0])
            K = self.cfg.max_symbols_per_block
            counts, _ = search_alignment(step, init, n_blocks, targets, target_lens, K, beam)
        self.decoder.train(training)
        return counts.to(blocks.device)

    def fullsum_nll(self, blocks, mask, n_blocks, targets, target_lens, timing=None):
        """Exact -log p(y | x) summed over every placement of `<e>`: (N,).

        `timing`, if given, receives "loss_s": seconds in the loss (its forward pass).
        """
        logits, _ = self.decoder(blocks, mask, targets)  # (N, B, U + 1, V)
        start = time.perf_counter()
        nll = AF.rnnt_loss(
            logits.float(),
            targets.int(),
            n_blocks.int(),
            target_lens.int(),
            blank=BLANK,
            reduction="none",
            fused_log_softmax=True,
        )
        if timing is not None:
            timing["loss_s"] = time.perf_counter() - start
        return nll

    def paper_nll(self, blocks, mask, n_blocks, targets, target_lens, alignment):
        """Cross-entropy on one alignment, per emitted symbol (labels and `<e>`)."""
        symbols, symbol_blocks, valid = alignment_to_symbols(alignment, n_blocks, targets)
        logits, _ = self.decoder(blocks, mask, symbols, symbol_blocks)  # (N, M, V)
        nll = nn.functional.cross_entropy(logits.transpose(1, 2), symbols, reduction="none")
        return (nll * valid).sum() / valid.sum()

    def ctc_loss(self, frames, frame_lens, targets, target_lens) -> torch.Tensor:
        return self._ctc(self.ctc_log_probs(frames), frame_lens, targets, target_lens)

    @staticmethod
    def _ctc(log_probs, frame_lens, targets, target_lens) -> torch.Tensor:
        """Summed CTC loss of (N, T', V) log-probabilities, blank 0."""
        return nn.functional.ctc_loss(
            log_probs.transpose(0, 1),  # (T', N, V)
            targets,
            frame_lens,
            target_lens,
            blank=BLANK,
            reduction="sum",
            zero_infinity=True,
        )


def alignment_to_symbols(alignment: torch.Tensor, n_blocks: torch.Tensor, targets: torch.Tensor):
    """Per-block label counts -> the emitted symbol sequence of each utterance.

    alignment (N, B) labels per block (0 past an utterance's blocks); block b emits its labels
    then `<e>`. Returns symbols (N, M), symbol_blocks (N, M), valid (N, M) float, with
    M = max over utterances of (labels + blocks).
    """
    N, B = alignment.shape
    sequences, block_ids = [], []
    for n in range(N):
        counts = alignment[n, : n_blocks[n]].tolist()
        labels = targets[n, : sum(counts)].tolist()
        seq, ids, u = [], [], 0
        for b, k in enumerate(counts):
            seq += labels[u : u + k] + [BLANK]
            ids += [b] * (k + 1)
            u += k
        sequences.append(seq)
        block_ids.append(ids)
    M = max(len(s) for s in sequences)
    symbols = torch.zeros(N, M, dtype=torch.long)
    symbol_blocks = torch.zeros(N, M, dtype=torch.long)
    valid = torch.zeros(N, M)
    for n, (seq, ids) in enumerate(zip(sequences, block_ids, strict=True)):
        symbols[n, : len(seq)] = torch.tensor(seq)
        symbol_blocks[n, : len(ids)] = torch.tensor(ids)
        valid[n, : len(seq)] = 1.0
    device = alignment.device
    return symbols.to(device), symbol_blocks.to(device), valid.to(device)
