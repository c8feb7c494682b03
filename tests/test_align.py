"""Alignment search: exact on a path-independent scorer, consistent on the real decoder."""

import itertools

import pytest
import torch

from tests.test_model import tiny
from transducer.align import ctc_alignment, decoder_step_fn, even_alignment, search_alignment
from transducer.model.transducer import alignment_to_symbols


def all_alignments(U, B, K):
    for counts in itertools.product(range(K + 1), repeat=B):
        if sum(counts) == U:
            yield list(counts)


def score(table, counts, labels):
    """log p of an alignment when p depends only on (block, labels emitted so far)."""
    total, u = 0.0, 0
    for b, k in enumerate(counts):
        for _ in range(k):
            total += float(table[b, u, labels[u]])
            u += 1
        total += float(table[b, u, 0])
    return total


def table_step(table):
    def step(y_prev, state, utt, block):
        (u,) = state
        u = u + (y_prev != 0).long()  # a label was just emitted
        return table[block, u], (u,)

    return step


@pytest.mark.parametrize("seed", range(5))
def test_search_is_exact_when_scores_depend_only_on_the_cell(seed):
    torch.manual_seed(seed)
    N, B, U, V, K = 2, 4, 5, 7, 3
    table = torch.randn(B, U + 1, V).log_softmax(-1)
    targets = torch.randint(1, V, (N, U))
    target_lens, n_blocks = torch.tensor([5, 3]), torch.tensor([4, 3])
    init = (torch.zeros(N, dtype=torch.long),)
    counts, best = search_alignment(
        table_step(table), init, n_blocks, targets, target_lens, K, beam=U + 1
    )
    for n in range(N):
        labels = targets[n].tolist()
        brute = max(
            all_alignments(int(target_lens[n]), int(n_blocks[n]), K),
            key=lambda c: score(table, c, labels),
        )
        assert counts[n, : n_blocks[n]].tolist() == brute
        assert abs(float(best[n]) - score(table, brute, labels)) < 1e-4
        assert counts[n, n_blocks[n] :].sum() == 0


def forced_log_prob(model, blocks, mask, n_blocks, targets, counts):
    """log p of each utterance's symbols under one alignment, teacher-forced: (N,)."""
    symbols, symbol_blocks, valid = alignment_to_symbols(counts, n_blocks, targets)
    logp = model.decoder(blocks, mask, symbols, symbol_blocks)[0].log_softmax(-1)
    return (logp.gather(2, symbols[..., None])[..., 0] * valid).sum(1)


def test_search_on_the_paper_decoder_reports_its_alignments_score():
    model = tiny(mode="paper", n_dec_layers=2, attention="lstm")
    feats, feat_lens = torch.randn(2, 40, 80), torch.tensor([40, 28])
    targets, target_lens = torch.tensor([[2, 3, 4, 5, 2], [3, 3, 4, 0, 0]]), torch.tensor([5, 3])
    with torch.no_grad():
        blocks, mask, n_blocks, _, _ = model.blocks(feats, feat_lens, 2)
        step = decoder_step_fn(model.decoder, blocks, mask)
        init = model.decoder.initial_state(2)
        counts, best = search_alignment(step, init, n_blocks, targets, target_lens, 4, beam=6)
        even = torch.zeros_like(counts)
        for n in range(2):
            even[n, : n_blocks[n]] = torch.tensor(
                even_alignment(int(target_lens[n]), int(n_blocks[n]))
            )
        forced = forced_log_prob(model, blocks, mask, n_blocks, targets, counts)
        forced_even = forced_log_prob(model, blocks, mask, n_blocks, targets, even)
    assert counts.sum(1).tolist() == target_lens.tolist()
    torch.testing.assert_close(best, forced, atol=1e-4, rtol=0)
    assert torch.all(best >= forced_even - 1e-4)


def test_ctc_alignment_puts_labels_in_their_blocks():
    T, V = 12, 5
    path = [0, 3, 3, 0, 0, 0, 4, 0, 0, 0, 2, 0]  # labels at frames 1, 6 and 10
    log_probs = torch.full((1, T, V), -10.0)
    log_probs[0, torch.arange(T), torch.tensor(path)] = 0.0
    targets, lens = torch.tensor([[3, 4, 2]]), torch.tensor([3])
    for W, expected in ((4, [[1, 1, 1]]), (8, [[2, 1]])):
        counts = ctc_alignment(log_probs.log_softmax(-1), torch.tensor([T]), targets, lens, W=W)
        assert counts.tolist() == expected


def test_paper_forward_aligns_by_itself():
    model = tiny(mode="paper", n_dec_layers=2, ctc_weight=0.2).train()
    feats, feat_lens = torch.randn(2, 40, 80), torch.tensor([40, 28])
    targets, target_lens = torch.tensor([[2, 3, 4, 5, 2], [3, 3, 4, 0, 0]]), torch.tensor([5, 3])
    for method in ("search", "ctc"):
        loss, parts = model(feats, feat_lens, targets, target_lens, alignment=method)
        loss.backward()
        assert torch.isfinite(loss) and {"transducer", "ctc"} <= set(parts)
    assert model.training and model.decoder.training
