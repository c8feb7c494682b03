"""The Numba decoder gives the torch reference searches' tokens, frames and scores exactly."""

import zlib

import numpy as np
import pytest
import torch

from transducer.audio import read_audio
from transducer.config import ModelConfig
from transducer.decode import Hypothesis, Stepper, beam_block, greedy_block
from transducer.decode.fast import FastDecoder
from transducer.decode.kernels import HALF, HALF_IN_HARDWARE
from transducer.evaluate import transcribe
from transducer.model.transducer import NeuralTransducer
from transducer.recognizer import DEFAULT_MODEL, Recognizer

SIZES = dict(vocab_size=12, d_model=24, n_enc_layers=1, d_dec=20, d_joint=18, d_att=10,
             d_att_lstm=6, block_width=4, dropout=0.0, ctc_weight=0.0,
             max_symbols_per_block=5)  # fmt: skip
from transducer.recognizer import SAMPLE  # noqa: E402

CASES = [
    (mode, att, lookback)
    for mode in ("fullsum", "paper")
    for att in ("none", "dot", "mlp", "lstm")
    for lookback in (0, 1)
]


def random_model(mode: str, attention: str, lookback: int, n_dec_layers: int = 2,
                 half: bool = False):  # fmt: skip
    """half: every weight rounded to a float16 value (as a checkpoint saved in half): the
    Numba decoder then keeps its matrices as half bits (`kernels.halve`)."""
    # crc32, not hash(): Python salts str hashes per process, and tests of what a search finds
    # need the same model on every run
    torch.manual_seed(zlib.crc32(f"{mode} {attention} {lookback}".encode()) % 1000)
    cfg = ModelConfig(**SIZES, mode=mode, attention=attention, lookback=lookback,
                      n_dec_layers=n_dec_layers)  # fmt: skip
    model = NeuralTransducer(cfg).eval()
    with torch.no_grad():  # a random model says little but <e>: favour labels a bit
        out = model.decoder.out if mode == "paper" else model.decoder.joint.out
        out.bias[0] -= 1.0
        out.bias[2:4] += 2.0  # two likely labels: beams then hold several tokens
        for p in model.decoder.parameters():
            p.mul_(2.0)
            if half:
                p.copy_(p.half().float())
    return model


def blocks(model, n_blocks: int = 5, seed: int = 0):
    """Random encoder blocks (B, L, D) with the last block part-padded, and masks."""
    g = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    L = (cfg.lookback + 1) * cfg.block_width
    frames = torch.randn(n_blocks, L, cfg.d_model, generator=g)
    mask = torch.ones(n_blocks, L, dtype=torch.bool)
    mask[0, : cfg.lookback * cfg.block_width] = False  # no history before the first block
    mask[-1, -1:] = False
    return frames, mask


@pytest.mark.parametrize("mode,attention,lookback", CASES)
def test_greedy_equals_torch(mode, attention, lookback):
    model = random_model(mode, attention, lookback)
    fast, stepper = FastDecoder.from_model(model), Stepper(model)
    frames, mask = blocks(model)
    K, W = model.cfg.max_symbols_per_block, model.cfg.block_width
    ref, ours = Hypothesis(state=stepper.initial()), Hypothesis(state=fast.initial())
    for b in range(len(frames)):
        f, m = frames[b : b + 1], mask[b : b + 1]
        ref = greedy_block(stepper, ref, f, m, b, K, W, lookback)
        ours = fast.greedy_block(ours, f, m, b, K, W, lookback)
        assert (ours.tokens, ours.blocks, ours.frames) == (ref.tokens, ref.blocks, ref.frames)
        assert ours.score == pytest.approx(ref.score, abs=1e-4)
    assert len(ref.tokens) >= 3  # the comparison covered real emissions


@pytest.mark.parametrize(
    "mode,attention,lookback,half",
    [(*case, False) for case in CASES] + [("fullsum", "dot", 0, True), ("paper", "mlp", 1, True)],
)
def test_beam_equals_torch(mode, attention, lookback, half):
    model = random_model(mode, attention, lookback, half=half)
    fast, stepper = FastDecoder.from_model(model), Stepper(model)
    assert (fast.w.w_hh.dtype == HALF) == (half and HALF_IN_HARDWARE)
    frames, mask = blocks(model, seed=1)
    K, W, beam = model.cfg.max_symbols_per_block, model.cfg.block_width, 3
    ref, ours = [Hypothesis(state=stepper.initial())], [Hypothesis(state=fast.initial())]
    for b in range(len(frames)):
        f, m = frames[b : b + 1], mask[b : b + 1]
        ref = beam_block(stepper, ref, f, m, b, K, W, beam, lookback)
        ours = fast.beam_block(ours, f, m, b, K, W, beam, lookback)
        assert [h.tokens for h in ours] == [h.tokens for h in ref]
        assert [h.frames for h in ours] == [h.frames for h in ref]
        assert [h.score for h in ours] == pytest.approx([h.score for h in ref], abs=1e-4)
    # On random weights a beam prefers few labels (every label costs); the trained-model test
    # in test_recognizer covers longer outputs.
    assert any(h.tokens for h in ref)


def test_single_layer_prediction_network():
    model = random_model("fullsum", "dot", 0, n_dec_layers=1)
    fast, stepper = FastDecoder.from_model(model), Stepper(model)
    frames, mask = blocks(model)
    ref = Hypothesis(state=stepper.initial())
    ours = Hypothesis(state=fast.initial())
    for b in range(len(frames)):
        ref = greedy_block(stepper, ref, frames[b : b + 1], mask[b : b + 1], b, 5, 4)
        ours = fast.greedy_block(ours, frames[b : b + 1], mask[b : b + 1], b, 5, 4)
    assert ours.tokens == ref.tokens and len(ref.tokens) >= 3


@pytest.mark.parametrize(
    "conv_channels, n_res_layers, half", [(0, 0, False), (3, 0, False), (0, 2, False), (3, 1, True)]
)
def test_numba_encoder_equals_torch(conv_channels, n_res_layers, half):
    """Chunk by chunk with carried state, including a partial last group of feature frames;
    with and without the convolutional front-end and residual layers (their zero-initialised
    outputs made random). half: weights rounded to float16 values, which the encoder keeps as
    half bits, giving exactly the frames of its float32 arrays."""
    from transducer.decode.numba_encoder import NumbaEncoder, _encode, pack_encoder

    torch.manual_seed(5)
    sizes = {**SIZES, "n_enc_layers": 1 + n_res_layers}
    cfg = ModelConfig(**sizes, n_mels=13, conv_channels=conv_channels, n_res_layers=n_res_layers)
    model = NeuralTransducer(cfg).eval()
    if conv_channels:
        torch.nn.init.normal_(model.encoder.conv[-1].weight, std=0.3)
    for layer in model.encoder.res:
        torch.nn.init.normal_(layer.proj.weight, std=0.3)
        torch.nn.init.normal_(layer.proj.bias, std=0.3)
    if half:
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.half().float())
    feats = torch.randn(1, 4 * 9 + 3, model.cfg.n_mels, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref, _ = model.encoder.encode_chunk(feats)
    enc = NumbaEncoder.from_model(model)
    state, ours = enc.initial_state(), []
    chunks = [(0, 8), (8, 20), (20, 36), (36, 39)]  # 8, 12, 16 and the last 3 frames
    for start, stop in chunks:
        frames, state = enc(feats[0, start:stop].numpy(), state)
        ours.append(frames)
    ours = np.concatenate(ours)
    assert ours.shape == ref[0].shape and np.abs(ours - ref[0].numpy()).max() < 1e-4
    assert (enc.e.w_hh.dtype == HALF) == (half and HALF_IN_HARDWARE)
    if half:  # the float32 arrays, not halved, through the same kernel and chunks
        e, (h, c) = pack_encoder(model), enc.initial_state()
        assert e.w_hh.dtype == np.float32
        fp32 = [_encode(e, feats[0, a:b].numpy(), h, c) for a, b in chunks]
        assert np.array_equal(np.concatenate(fp32), ours)


def test_int8_encoder_is_close_to_float32():
    """Weight-only int8 LSTM weights (`numba-int8`): every weight within half a step of its
    float32 value, and the encoder's frames, over carried state, within a few per cent."""
    from transducer.decode.kernels import quantize_rows
    from transducer.decode.numba_encoder import NumbaEncoder

    w = np.random.default_rng(0).standard_normal((3, 8, 40)).astype(np.float32)
    q, scale = quantize_rows(w)
    assert q.dtype == np.int8 and np.abs(q).max() == 127
    assert np.all(np.abs(q * scale[..., None] - w) <= scale[..., None] / 2 + 1e-7)
    torch.manual_seed(5)
    cfg = ModelConfig(**{**SIZES, "n_enc_layers": 2}, n_mels=13, conv_channels=3, n_res_layers=1)
    model = NeuralTransducer(cfg).eval()
    feats = np.random.default_rng(2).standard_normal((4 * 20, 13)).astype(np.float32)
    outs = []
    for enc in (NumbaEncoder.from_model(model), NumbaEncoder.from_model(model, int8=True)):
        state, frames = enc.initial_state(), []
        for start in range(0, len(feats), 16):
            out, state = enc(feats[start : start + 16], state)
            frames.append(out)
        outs.append(np.concatenate(frames))
    fp32, int8 = outs
    assert 0 < np.abs(int8 - fp32).max() < 0.05 * np.abs(fp32).max()


@pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no default model shipped")
def test_int8_backend_transcribes_the_sample_like_float32():
    """The shipped model on the int8 Numba encoder reads the bundled sample as it does in
    float32."""
    audio = read_audio(SAMPLE)
    fp32, int8 = (transcribe(Recognizer(backend=b), audio).text for b in ("numba", "numba-int8"))
    assert int8 == fp32 and len(fp32) > 50


def test_tanh_and_sigmoid_approximations():
    """The kernels' rational tanh (and the sigmoid made from it) stay within float32 noise."""
    from transducer.decode.kernels import _sigmoid, _tanh

    x = np.linspace(-30, 30, 20001, dtype=np.float32)
    tanh = np.array([_tanh(v) for v in x])
    sigmoid = np.array([_sigmoid(v) for v in x])
    assert np.abs(tanh - np.tanh(x.astype(np.float64))).max() < 5e-7
    assert np.abs(sigmoid - 1 / (1 + np.exp(-x.astype(np.float64)))).max() < 5e-7
    assert np.all(np.abs(tanh) <= 1) and np.all((sigmoid >= 0) & (sigmoid <= 1))
    assert _tanh(np.float32(0.0)) == 0.0
