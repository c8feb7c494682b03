"""Numba building blocks shared by the decoder (`fast`) and the encoder (`numba_encoder`):
matrix-vector and matrix-matrix products over float32, int8 (`quantize_rows`) or half-bit
(`halve`) weights, Eigen's rational tanh, the LSTM cell, LayerNorm.

Where every weight matrix is exactly a float16 value (a checkpoint saved in half, as the
shipped model is), the kernels keep their matrices as half bits (`halve`; on CPUs that widen
half to float in hardware): half the bytes to read for each product, and the same numbers, so
the same frames and tokens.
"""

import platform

import numba as nb
import numpy as np
from llvmlite import ir
from llvmlite.binding import get_host_cpu_features
from numba.extending import intrinsic

F32 = np.float32


def _a(t) -> np.ndarray:
    """A torch tensor as a contiguous float32 array (torch itself is never imported here)."""
    return np.ascontiguousarray(t.detach().cpu().numpy(), dtype=F32)


def _empty(*shape) -> np.ndarray:
    return np.zeros(shape, F32)


HALF = np.uint16  # the dtype of matrices kept as IEEE half bits (`halve`)
# Half to float in hardware: x86-64 since 2012 (F16C), every aarch64. Elsewhere LLVM would
# call a runtime function that Numba's JIT may not link, so matrices stay float32 there.
HALF_IN_HARDWARE = platform.machine().lower() not in ("x86_64", "amd64") or bool(
    get_host_cpu_features().get("f16c")
)


def halve(arrays: dict) -> dict:
    """The float32 matrices of `arrays` as half bits, if every one of them is exactly a
    float16 value (else `arrays` as they are): the kernels read them through `_f32`."""
    halves = {k: a.astype(np.float16) for k, a in arrays.items() if a.dtype == F32}
    exact = all(np.array_equal(h.astype(F32), arrays[k]) for k, h in halves.items())
    if HALF_IN_HARDWARE and exact:
        return {**arrays, **{k: h.view(HALF) for k, h in halves.items()}}
    return arrays


@intrinsic
def _f32(typingctx, v):
    """A matrix entry as float32: float32 as it is, int8 (`quantize_rows`) converted, uint16
    read as half bits (`halve`; LLVM's fpext, which vectorises to F16C's vcvtph2ps)."""
    if v not in (nb.float32, nb.int8, nb.uint16):
        return None

    def codegen(context, builder, sig, args):
        if v == nb.float32:
            return args[0]
        if v == nb.int8:
            return builder.sitofp(args[0], ir.FloatType())
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return nb.float32(v), codegen


@nb.njit(cache=True, fastmath=True)
def _gemv(W, x, out, accumulate):
    """out (+)= W @ x for W (M, N) row-major, float32, int8 (`quantize_rows`, unscaled) or
    half bits (`halve`). Four rows at a time, so that each load of x serves four sums."""
    M, N = W.shape
    i = 0
    while i + 4 <= M:
        a0 = a1 = a2 = a3 = np.float32(0.0)
        for j in range(N):
            v = x[j]
            a0 += _f32(W[i, j]) * v
            a1 += _f32(W[i + 1, j]) * v
            a2 += _f32(W[i + 2, j]) * v
            a3 += _f32(W[i + 3, j]) * v
        if accumulate:
            a0, a1, a2, a3 = a0 + out[i], a1 + out[i + 1], a2 + out[i + 2], a3 + out[i + 3]
        out[i], out[i + 1], out[i + 2], out[i + 3] = a0, a1, a2, a3
        i += 4
    for r in range(i, M):
        acc = np.float32(0.0)
        for j in range(N):
            acc += _f32(W[r, j]) * x[j]
        out[r] = out[r] + acc if accumulate else acc


@nb.njit(cache=True, fastmath=True, inline="always")
def _tanh(x):
    """float32 tanh as Eigen computes it: a 13/6 rational function on [-7.9, 7.9], within
    3e-7 of tanh. A clamp, multiplies, adds and one divide, so loops over it vectorise; np.tanh
    and np.exp call libm once per element (this llvmlite has no SVML), which made the LSTM
    cell's gates cost as much as its matrix products. fastmath assumes finite inputs: audio
    with NaN or inf is refused before it reaches them (`read_audio`, `accept_waveform`)."""
    x = min(max(x, np.float32(-7.90531110763549805)), np.float32(7.90531110763549805))
    x2 = x * x
    p = np.float32(-2.76076847742355e-16)
    p = p * x2 + np.float32(2.00018790482477e-13)
    p = p * x2 + np.float32(-8.60467152213735e-11)
    p = p * x2 + np.float32(5.12229709037114e-08)
    p = p * x2 + np.float32(1.48572235717979e-05)
    p = p * x2 + np.float32(6.37261928875436e-04)
    p = p * x2 + np.float32(4.89352455891786e-03)
    q = np.float32(1.19825839466702e-06)
    q = q * x2 + np.float32(1.18534705686654e-04)
    q = q * x2 + np.float32(2.26843463243900e-03)
    q = q * x2 + np.float32(4.89352518554385e-03)
    return x * p / q


@nb.njit(cache=True, fastmath=True, inline="always")
def _sigmoid(x):
    half = np.float32(0.5)
    return half + half * _tanh(half * x)


@nb.njit(cache=True, fastmath=True)
def _lstm_update(gates, h, c):
    """torch's gate order i, f, g, o; writes h and c in place."""
    H = h.shape[0]
    for k in range(H):
        i = _sigmoid(gates[k])
        f = _sigmoid(gates[H + k])
        g = _tanh(gates[2 * H + k])
        o = _sigmoid(gates[3 * H + k])
        c[k] = f * c[k] + i * g
        h[k] = o * _tanh(c[k])


def quantize_rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 weights per row: w (..., M, N) ~= q * scale[..., None], |q| <= 127."""
    scale = np.maximum(np.abs(w).max(axis=-1), np.float32(1e-12)) / np.float32(127)
    q = np.rint(w / scale[..., None]).astype(np.int8)
    return q, scale.astype(F32)


@nb.njit(cache=True)
def _layer_norm(x, g, b, eps):
    m = x.mean()
    var = ((x - m) ** 2).mean()
    x[:] = (x - m) / np.sqrt(var + np.float32(eps)) * g + b


@nb.njit(cache=True, fastmath=True)
def _gemm(W, X, out):
    """out (T, M) += X (T, N) @ W (M, N).T, W as in `_gemv`. Each row of W is read
    once for all T rows of X, and four rows of X share each load of it (four sums at once)."""
    M, N = W.shape
    T = X.shape[0]
    for i in range(M):
        t = 0
        while t + 4 <= T:
            a0 = a1 = a2 = a3 = np.float32(0.0)
            for j in range(N):
                w = _f32(W[i, j])
                a0 += w * X[t, j]
                a1 += w * X[t + 1, j]
                a2 += w * X[t + 2, j]
                a3 += w * X[t + 3, j]
            out[t, i] += a0
            out[t + 1, i] += a1
            out[t + 2, i] += a2
            out[t + 3, i] += a3
            t += 4
        for r in range(t, T):
            acc = np.float32(0.0)
            for j in range(N):
                acc += _f32(W[i, j]) * X[r, j]
            out[r, i] += acc
