"""Alignments for paper-mode training: how many labels each block emits.

An alignment is a (N, B) tensor of label counts per block; block b emits its labels, then `<e>`.

- `search_alignment`: the paper's approximate dynamic programme. A cell (b, u) holds the best
  partial alignment that has emitted u labels by the end of block b, with its decoder state.
  Block b extends every kept cell (b-1, u') by k = 0..K labels then `<e>`, and each new cell
  keeps its best extension. The decoder state depends on the path, so this is approximate
  (as in the paper); for a decoder whose scores depend only on (b, u) it is exact. To keep it
  cheap we keep the `beam` best cells per block (beam >= U + 1 is the paper's full DP) and
  batch all utterances and cells into one decoder call per step: (K + 1) calls per block.
- `ctc_alignment`: CTC forced alignment of the auxiliary CTC head
  (`torchaudio.functional.forced_align`); a label goes to the block of its first frame.
"""

from collections.abc import Callable

import torch
import torchaudio.functional as AF

from transducer.model.blocks import n_blocks as n_blocks_of

BLANK = 0
NEG_INF = float("-inf")

# step(y_prev (R,), state (tuple of (R, ...)), utterance (R,), block (R,)) -> (log-probs (R, V),
# state): one decoder step for R rows, each row a (utterance, cell) pair.
StepFn = Callable[[torch.Tensor, tuple, torch.Tensor, torch.Tensor], tuple[torch.Tensor, tuple]]


def even_alignment(n_labels: int, n_blocks: int) -> list[int]:
    """Labels spread evenly over blocks: the fallback when nothing better exists."""
    counts = [0] * n_blocks
    for i in range(n_labels):
        counts[i * n_blocks // n_labels] += 1
    return counts


def _like(state: tuple, fields) -> tuple:
    """A tuple of the same kind as `state` (NamedTuple or plain) holding `fields`."""
    fields = list(fields)
    return type(state)(*fields) if hasattr(state, "_fields") else tuple(fields)


def _expand(state: tuple, beam: int) -> tuple:
    """(N, ...) -> (N * beam, ...) rows, utterance-major."""
    return _like(state, (s.repeat_interleave(beam, dim=0) for s in state))


@torch.no_grad()
def search_alignment(
    step: StepFn,
    init_state: tuple,
    n_blocks: torch.Tensor,
    targets: torch.Tensor,
    target_lens: torch.Tensor,
    max_per_block: int,
    beam: int = 8,
):
    """The best alignment found per utterance: counts (N, B) and its log-probability (N,).

    init_state: the decoder state (N, ...) at the start of the utterance.
    """
    N, K = targets.shape[0], max_per_block
    B, U = int(n_blocks.max()), targets.shape[1]
    beam = min(beam, U + 1)  # there are only U + 1 cells
    device = targets.device
    padded = torch.nn.functional.pad(targets, (0, K + 1))  # labels past the end: masked below
    cells = torch.zeros(N, beam, dtype=torch.long, device=device)  # labels emitted so far
    scores = torch.full((N, beam), NEG_INF, device=device)
    scores[:, 0] = 0.0
    state = _expand(init_state, beam)
    rows = torch.arange(N, device=device).repeat_interleave(beam)
    history = []  # per block: (source beam index, cells) each (N, beam)
    for b in range(B):
        cand, states = _extend_block(step, state, b, cells, scores, padded, target_lens, K, rows)
        new_cells, new_scores, src, k = _best_cells(cells, cand, beam, U)
        # Winners always come from a step that ran (other candidates are -inf).
        new_state = _like(
            state,
            (
                s.view(len(s), N, beam, *s.shape[2:])[k, torch.arange(N)[:, None], src].flatten(
                    0, 1
                )
                for s in states
            ),
        )
        active = (b < n_blocks)[:, None]  # (N, 1): finished utterances keep their cells
        keep = torch.arange(beam, device=device).expand(N, beam)
        src = torch.where(active, src, keep)
        cells = torch.where(active, new_cells, cells)
        scores = torch.where(active, new_scores, scores)
        active_rows = active.expand(N, beam).reshape(-1)
        state = _like(
            state,
            (
                torch.where(active_rows.view(-1, *[1] * (s.dim() - 1)), n, s)
                for n, s in zip(new_state, state, strict=True)
            ),
        )
        history.append((src, cells))
    return _backtrack(history, cells, scores, n_blocks, target_lens)


def _extend_block(step, state, b, cells, scores, padded, target_lens, K, rows):
    """Run up to K + 1 decoder steps in block b from every kept cell.

    Returns cand (N, beam, K + 1): score of emitting k labels then `<e>`, and the stacked
    states after each step run (S <= K + 1, N * beam, ...). Pruning that changes no result:
    scores only fall as a row emits more labels, so a row whose running score is already below
    the beam-th best cell found so far can never enter the kept beam; it is dropped, and only
    live rows are stepped. Typical blocks stop after a few steps instead of K + 1.
    """
    N, beam = cells.shape
    U = padded.shape[1] - K - 1
    y = torch.full((N * beam,), BLANK, dtype=torch.long, device=cells.device)
    block = torch.full_like(y, b)
    acc = scores.clone()
    cand = torch.full((N, beam, K + 1), NEG_INF, device=cells.device)
    best = torch.full((N, U + 1), NEG_INF, device=cells.device)  # best candidate per cell so far
    states = []  # per step run: the state after it, all N * beam rows (dead rows zero)
    live = torch.isfinite(acc).reshape(-1)  # (N * beam,)
    for k in range(K + 1):
        idx = live.nonzero()[:, 0]
        if len(idx) == 0:
            break
        sub = _like(state, (s[idx] for s in state))
        logp, sub = step(y[idx], sub, rows[idx], block[idx])  # (R_live, V)
        full = tuple(torch.zeros_like(s) for s in state)
        for whole, part in zip(full, sub, strict=True):
            whole[idx] = part
        states.append(full)
        state = _like(state, full)
        flat_acc = acc.reshape(-1)
        cand.view(-1, K + 1)[idx, k] = flat_acc[idx] + logp[:, BLANK]
        target = (cells + k).clamp(max=U)
        best = best.scatter_reduce(
            1, target, cand[:, :, k].masked_fill(cells + k > U, NEG_INF), "amax"
        )
        threshold = best.topk(min(beam, U + 1), dim=1).values[:, -1]  # (N,)
        if k == K:
            break
        position = (cells + k).reshape(-1)[idx]
        label = padded[rows[idx], position]  # (R_live,)
        has_label = position < target_lens[rows[idx]]
        step_logp = logp.gather(1, label[:, None])[:, 0].masked_fill(~has_label, NEG_INF)
        flat_acc = flat_acc.clone()
        flat_acc[idx] = flat_acc[idx] + step_logp
        acc = flat_acc.view(N, beam)
        y = y.clone()
        y[idx] = label
        live = torch.zeros_like(live)
        live[idx] = flat_acc[idx] >= threshold[rows[idx]]
    stacked = tuple(torch.stack(field) for field in zip(*states, strict=True))
    return cand, stacked


def _best_cells(cells, cand, beam, U):
    """Best extension per target cell u <= U, then the `beam` best cells.

    Returns new cells, scores, and the (source beam index, k) that produced each: (N, beam).
    """
    N, _, K1 = cand.shape
    width = U + 1
    target = (cells[:, :, None] + torch.arange(K1, device=cells.device)).reshape(N, -1)
    flat = cand.reshape(N, -1).masked_fill(target > U, NEG_INF)  # past the last label
    target = target.clamp(max=U)
    best = torch.full((N, width), NEG_INF, device=cells.device)
    best = best.scatter_reduce(1, target, flat, reduce="amax")
    # The winner of each cell: the lowest flat index whose score equals the cell's best.
    index = torch.arange(flat.shape[1], device=cells.device).expand(N, -1)
    is_best = flat == best.gather(1, target)
    winner = torch.full((N, width), flat.shape[1], device=cells.device, dtype=torch.long)
    winner = winner.scatter_reduce(1, target, index.masked_fill(~is_best, flat.shape[1]), "amin")
    new_scores, new_cells = best.topk(beam, dim=1)  # (N, beam)
    chosen = winner.gather(1, new_cells).clamp(max=flat.shape[1] - 1)
    return new_cells, new_scores, chosen // K1, chosen % K1


def _backtrack(history, cells, scores, n_blocks, target_lens):
    N, B = cells.shape[0], len(history)
    counts = torch.zeros(N, B, dtype=torch.long)
    final = torch.full((N,), NEG_INF)
    for n in range(N):
        done = (cells[n] == target_lens[n]) & torch.isfinite(scores[n])
        if not done.any():  # more labels than blocks can hold: fall back
            counts[n, : n_blocks[n]] = torch.tensor(
                even_alignment(int(target_lens[n]), int(n_blocks[n]))
            )
            continue
        j = int(torch.where(done, scores[n], NEG_INF).argmax())
        final[n] = scores[n, j]
        for b in range(int(n_blocks[n]) - 1, -1, -1):
            src, cells_b = history[b]
            before = history[b - 1][1][n, src[n, j]] if b > 0 else 0
            counts[n, b] = cells_b[n, j] - before
            j = int(src[n, j])
    return counts, final


def decoder_step_fn(decoder, blocks: torch.Tensor, mask: torch.Tensor) -> StepFn:
    """Adapt a PaperDecoder over blocks (N, B, L, D), mask (N, B, L) to `search_alignment`."""

    def step(y_prev, state, utt, block):
        logits, _, state = decoder.step(y_prev, state, blocks[utt, block], mask[utt, block])
        return logits.log_softmax(-1), state

    return step


@torch.no_grad()
def ctc_alignment(
    log_probs: torch.Tensor,
    frame_lens: torch.Tensor,
    targets: torch.Tensor,
    target_lens: torch.Tensor,
    W: int,
) -> torch.Tensor:
    """CTC forced alignment -> labels per block (N, B); each label in its first frame's block."""
    N = log_probs.shape[0]
    blocks_per_utt = n_blocks_of(frame_lens, W)
    counts = torch.zeros(N, int(blocks_per_utt.max()), dtype=torch.long)
    for n in range(N):
        T, U, n_blocks = int(frame_lens[n]), int(target_lens[n]), int(blocks_per_utt[n])
        try:
            path, scores = AF.forced_align(
                log_probs[n : n + 1, :T].float().cpu(),
                targets[n : n + 1, :U].int().cpu(),
                blank=BLANK,
            )
        except RuntimeError:  # too few frames for the labels (and their repeats)
            counts[n, :n_blocks] = torch.tensor(even_alignment(U, n_blocks))
            continue
        spans = AF.merge_tokens(path[0], scores[0].exp(), blank=BLANK)
        blocks = torch.tensor([span.start // W for span in spans], dtype=torch.long)
        counts[n, :n_blocks] = torch.bincount(blocks, minlength=n_blocks)
    return counts
