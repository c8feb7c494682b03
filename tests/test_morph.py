"""Voice morphing (new flite timbres for the corpus): reconstruction, alignment, envelope."""

import numpy as np

from transducer.data.morph import HOP, align, istft, morph, stft

RATE = 16000


def _voice(tilt: float, seconds: float = 1.0, f0: float = 120.0) -> np.ndarray:
    """A pulse train at f0 through a one-pole filter: tilt > 0 dark, < 0 bright."""
    x = np.zeros(int(seconds * RATE))
    x[:: int(RATE / f0)] = 1.0
    y = np.zeros_like(x)
    for i in range(len(x)):
        y[i] = x[i] + tilt * (y[i - 1] if i else 0.0)
    return (0.1 * y / np.abs(y).max()).astype(np.float32)


def _centroid(x: np.ndarray) -> float:
    power = (np.abs(stft(x)) ** 2).mean(axis=0)
    return float((power * np.arange(len(power))).sum() / power.sum())


def test_stft_round_trip_and_self_morph_are_identity():
    x = np.random.default_rng(0).standard_normal(12345).astype(np.float32) * 0.1
    np.testing.assert_allclose(istft(stft(x), len(x)), x, atol=1e-6)
    np.testing.assert_allclose(morph(x, x, 0.7), x, atol=1e-5)


def test_alignment_follows_a_time_stretch():
    a = np.random.default_rng(1).standard_normal((50, 3))
    b = np.repeat(a, 2, axis=0)  # b says the same, twice as slowly
    match = align(a, b)
    assert match[0] == 0 and match[-1] >= len(b) - 2 and np.all(np.diff(match) >= 0)
    np.testing.assert_array_equal(b[match], a)  # every frame meets its own copy


def test_morph_moves_the_envelope_towards_the_second_voice():
    dark, bright = _voice(0.95), _voice(-0.5)
    c_dark, c_bright = _centroid(dark), _centroid(bright)
    halfway, whole = _centroid(morph(dark, bright, 0.5)), _centroid(morph(dark, bright, 1.0))
    assert c_dark < halfway < whole and abs(whole - c_bright) < 0.2 * (c_bright - c_dark)
    assert len(morph(dark, bright[: len(bright) - 3 * HOP], 0.5)) == len(dark)


def _paths(n: int, m: int, path=((0, 0),)):
    """Every monotone path from (0, 0) to (n - 1, m - 1) with steps (1,1), (1,0), (0,1)."""
    i, j = path[-1]
    if (i, j) == (n - 1, m - 1):
        yield path
        return
    for di, dj in ((1, 1), (1, 0), (0, 1)):
        if i + di < n and j + dj < m:
            yield from _paths(n, m, path + ((i + di, j + dj),))


def test_alignment_is_the_cheapest_path_by_enumeration():
    rng = np.random.default_rng(2)
    for n, m in [(4, 5), (5, 3), (1, 4), (6, 6)]:
        a, b = rng.standard_normal((n, 2)), rng.standard_normal((m, 2))
        d = np.linalg.norm(a[:, None] - b[None], axis=2)  # (n, m) frame distances
        best = min(_paths(n, m), key=lambda p: sum(d[i, j] for i, j in p))  # noqa: B023
        first_j = [min(j for i, j in best if i == row) for row in range(n)]
        np.testing.assert_array_equal(align(a, b), first_j)
