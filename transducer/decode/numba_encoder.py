"""The encoder on Numba kernels (`NumbaEncoder`): the same frames as torch's, in float32 or
with its LSTM weight matrices in int8 (`quantize_encoder`: weight-only, per-row scales)."""

from typing import NamedTuple

import numba as nb
import numpy as np

from transducer.decode.kernels import (
    F32,
    _a,
    _empty,
    _gemm,
    _gemv,
    _layer_norm,
    _lstm_update,
    halve,
    quantize_rows,
)


class EncoderWeights(NamedTuple):
    """The encoder as float32 arrays: stacking, projection (plus the optional convolutional
    front-end), LayerNorm, LSTM layers (the top R residual), LayerNorm."""

    stack: int
    proj: np.ndarray  # (D, stack * F)
    proj_b: np.ndarray  # (D,)
    in_g: np.ndarray  # (D,) input LayerNorm gain and bias
    in_b: np.ndarray
    w_ih: np.ndarray  # (layers, 4D, D) float32, or int8 (`quantize_rows`) times s_ih
    w_hh: np.ndarray  # (layers, 4D, D) likewise, times s_hh
    s_ih: np.ndarray  # (layers, 4D) per-row scales (ones for float32 weights)
    s_hh: np.ndarray
    b: np.ndarray  # (layers, 4D): bias_ih + bias_hh
    res_w: np.ndarray  # (R, D, D): the top R layers are residual, y += res_w @ h + res_b
    res_b: np.ndarray  # (R, D)
    out_g: np.ndarray  # (D,) output LayerNorm
    out_b: np.ndarray
    eps: float
    # the convolutional front-end (all empty without one), laid out for `_conv_frontend`
    c1: np.ndarray  # (9, C): 3x3 kernels (one input channel), [(di, dj), out]
    c1_b: np.ndarray  # (C,)
    c2: np.ndarray  # (9 * C, C): [(di, dj, in), out]
    c2_b: np.ndarray  # (C,)
    cp: np.ndarray  # (D, stack * B * C): projection, inputs ordered (row, bin, channel)
    cp_b: np.ndarray  # (D,)


def pack_encoder(model, int8: bool = False) -> EncoderWeights:
    """A `NeuralTransducer`'s encoder as float32 arrays (int8: then `quantize_encoder`)."""
    enc = model.encoder
    lstms = [(enc.lstm, k) for k in range(enc.lstm.num_layers)] + [(r.lstm, 0) for r in enc.res]
    layer = lambda name: np.stack([_a(getattr(m, f"{name}_l{k}")) for m, k in lstms])  # noqa: E731
    D = enc.proj.weight.shape[0]
    res = [r.proj for r in enc.res]
    w_ih, w_hh = layer("weight_ih"), layer("weight_hh")
    e = EncoderWeights(
        stack=enc.stack, proj=_a(enc.proj.weight), proj_b=_a(enc.proj.bias),
        in_g=_a(enc.in_norm.weight), in_b=_a(enc.in_norm.bias),
        w_ih=w_ih, w_hh=w_hh, s_ih=np.ones(w_ih.shape[:2], F32), s_hh=np.ones(w_hh.shape[:2], F32),
        b=layer("bias_ih") + layer("bias_hh"),
        res_w=np.stack([_a(p.weight) for p in res]) if res else _empty(0, D, D),
        res_b=np.stack([_a(p.bias) for p in res]) if res else _empty(0, D),
        out_g=_a(enc.norm.weight), out_b=_a(enc.norm.bias), eps=float(enc.norm.eps),
        **_pack_conv(enc),
    )  # fmt: skip
    return quantize_encoder(e) if int8 else e


def quantize_encoder(e: EncoderWeights) -> EncoderWeights:
    """The LSTM weight matrices (nearly all of the weights, and of the time, since each frame
    reads W_hh whole from memory) as int8 rows with float32 scales, a quarter of the bytes;
    inputs, states and sums stay float32 (weight-only quantisation)."""
    (w_ih, s_ih), (w_hh, s_hh) = quantize_rows(e.w_ih), quantize_rows(e.w_hh)
    return e._replace(w_ih=w_ih, w_hh=w_hh, s_ih=s_ih, s_hh=s_hh)


def _pack_conv(enc) -> dict:
    """The front-end's weights reordered for `_conv_layer` (channel-last, output channels
    innermost) and for the projection of its flattened output."""
    D = enc.proj.weight.shape[0]
    if enc.conv is None:
        return dict(c1=_empty(9, 0), c1_b=_empty(0), c2=_empty(0, 0), c2_b=_empty(0),
                    cp=_empty(D, 0), cp_b=_empty(D))  # fmt: skip
    conv1, conv2, proj = enc.conv[0], enc.conv[2], enc.conv[5]
    C = conv1.weight.shape[0]
    w2 = _a(conv2.weight).transpose(2, 3, 1, 0).reshape(9 * C, C)  # (di, dj, in, out)
    cp = _a(proj.weight).reshape(D, C, enc.stack, -1).transpose(0, 2, 3, 1).reshape(D, -1)
    return dict(c1=np.ascontiguousarray(_a(conv1.weight).reshape(C, 9).T), c1_b=_a(conv1.bias),
                c2=np.ascontiguousarray(w2), c2_b=_a(conv2.bias),
                cp=np.ascontiguousarray(cp), cp_b=_a(proj.bias))  # fmt: skip


@nb.njit(cache=True, fastmath=True)
def _conv_layer(x, w, b):
    """3x3 convolution, padding 1, stride 2 along bins, then ReLU, channel-last:
    x (T, S, B, Cin) -> (T, S, (B + 1) // 2, Cout); w (9 * Cin, Cout). Direct, the output
    channels innermost (one vector), as the layers are too small for an im2col product."""
    T, S, B, Cin = x.shape
    Bo, Cout = (B + 1) // 2, w.shape[1]
    out = np.empty((T, S, Bo, Cout), np.float32)
    for t in range(T):
        for i in range(S):
            for j in range(Bo):
                for co in range(Cout):
                    out[t, i, j, co] = b[co]
                for di in range(3):
                    ii = i + di - 1
                    if ii < 0 or ii >= S:
                        continue
                    for dj in range(3):
                        jj = 2 * j + dj - 1
                        if jj < 0 or jj >= B:
                            continue
                        k = (di * 3 + dj) * Cin
                        for ci in range(Cin):
                            v = x[t, ii, jj, ci]
                            for co in range(Cout):
                                out[t, i, j, co] += v * w[k + ci, co]
                for co in range(Cout):
                    out[t, i, j, co] = max(out[t, i, j, co], np.float32(0.0))
    return out


@nb.njit(cache=True)
def _conv_frontend(e, x, y):
    """y (T', D) += the front-end's output for the stacked frames x (T', stack * F)."""
    T = x.shape[0]
    images = x.reshape(T, e.stack, x.shape[1] // e.stack, 1)  # (T', stack, F, 1)
    z = _conv_layer(_conv_layer(images, e.c1, e.c1_b), e.c2, e.c2_b)
    for t in range(T):
        y[t] += e.cp_b
    _gemm(e.cp, z.reshape(T, -1), y)


@nb.njit(cache=True)
def _encode(e, feats, h, c):
    """feats (T, F) normalised, T a multiple of `stack` except at a stream's end; h, c
    (layers, D) carried state, updated in place. Returns frames (ceil(T / stack), D).

    Layer by layer over the whole chunk: the input products of all frames are one matrix
    product (each weight read once per chunk), then the recurrence runs frame by frame."""
    T, F = feats.shape
    n_out = (T + e.stack - 1) // e.stack
    D = e.proj.shape[0]
    x = np.zeros((n_out, e.stack * F), np.float32)  # stacked; a partial last group zero-padded
    for t in range(T):
        x[t // e.stack, (t % e.stack) * F : (t % e.stack + 1) * F] = feats[t]
    y = np.zeros((n_out, D), np.float32)
    for t in range(n_out):
        y[t] = e.proj_b
    _gemm(e.proj, x, y)
    if e.c1.shape[1] > 0:
        _conv_frontend(e, x, y)
    for t in range(n_out):
        _layer_norm(y[t], e.in_g, e.in_b, e.eps)
        y[t] = np.maximum(y[t], np.float32(0.0))
    n_plain = e.w_ih.shape[0] - e.res_w.shape[0]
    for layer in range(e.w_ih.shape[0]):
        gates = np.zeros((n_out, 4 * D), np.float32)
        _gemm(e.w_ih[layer], y, gates)
        s_ih, s_hh, bias = e.s_ih[layer], e.s_hh[layer], e.b[layer]
        for t in range(n_out):
            for k in range(4 * D):
                gates[t, k] = gates[t, k] * s_ih[k] + bias[k]
        out = np.zeros((n_out, D), np.float32)
        recurrent = np.empty(4 * D, np.float32)
        for t in range(n_out):
            _gemv(e.w_hh[layer], h[layer], recurrent, False)
            for k in range(4 * D):
                gates[t, k] += s_hh[k] * recurrent[k]
            _lstm_update(gates[t], h[layer], c[layer])
            out[t] = h[layer]
        if layer < n_plain:
            y = out
        else:  # residual: y += proj(out)
            r = layer - n_plain
            for t in range(n_out):
                y[t] += e.res_b[r]
            _gemm(e.res_w[r], out, y)
    for t in range(n_out):
        _layer_norm(y[t], e.out_g, e.out_b, e.eps)
    return y


ENCODER_MATRICES = ("proj", "cp", "w_ih", "w_hh", "res_w")  # read only by _gemv, _gemm


class NumbaEncoder:
    """The encoder backend on Numba kernels: same interface as `backends.TorchEncoder`."""

    def __init__(self, e: EncoderWeights, half: bool = True):
        """half: keep the matrices as half bits where that is lossless (`halve`)."""
        self.e = e._replace(**halve({k: getattr(e, k) for k in ENCODER_MATRICES})) if half else e
        self.shape = (e.w_hh.shape[0], e.w_hh.shape[2])  # (layers, D)
        n_mels = e.proj.shape[1] // e.stack
        self(np.zeros((e.stack, n_mels), F32), self.initial_state())  # compile or load now

    @classmethod
    def from_model(cls, model, int8: bool = False) -> "NumbaEncoder":
        return cls(pack_encoder(model, int8))

    def initial_state(self):
        return np.zeros(self.shape, F32), np.zeros(self.shape, F32)

    def __call__(self, feats: np.ndarray, state):
        """feats (T, F) normalised -> frames (T', D) and the new state."""
        h, c = state[0].copy(), state[1].copy()
        return _encode(self.e, np.ascontiguousarray(feats, dtype=F32), h, c), (h, c)
