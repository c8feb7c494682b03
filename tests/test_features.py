"""Features: the NumPy streaming extractor and the torch batch version both match
`torchaudio.compliance.kaldi.fbank` and each other, whatever the chunking."""

import numpy as np
import pytest
import torch
import torchaudio
from hypothesis import given, settings
from hypothesis import strategies as st

from transducer.config import FeatureConfig
from transducer.features import (
    EPSILON,
    FeatureStats,
    OnlineCMN,
    StatsAccumulator,
    StreamingFbank,
    fbank,
    fbank_torch,
    mel_banks,
    online_cmn,
)

CFG = FeatureConfig()
KALDI = FeatureConfig(mel_floor=EPSILON)  # Kaldi's own floor: the reference's exact settings


def kaldi_reference(x: np.ndarray) -> np.ndarray:
    # The reference runs in float64: its own float32 run differs from its float64 run by up
    # to ~3e-4 in frames that straddle digital silence, so float64 is the trustworthy oracle.
    wave = torch.from_numpy(x).double()[None] * 32768
    return torchaudio.compliance.kaldi.fbank(wave, num_mel_bins=80, dither=0.0).numpy()


def streamed(x: np.ndarray, chunk_sizes) -> np.ndarray:
    fe, out, start, k = StreamingFbank(CFG), [], 0, 0
    while start < len(x):
        size = chunk_sizes[k % len(chunk_sizes)]
        out.append(fe.accept(x[start : start + size]))
        start, k = start + size, k + 1
    return np.concatenate(out)


def test_mel_banks_match_torchaudio():
    ref, _ = torchaudio.compliance.kaldi.get_mel_banks(
        80, 512, 16000.0, 20.0, 0.0, 100.0, -500.0, 1.0
    )
    np.testing.assert_allclose(mel_banks(CFG)[:-1].T, ref.numpy(), atol=1e-4)


def test_numpy_matches_kaldi_fbank(speechlike):
    ref = kaldi_reference(speechlike)
    ours = fbank(speechlike, KALDI)
    assert ours.shape == ref.shape == (228, 80)
    assert np.abs(ours - ref).max() <= 1e-4


def test_torch_matches_kaldi_fbank(speechlike):
    ref = kaldi_reference(speechlike)
    ours, lens = fbank_torch(torch.from_numpy(speechlike)[None], cfg=KALDI)
    assert lens.tolist() == [len(ref)]
    assert np.abs(ours[0].numpy() - ref).max() <= 1e-4


def test_mel_floor_lifts_digital_silence_only(speechlike):
    x = np.concatenate([np.zeros(4000, np.float32), speechlike])
    ours, ref = fbank(x, CFG), kaldi_reference(x)
    assert ours.min() == 0.0 and ref.min() < -15  # log(1.0) versus log(float32 eps)
    assert np.abs(ours - np.maximum(ref, 0.0)).max() <= 1e-4
    torch_feats, _ = fbank_torch(torch.from_numpy(x)[None], cfg=CFG)
    assert np.abs(torch_feats[0].numpy() - ours).max() <= 1e-4


@pytest.mark.parametrize("chunk", [1, 37, 160, 1600, 10**6])
def test_streaming_equals_whole(speechlike, chunk):
    x = speechlike[:8000] if chunk == 1 else speechlike  # 1-sample chunks: keep it quick
    whole = fbank(x, CFG)
    assert np.abs(streamed(x, [chunk]) - whole).max() <= 1e-4


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 5000), min_size=1, max_size=8))
def test_streaming_any_chunking(chunks):
    x = (np.random.default_rng(len(chunks)).standard_normal(12345) * 0.1).astype(np.float32)
    np.testing.assert_allclose(streamed(x, chunks), fbank(x, CFG), atol=1e-4)


def test_streaming_reset(speechlike):
    fe = StreamingFbank(CFG)
    fe.accept(speechlike[:777])
    fe.reset()
    np.testing.assert_array_equal(fe.accept(speechlike), fbank(speechlike, CFG))


def test_torch_batch_padding(speechlike):
    a, b = speechlike, speechlike[:20000]
    batch = torch.zeros(2, len(a))
    batch[0], batch[1, : len(b)] = torch.from_numpy(a), torch.from_numpy(b)
    feats, lens = fbank_torch(batch, torch.tensor([len(a), len(b)]), CFG)
    assert lens.tolist() == [len(fbank(a)), len(fbank(b))]
    np.testing.assert_allclose(feats[1, : lens[1]].numpy(), fbank(b, CFG), atol=1e-4)
    assert torch.all(feats[1, lens[1] :] == 0)


def test_short_input_has_no_frames():
    assert fbank(np.zeros(399, dtype=np.float32)).shape == (0, 80)
    assert StreamingFbank().accept(np.zeros(399, dtype=np.float32)).shape == (0, 80)


def test_stats(tmp_path, rng):
    chunks = [rng.normal(3.0, 2.0, size=(n, 80)).astype(np.float32) for n in (50, 70, 30)]
    acc = StatsAccumulator(80)
    for c in chunks:
        acc.add(c)
    stats = acc.result()
    allf = np.concatenate(chunks)
    np.testing.assert_allclose(stats.mean, allf.mean(0), atol=1e-4)
    np.testing.assert_allclose(stats.std, allf.std(0), atol=1e-4)
    stats.save(tmp_path / "s.json")
    assert FeatureStats.load(tmp_path / "s.json") == stats
    normed = stats.normalize(allf)
    np.testing.assert_allclose(normed.mean(0), 0, atol=1e-4)
    with pytest.raises(ValueError, match="zero frames"):
        StatsAccumulator(80).result()


def test_online_cmn_is_causal_windowed_mean_removal(rng):
    z = rng.standard_normal((3, 90, 80)).astype(np.float32) + 2.0
    cfg = FeatureConfig(cmn_window=7, cmn_prior=3.0)
    out = online_cmn(z, cfg)
    for t in (0, 1, 6, 7, 89):  # frame t minus sum(last <= 7 frames) / (3 + their count)
        window = z[:, max(0, t - 6) : t + 1]
        expected = z[:, t] - window.sum(1) / (3.0 + window.shape[1])
        np.testing.assert_allclose(out[:, t], expected, atol=1e-5)
    assert online_cmn(z, FeatureConfig()) is z  # off by default
    later = z.copy()
    later[:, 50:] += 100.0  # the future never changes the past
    np.testing.assert_array_equal(online_cmn(later, cfg)[:, :50], out[:, :50])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=6), st.sampled_from([1, 2, 7, 600]))
def test_online_cmn_streams_like_the_whole(chunks, window):
    z = np.random.default_rng(1).standard_normal((100, 80)).astype(np.float32)
    cfg = FeatureConfig(cmn_window=window, cmn_prior=5.0)
    cmn, out, start, k = OnlineCMN(cfg), [], 0, 0
    while start < len(z):
        size = chunks[k % len(chunks)] or 1
        out.append(cmn.accept(z[start : start + size]))
        start, k = start + size, k + 1
    np.testing.assert_allclose(np.concatenate(out), online_cmn(z, cfg), atol=1e-5)


def test_config_validation():
    with pytest.raises(ValueError, match="cmn_window"):
        FeatureConfig(cmn_window=-1)
    with pytest.raises(ValueError, match="n_mels"):
        FeatureConfig(n_mels=2)
    with pytest.raises(ValueError, match="low_freq"):
        FeatureConfig(low_freq=9000)
    with pytest.raises(ValueError, match="sample_rate must be 16000"):
        FeatureConfig(sample_rate=8000)  # no reader would feed it 8 kHz audio
    assert (CFG.window_size, CFG.hop_size, CFG.n_fft) == (400, 160, 512)
