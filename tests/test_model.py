"""The model: exact full-sum loss by enumeration, streaming-equivalent encoder, masks, modes."""

import itertools
import math

import pytest
import torch

from transducer.config import ModelConfig
from transducer.decode.fast import pack
from transducer.model.attention import make_attention
from transducer.model.blocks import to_blocks
from transducer.model.transducer import NeuralTransducer, alignment_to_symbols

TINY = dict(
    vocab_size=6,
    d_model=16,
    n_enc_layers=2,
    d_dec=12,
    d_joint=10,
    d_att=8,
    d_att_lstm=4,
    block_width=2,
    dropout=0.0,
    ctc_weight=0.0,
)


def tiny(**overrides) -> NeuralTransducer:
    torch.manual_seed(0)
    cfg = ModelConfig(**{**TINY, **overrides})
    return NeuralTransducer(cfg).eval()


def alignments(n_labels: int, n_blocks: int):
    """Every way to put n_labels in order into n_blocks (counts per block)."""
    for cuts in itertools.combinations_with_replacement(range(n_blocks), n_labels):
        yield [cuts.count(b) for b in range(n_blocks)]


@pytest.mark.parametrize("attention", ["none", "dot", "mlp", "lstm"])
def test_fullsum_loss_is_the_sum_over_all_alignments(attention):
    model = tiny(attention=attention)
    feats, feat_lens = torch.randn(1, 22, 80), torch.tensor([22])  # 6 frames: 3 blocks of 2
    targets, target_lens = torch.tensor([[3, 4, 2]]), torch.tensor([3])
    with torch.no_grad():
        blocks, mask, n_blocks, _, _ = model.blocks(feats, feat_lens, 2)
        loss = model.fullsum_nll(blocks, mask, n_blocks, targets, target_lens)[0]
        logp = model.decoder(blocks, mask, targets)[0].log_softmax(-1)[0]  # (B, U + 1, V)
    assert int(n_blocks) == 3
    total = []
    for counts in alignments(3, 3):
        score, u = 0.0, 0
        for b, k in enumerate(counts):
            for _ in range(k):
                score += float(logp[b, u, targets[0, u]])
                u += 1
            score += float(logp[b, u, 0])  # <e>
        total.append(score)
    assert len(total) == math.comb(3 + 3 - 1, 3)
    brute = -torch.logsumexp(torch.tensor(total, dtype=torch.float64), 0)
    assert abs(float(loss) - float(brute)) < 1e-4


@pytest.mark.parametrize("conv_channels, n_res_layers", [(0, 0), (4, 0), (0, 1)])
def test_encoder_whole_equals_block_by_block(conv_channels, n_res_layers):
    model = tiny(conv_channels=conv_channels, n_enc_layers=2, n_res_layers=n_res_layers)
    if conv_channels:  # its last layer starts at zero
        torch.nn.init.normal_(model.encoder.conv[-1].weight)
    for layer in model.encoder.res:  # so do the residual layers' projections
        torch.nn.init.normal_(layer.proj.weight)
    feats = torch.randn(2, 37, 80)
    whole, _ = model.encoder.encode_chunk(feats)
    state, pieces = None, []
    for start in range(0, 37, 8):  # 8 feature frames = 2 encoder frames = one block
        out, state = model.encoder.encode_chunk(feats[:, start : start + 8], state)
        pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces, 1), whole, atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", ["fullsum", "paper"])
def test_padding_does_not_change_the_loss(mode):
    model = tiny(mode=mode, n_dec_layers=1 if mode == "fullsum" else 2, ctc_weight=0.3)
    a, b = torch.randn(1, 30, 80), torch.randn(1, 17, 80)  # 4 and 3 blocks of W=2
    ya, yb = torch.tensor([[2, 3, 4, 5]]), torch.tensor([[5, 2]])
    align_a, align_b = torch.tensor([[1, 0, 2, 1]]), torch.tensor([[1, 1, 0]])
    feats = torch.zeros(2, 30, 80)
    feats[0], feats[1, :17] = a[0], b[0]
    targets = torch.tensor([[2, 3, 4, 5], [5, 2, 0, 0]])
    alignment = torch.tensor([[1, 0, 2, 1], [1, 1, 0, 0]])
    with torch.no_grad():
        _, pa = model(a, torch.tensor([30]), ya, torch.tensor([4]), alignment=align_a)
        _, pb = model(b, torch.tensor([17]), yb, torch.tensor([2]), alignment=align_b)
        _, batch = model(
            feats, torch.tensor([30, 17]), targets, torch.tensor([4, 2]), alignment=alignment
        )
    # Full-sum and CTC are per label (4 + 2); paper mode is per symbol, <e> included (8 + 5).
    na, nb = (4, 2) if mode == "fullsum" else (8, 5)
    expected = (pa["transducer"] * na + pb["transducer"] * nb) / (na + nb)
    assert abs(batch["transducer"] - expected) < 1e-4
    assert abs(batch["ctc"] - (pa["ctc"] * 4 + pb["ctc"] * 2) / 6) < 1e-4


def test_blocks_and_masks():
    frames = torch.arange(5.0)[None, :, None].expand(2, 5, 3)  # frame t holds value t
    blocks, mask, n_blocks = to_blocks(frames, torch.tensor([5, 3]), W=2, lookback=1)
    assert blocks.shape == (2, 3, 4, 3) and n_blocks.tolist() == [3, 2]
    assert blocks[0, 2, :, 0].tolist() == [2.0, 3.0, 4.0, 0.0]  # previous block, then this one
    assert mask[0].tolist() == [
        [False, False, True, True],
        [True, True, True, True],
        [True, True, True, False],
    ]
    assert mask[1, 1].tolist() == [True, True, True, False]


@pytest.mark.parametrize("attention", ["none", "dot", "mlp", "lstm"])
def test_attention_ignores_masked_frames(attention):
    torch.manual_seed(0)
    att = make_attention(ModelConfig(**{**TINY, "attention": attention}), 12)
    query, frames = torch.randn(1, 2, 3, 12), torch.randn(1, 2, 4, 16)
    mask = torch.tensor([[[True, True, True, True], [True, True, False, False]]])
    ctx, weights = att(query, frames, mask)
    assert ctx.shape == (1, 2, 3, 16) and weights.shape == (1, 2, 3, 4)
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, 2, 3))
    assert float(weights[0, 1, :, 2:].detach().abs().max()) < 1e-6
    changed = frames.clone()
    changed[0, 1, 2:] = 100.0
    ctx2, _ = att(query, changed, mask)
    torch.testing.assert_close(ctx2, ctx)


@pytest.mark.parametrize("attention", ["none", "dot", "mlp", "lstm"])
def test_lattice_logits_equal_the_joint_of_each_node(attention):
    """The factored lattice computation equals joint(q_u, attend(q_u, block b)) node by node."""
    decoder = tiny(attention=attention).decoder
    torch.manual_seed(1)
    queries, blocks = torch.randn(2, 5, 12), torch.randn(2, 3, 2, 16)
    mask = torch.ones(2, 3, 2, dtype=torch.bool)
    mask[1, 2, 1] = False
    logits, _ = decoder.logits(queries, blocks, mask)  # (N, B, U, V)
    for b in range(3):
        q = queries[:, None]  # (N, 1, U, Dp): every u queries block b
        context, _ = decoder.attention(q, blocks[:, b : b + 1], mask[:, b : b + 1])
        torch.testing.assert_close(logits[:, b : b + 1], decoder.joint(q, context))


def test_label_dropout_hides_labels_from_the_decoder_only_in_training():
    decoder = tiny(label_dropout=0.5).decoder
    blocks, mask = torch.randn(1, 3, 2, 16), torch.ones(1, 3, 2, dtype=torch.bool)
    a, b = torch.tensor([[3, 4, 2, 5, 3, 4, 2, 5]]), torch.tensor([[5, 2, 4, 3, 2, 5, 4, 3]])
    assert not torch.equal(decoder(blocks, mask, a)[0], decoder(blocks, mask, b)[0])  # eval
    decoder.train()
    torch.manual_seed(3)
    dropped = decoder(blocks, mask, a)[0]
    torch.manual_seed(3)
    assert torch.equal(dropped, decoder(blocks, mask, a)[0])  # a seeded draw
    # Labels that differ only where the same draw hides them give the same outputs.
    torch.manual_seed(3)
    hidden = torch.rand(a.shape) < 0.5
    assert 0 < int(hidden.sum()) < a.shape[1]  # some labels hidden, some not
    mixed = torch.where(hidden, b, a)
    torch.manual_seed(3)
    torch.testing.assert_close(decoder(blocks, mask, mixed)[0], dropped)


def test_stateless_prediction_reads_only_the_last_k_labels():
    decoder = tiny(pred_context=2).decoder
    a, b = torch.tensor([[3, 4, 2, 5, 3]]), torch.tensor([[5, 4, 2, 5, 3]])  # differ at 0 only
    qa, qb = decoder.predict(a)[0], decoder.predict(b)[0]
    assert not torch.allclose(qa[:, :2], qb[:, :2])  # reads a[0]
    torch.testing.assert_close(qa[:, 2:], qb[:, 2:])  # a[0] is out of reach
    state, steps = None, []  # label by label, as the searches feed it, gives the same queries
    for u in range(a.shape[1]):
        q, state = decoder.predict(a[:, u : u + 1], state)
        steps.append(q)
    torch.testing.assert_close(torch.cat(steps, dim=1), qa)
    with pytest.raises(ValueError, match="torch backend"):
        pack(tiny(pred_context=2))


def test_alignment_to_symbols():
    symbols, blocks, valid = alignment_to_symbols(
        torch.tensor([[2, 0, 1], [1, 0, 0]]),
        torch.tensor([3, 1]),
        torch.tensor([[7, 8, 9], [5, 0, 0]]),
    )
    assert symbols[0].tolist() == [7, 8, 0, 0, 9, 0]
    assert blocks[0].tolist() == [0, 0, 0, 1, 2, 2]
    assert symbols[1, :2].tolist() == [5, 0] and valid[1].tolist() == [1, 1, 0, 0, 0, 0]


def test_config_validation():
    with pytest.raises(ValueError, match="attention"):
        ModelConfig(attention="cosine")
    with pytest.raises(ValueError, match="mode"):
        ModelConfig(mode="ctc")
    with pytest.raises(ValueError, match="label_dropout"):
        ModelConfig(mode="paper", n_dec_layers=2, label_dropout=0.3)
    with pytest.raises(ValueError, match="pred_context"):
        ModelConfig(mode="paper", n_dec_layers=2, pred_context=2)
    with pytest.raises(ValueError, match="phone_ctc_weight"):
        ModelConfig(phone_ctc_weight=1.5)
