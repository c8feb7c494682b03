import resource
import time

import numpy as np
import pytest
import torch
import torchaudio.functional as AF
from hypothesis import given, settings
from hypothesis import strategies as st

from transducer.audio import (
    AudioError,
    StreamingResampler,
    read_audio,
    resample,
    to_float32,
    to_mono,
    write_audio,
)


@pytest.mark.parametrize("rate", [8000, 8011, 22050, 44100, 44101, 48000, 192000, 16000])
def test_resample_keeps_a_tone(rate):
    """A 440 Hz tone at any rate (odd ones too) comes out as the same tone at 16 kHz, the
    length scaled, no delay; torchaudio's filter (the reference before soxr) agrees."""
    t = np.arange(rate // 2 + 7) / rate
    y = resample((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, 16000)
    assert y.dtype == np.float32 and abs(len(y) - len(t) * 16000 / rate) <= 1
    expected = 0.5 * np.sin(2 * np.pi * 440 * np.arange(len(y)) / 16000)
    np.testing.assert_allclose(y[200:-200], expected[200:-200], atol=2e-3)
    if rate % 50 == 0:  # torchaudio builds a table of 16000/gcd phases: only for common rates
        x = torch.from_numpy(np.sin(2 * np.pi * 440 * t).astype(np.float32))
        ref = AF.resample(x, rate, 16000).numpy()
        np.testing.assert_allclose(2 * y[200:-200], ref[200 : len(y) - 200], atol=4e-3)


def test_resample_cost_is_in_proportion_to_the_audio():
    """Rates that share few factors with 16000 once built a table of 16000 * rate / gcd floats
    (23 GB at 44101 Hz); now each costs what its audio does."""
    x = np.random.default_rng(0).standard_normal(192000).astype(np.float32)
    start = time.perf_counter()
    for rate in (44101, 8011, 8001, 191999):
        assert len(resample(x[:rate], rate, 16000)) in (15999, 16000, 16001)
    assert time.perf_counter() - start < 2.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 1_500_000  # KiB: 1.5 GB


@pytest.mark.parametrize("rate", [0, 999, 400_000, True, 16000.0])
def test_resampler_refuses_bad_rates(rate):
    with pytest.raises(AudioError, match="sample rate"):
        StreamingResampler(rate)


@pytest.mark.parametrize(
    "suffix,subtype", [(".wav", "PCM_16"), (".wav", "FLOAT"), (".flac", None), (".ogg", None)]
)
def test_read_formats_mono_16k(write_wav, rng, suffix, subtype):
    x = (rng.standard_normal(44100) * 0.1).astype(np.float32)
    stereo = np.stack([x, 0.5 * x], axis=1)
    y = read_audio(write_wav("a" + suffix, stereo, 44100, subtype))
    assert y.dtype == np.float32 and y.ndim == 1 and len(y) == 16000
    if suffix == ".wav":  # lossless: equals our own mono + resample
        expected = resample(to_mono(stereo), 44100, 16000)
        np.testing.assert_allclose(y, expected, atol=1e-4)


def test_segment(write_wav, rng):
    x = rng.standard_normal(32000).astype(np.float32) * 0.1
    y = read_audio(write_wav("a.wav", x, subtype="FLOAT"), offset=0.5, duration=0.25)
    np.testing.assert_array_equal(y, x[8000:12000])


def test_int16_and_mono():
    assert to_float32(np.array([-32768, 16384], dtype=np.int16)).tolist() == [-1.0, 0.5]
    assert to_mono(np.array([[1.0, 0.0], [0.5, 0.5]], dtype=np.float32)).tolist() == [0.5, 0.5]
    with pytest.raises(AudioError, match="int16"):
        to_float32(np.array([1, 2], dtype=np.int32))
    with pytest.raises(AudioError, match="shape"):
        to_mono(np.zeros((2, 2, 2), dtype=np.float32))
    with pytest.raises(AudioError, match=r"channels first\? pass the transpose, shape \(16000, 2"):
        to_mono(np.zeros((2, 16000), dtype=np.float32))


def test_missing_empty_and_garbage(tmp_path):
    with pytest.raises(AudioError, match="no such audio file"):
        read_audio(tmp_path / "nope.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="empty.wav: cannot read"):
        read_audio(tmp_path / "empty.wav")
    (tmp_path / "junk.flac").write_bytes(b"not audio at all" * 100)
    with pytest.raises(AudioError, match="junk.flac: cannot read"):
        read_audio(tmp_path / "junk.flac")


def test_zero_samples(write_wav):
    with pytest.raises(AudioError, match="no audio samples"):
        read_audio(write_wav("zero.wav", np.zeros(0, dtype=np.float32)))


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_truncated(write_wav, rng, suffix):
    path = write_wav("t" + suffix, rng.standard_normal(16000).astype(np.float32) * 0.1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match=f"t{suffix}: (truncated|cannot read)"):
        read_audio(path)


def test_non_finite(write_wav):
    x = np.zeros(1600, dtype=np.float32)
    x[100] = np.nan
    with pytest.raises(AudioError, match="nan.wav: non-finite"):
        read_audio(write_wav("nan.wav", x, subtype="FLOAT"))


def test_write_audio_is_atomic_and_clips(tmp_path):
    path = tmp_path / "out.wav"
    write_audio(path, np.array([2.0, -2.0, 0.5], dtype=np.float32))
    assert list(tmp_path.iterdir()) == [path]
    np.testing.assert_allclose(read_audio(path), [1.0, -1.0, 0.5], atol=1e-4)


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from([8000, 8011, 22050, 44100, 44101, 48000, 16000]),
    st.lists(st.integers(1, 3000), min_size=1, max_size=6),
)
def test_streaming_resampler_equals_whole(rate, chunks):
    x = np.random.default_rng(rate).standard_normal(rate // 4 + 3).astype(np.float32)
    resampler, out, start, k = StreamingResampler(rate), [], 0, 0
    while start < len(x):
        out.append(resampler.accept(x[start : start + chunks[k % len(chunks)]]))
        start, k = start + chunks[k % len(chunks)], k + 1
    out.append(resampler.flush())
    np.testing.assert_array_equal(np.concatenate(out), resample(x, rate, 16000))
