import numpy as np
import torch

from transducer.data import corrupt
from transducer.data.augment import SpecAugment, add_noise, lowpass, speed_perturb


def test_specaugment_masks_in_training_only():
    torch.manual_seed(0)
    aug = SpecAugment()
    x = torch.randn(4, 300, 80) + 10.0  # no natural zeros
    y = aug(x)
    zeros = (y == 0).float().mean(dim=(1, 2))
    assert torch.all(zeros > 0) and torch.all(zeros < 0.8)
    assert not torch.equal(zeros[0].expand(4), zeros)  # each utterance its own masks
    aug.eval()
    assert torch.equal(aug(x), x)


def test_speed_perturb():
    waves, lens = torch.randn(2, 16000), torch.tensor([16000, 8000])
    for factor in (0.9, 1.1):
        out, new_lens = speed_perturb(waves, lens, factor)
        assert out.shape[1] == new_lens[0]  # lengths agree with what torchaudio returned
        assert (
            abs(int(new_lens[0]) - 16000 / factor) <= 2
            and abs(int(new_lens[1]) - 8000 / factor) <= 2
        )
    same, same_lens = speed_perturb(waves, lens, 1.0)
    assert same is waves and same_lens is lens


def test_fresh_noise_on_a_batch(rng):
    """The chosen utterances get noise at an SNR in range, only over their own samples, new at
    each call; the padding stays silent and prob 0 changes nothing."""
    waves = torch.zeros(4, 16000)
    lens = torch.tensor([16000, 12000, 9000, 6000])
    for i, n in enumerate(lens):
        waves[i, :n] = torch.sin(torch.arange(int(n)) * (0.05 + 0.02 * i))
    assert torch.equal(add_noise(waves, lens, 0.0, (5.0, 25.0), rng), waves)
    noisy = add_noise(waves, lens, 1.0, (10.0, 20.0), rng)
    for i, n in enumerate(lens):
        assert torch.all(noisy[i, n:] == 0)
        added = (noisy[i, :n] - waves[i, :n]).pow(2).mean()
        snr = 10 * torch.log10(waves[i, :n].pow(2).mean() / added)
        assert 9.5 < snr < 20.5
    again = add_noise(waves, lens, 1.0, (10.0, 20.0), rng)
    assert not torch.equal(again, noisy)  # the next step, new noise


def test_noise_onset_starts_in_the_second_half(rng):
    """onset: each chosen utterance is untouched up to a point in its second half and noisy
    from there to its own end; the padding stays silent."""
    lens = torch.tensor([16000, 9000, 6000])
    waves = torch.zeros(3, 16000)
    for i, n in enumerate(lens):
        waves[i, :n] = 0.3 * torch.sin(torch.arange(int(n)) * 0.05)
    for _ in range(5):
        noisy = add_noise(waves, lens, 1.0, (15.0, 45.0), rng, onset=True)
        for i, n in enumerate(lens):
            changed = torch.nonzero(noisy[i] != waves[i])[:, 0]
            assert (
                n // 2 <= changed[0]
                and changed[-1] == n - 1
                and len(changed) > 0.9 * (n - changed[0])
            )


def test_lowpass_removes_the_band_above_its_cutoff(rng):
    """Chosen utterances lose what lies above their cutoff (here 3-4 kHz), keep what lies
    below, and their padding stays silent; prob 0 changes nothing."""
    t = torch.arange(16000) / 16000
    low, high = torch.sin(2 * torch.pi * 1000 * t), torch.sin(2 * torch.pi * 6000 * t)
    waves = (low + high).repeat(3, 1)
    lens = torch.tensor([16000, 12000, 8000])
    waves[1, 12000:] = waves[2, 8000:] = 0
    assert torch.equal(lowpass(waves, lens, 0.0, (3000.0, 4000.0), rng), waves)
    out = lowpass(waves, lens, 1.0, (3000.0, 4000.0), rng)
    for i, n in enumerate(lens):
        kept = out[i, 1000 : n - 1000]
        assert torch.all(out[i, n:] == 0)
        assert (kept - low[1000 : n - 1000]).abs().max() < 0.05  # the 6 kHz tone is gone


def test_add_noise_hits_snr(rng):
    tone = np.sin(np.arange(8000) * 0.1).astype(np.float32)
    speech = np.pad(tone, (4000, 4000))  # SNR counts the active part, not the padding
    noise = corrupt.coloured_noise("white", 16000, rng)
    noisy = corrupt.add_noise(speech, noise, snr_db=10.0)
    snr = 10 * np.log10(np.mean(tone**2) / np.mean((noisy - speech) ** 2))
    assert abs(snr - 10.0) < 0.3  # 20 ms frames that straddle the speech edge cost ~0.2 dB


def test_noise_colours(rng):
    def low_to_high(x):
        p = np.abs(np.fft.rfft(x)) ** 2
        return p[1:100].mean() / p[-1000:].mean()

    white, pink, brown = (corrupt.coloured_noise(k, 32000, rng) for k in ("white", "pink", "brown"))
    assert low_to_high(white) < 3 < low_to_high(pink) < low_to_high(brown)
    for x in (white, pink, brown):
        assert abs(np.sqrt(np.mean(x**2)) - 1) < 1e-3


def test_babble_and_reverb(rng):
    pool = [rng.standard_normal(n).astype(np.float32) for n in (3000, 5000, 7000, 4000)]
    b = corrupt.babble(pool, 20000, rng)
    assert b.shape == (20000,) and abs(np.sqrt(np.mean(b**2)) - 1) < 1e-3
    rir = corrupt.room_impulse_response(0.4, rng)
    assert len(rir) == 6400 and rir[0] == 1.0
    assert np.abs(rir[-800:]).max() < 0.05 * np.abs(rir[1:800]).max()
    x = np.zeros(8000, dtype=np.float32)
    x[100] = 0.5
    wet = corrupt.reverberate(x, rir)
    assert wet.shape == x.shape and np.isclose(np.abs(wet).max(), 0.5)
    assert np.count_nonzero(np.abs(wet[200:]) > 1e-4) > 1000  # the tail is there


def test_set_level_never_clips(rng):
    x = rng.standard_normal(1000).astype(np.float32)
    y = corrupt.set_level(x, rms_db=-3.0)
    assert np.abs(y).max() <= 0.99 + 1e-6
    z = corrupt.set_level(x, rms_db=-30.0)
    assert abs(20 * np.log10(np.sqrt(np.mean(z**2))) + 30) < 0.01


def test_freq_warp():
    from transducer.data.augment import freq_warp

    feats = torch.randn(2, 7, 10)
    same = freq_warp(feats, torch.tensor([1.0, 1.0]))
    assert torch.allclose(same, feats)
    half = freq_warp(feats, torch.tensor([0.5, 2.0]))
    assert torch.allclose(half[0, :, 2], feats[0, :, 1])  # bin 2 reads bin 1
    assert torch.allclose(half[0, :, 1], (feats[0, :, 0] + feats[0, :, 1]) / 2)
    assert torch.allclose(half[1, :, 3], feats[1, :, 6])  # bin 3 reads bin 6
    assert torch.allclose(half[1, :, 9], feats[1, :, 9])  # clamped to the top bin


def test_formant_warp_moves_each_region_and_moves_over_time():
    from transducer.data.augment import formant_warp

    feats = torch.arange(13.0).repeat(2, 9, 1)  # every frame: bin k holds k
    assert torch.equal(formant_warp(feats, np.zeros((2, 1, 3)), every=0), feats)
    # one control point (bin 6, spacing 6) read half a spacing up: bin 6 reads bin 9, bin 3
    # reads 4.5 (half way), the ends stay; the other utterance's point half a spacing down
    out = formant_warp(feats, np.array([[[0.5]], [[-0.5]]]), every=0)
    assert out[0, 0].tolist() == [0, 1.5, 3, 4.5, 6, 7.5, 9, 9.5, 10, 10.5, 11, 11.5, 12]
    assert out[1, 0].tolist() == [0, 0.5, 1, 1.5, 2, 2.5, 3, 4.5, 6, 7.5, 9, 10.5, 12]
    assert torch.equal(out[:, :1].expand_as(out), out)  # the same warp in every frame
    # anchors every 4 frames, unwarped, then half a spacing up: frame 2 half way, 4 on all warped
    out = formant_warp(feats, np.array([[[0.0], [0.5]]] * 2), every=4)
    assert torch.equal(out[0, 0], feats[0, 0])
    assert out[0, 2, 6] == 7.5 and out[0, 4, 6] == 9 and out[0, 8, 6] == 9
    # several points: each region moves on its own, and the map stays monotonic
    out = formant_warp(feats, np.array([[[0.4, -0.4, 0.4]]] * 2), every=0)
    assert (out.diff(dim=-1) >= 0).all() and out[0, 0, 3] > 3 and out[0, 0, 6] < 6


def test_random_eq_adds_a_fixed_curve_in_db_above_the_floor():
    from transducer.data.augment import random_eq

    feats = torch.full((2, 5, 11), 6.0)
    ln10 = float(np.log(10))
    flat = random_eq(feats, np.zeros((2, 3)), log_floor=0.0)
    assert torch.equal(flat, feats)
    out = random_eq(feats, np.array([[10.0, 10.0, 10.0], [0.0, -20.0, -40.0]]), log_floor=0.0)
    assert torch.allclose(out[0], feats[0] + ln10)  # +10 dB: x10 in energy
    assert torch.allclose(out[1, :, 0], torch.full((5,), 6.0))  # gain 0 at the first bin
    # -20 dB at the middle bin, -8 dB two fifths of the way to it, the same for every frame
    assert torch.allclose(out[1, :, 5], torch.full((5,), 6.0 - 2 * ln10))
    assert torch.allclose(out[1, :, 2], torch.full((5,), 6.0 - 0.8 * ln10))
    assert torch.equal(out[1, :, 10], torch.zeros(5))  # -40 dB clamped at the floor
