"""Streaming recognition: any chunking gives the offline tokens and timestamps; input checks."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import letter_audio
from tests.test_model import TINY
from transducer.audio import AudioError, resample
from transducer.checkpoint import bundle, save_atomic
from transducer.config import FeatureConfig, ModelConfig
from transducer.decode import beam_search, greedy_search
from transducer.evaluate import features
from transducer.features import FeatureStats
from transducer.model.transducer import NeuralTransducer
from transducer.recognizer import Recognizer
from transducer.text import CharTokenizer

STATS = FeatureStats(tuple([10.0] * 80), tuple([4.0] * 80))


def random_model(path, features=FeatureConfig(), **overrides):
    torch.manual_seed(1)
    cfg = ModelConfig(
        **{**TINY, "vocab_size": 30, "block_width": 3, "max_symbols_per_block": 2, **overrides}
    )
    save_atomic(bundle(NeuralTransducer(cfg), CharTokenizer.english(), STATS, features), path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {
        "fullsum": random_model(folder / "fullsum.pt", lookback=1),
        "paper": random_model(folder / "paper.pt", mode="paper", n_dec_layers=2, attention="lstm"),
        "fullsum-cmn": random_model(
            folder / "cmn.pt", FeatureConfig(cmn_window=50, cmn_prior=10.0), lookback=1
        ),
    }


AUDIO = (np.random.default_rng(0).standard_normal(16000 + 1234) * 0.1).astype(np.float32)


def stream_tokens(rec: Recognizer, samples, sample_rate=16000, chunks=(10**9,)):
    s = rec.create_stream()
    start, k = 0, 0
    while start < len(samples):
        size = chunks[k % len(chunks)]
        s.accept_waveform(sample_rate, samples[start : start + size])
        while rec.is_ready(s):
            rec.decode_stream(s)
        start, k = start + size, k + 1
    s.input_finished()
    while rec.is_ready(s):
        rec.decode_stream(s)
    result = rec.get_result(s)
    assert result.is_final
    return result


def offline(rec: Recognizer, samples, beam=0):
    feats = features(samples, rec.stats, rec.features)
    hyp = beam_search(rec.model, feats, beam=beam) if beam > 1 else greedy_search(rec.model, feats)
    return (tuple(rec.tokenizer.symbols[t] for t in hyp.tokens),
            tuple(round(f * 0.04, 3) for f in hyp.frames))  # fmt: skip


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("mode", ["fullsum", "paper"])
def test_streaming_greedy_equals_offline(models, mode, backend):
    """Streaming, under any chunking and with either decoder, gives the offline torch search's
    tokens and timestamps."""
    rec = Recognizer(models[mode], endpoint=_no_endpoints(), backend=backend)
    tokens, times = offline(rec, AUDIO)
    assert len(tokens) > 5  # a random model still says plenty
    for chunks in [(1,), (37,), (1600,), (10**9,)]:
        result = stream_tokens(rec, AUDIO, chunks=chunks)
        assert (result.tokens, result.timestamps) == (tokens, times), chunks
        assert list(result.timestamps) == sorted(result.timestamps)


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("mode", ["fullsum", "paper"])
def test_streaming_beam_equals_offline(trained, mode, backend):
    paths, audio = trained
    rec = Recognizer(paths[mode], beam=3, endpoint=_no_endpoints(), backend=backend)
    tokens, times = offline(rec, audio, beam=3)
    assert len(tokens) >= 3
    for chunks in [(37,), (1600,), (10**9,)]:
        result = stream_tokens(rec, audio, chunks=chunks)
        assert (result.tokens, result.timestamps) == (tokens, times), chunks


def test_stream_features_are_the_offline_features(models):
    """The encoder sees what training and the offline decoders see, online mean normalisation
    included (a random model's tokens barely depend on it, so this checks the features)."""
    rec = Recognizer(models["fullsum-cmn"], endpoint=_no_endpoints())
    seen, encoder = [], rec.encoder

    class Spy:  # the encoder, noting the features it is given
        initial_state = encoder.initial_state

        def __call__(self, feats, state):
            seen.append(feats)
            return encoder(feats, state)

    rec.encoder = Spy()
    loud_end = AUDIO * np.linspace(0.2, 3.0, len(AUDIO), dtype=np.float32)
    stream = rec.create_stream()
    for piece in np.array_split(loud_end, 7):
        stream.accept_waveform(16000, piece)
        while rec.is_ready(stream):
            rec.decode_stream(stream)
    stream.input_finished()
    while rec.is_ready(stream):
        rec.decode_stream(stream)
    offline_feats = features(loud_end, rec.stats, rec.features).numpy()
    np.testing.assert_allclose(np.concatenate(seen), offline_feats, atol=1e-4)
    no_cmn = features(loud_end, rec.stats, FeatureConfig()).numpy()
    assert np.abs(offline_feats - no_cmn).mean() > 0.1


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 32000), min_size=1, max_size=5))
def test_any_chunking(models, chunks):
    rec = Recognizer(models["fullsum"], endpoint=_no_endpoints())
    whole = stream_tokens(rec, AUDIO)
    assert stream_tokens(rec, AUDIO, chunks=chunks) == whole


def _no_endpoints():
    from transducer.recognizer import EndpointConfig

    return EndpointConfig(silence_no_speech=1e9, silence_after_speech=1e9, max_segment=1e9)


def test_rates_channels_and_int16(models):
    rec = Recognizer(models["fullsum"], endpoint=_no_endpoints())
    ints = np.round(AUDIO * 32768).clip(-32768, 32767).astype(np.int16)
    exact = ints.astype(np.float32) / 32768
    mono = stream_tokens(rec, exact)
    assert stream_tokens(rec, ints) == mono
    assert stream_tokens(rec, np.stack([exact, exact], axis=1), chunks=(999,)) == mono
    for rate, chunks in ((8000, (4410,)), (44100, (4410,)), (44101, (37, 1, 4411, 999))):
        x = resample(AUDIO, 16000, rate)
        tokens, times = offline(rec, resample(x, rate, 16000))
        result = stream_tokens(rec, x, sample_rate=rate, chunks=chunks)
        assert (result.tokens, result.timestamps) == (tokens, times)


def test_bad_input_raises(models):
    rec = Recognizer(models["fullsum"])
    s = rec.create_stream()
    bad = AUDIO[:100].copy()
    bad[5] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        s.accept_waveform(16000, bad)
    with pytest.raises(AudioError, match="shape"):
        s.accept_waveform(16000, np.zeros((2, 3, 4), np.float32))
    for rate in (0, True, 16000.0, 999, 10**6):
        with pytest.raises(AudioError, match="sample_rate"):
            s.accept_waveform(rate, AUDIO[:10])
    with pytest.raises(AudioError, match="channels first"):
        s.accept_waveform(16000, np.zeros((2, 800), np.float32))
    with pytest.raises(AudioError, match="dtype"):
        s.accept_waveform(16000, np.zeros(10, np.int32))
    s.accept_waveform(16000, AUDIO[:100])
    with pytest.raises(AudioError, match="changed from 16000 to 8000"):
        s.accept_waveform(8000, AUDIO[:100])
    s.input_finished()
    with pytest.raises(AudioError, match="after input_finished"):
        s.accept_waveform(16000, AUDIO[:100])
    rec.reset(s)  # a reset stream takes audio again, at any rate
    s.accept_waveform(8000, AUDIO[:100])


def test_transcribe_at_an_odd_rate_costs_little_memory(models, tmp_path):
    """1 s at 44101 Hz once built a 23 GB resampling table and was killed."""
    import json
    import subprocess
    import sys

    import soundfile as sf

    sf.write(str(tmp_path / "odd.wav"), resample(AUDIO, 16000, 44101), 44101, subtype="FLOAT")
    # VmHWM, the peak RSS of this program (ru_maxrss would count the forking pytest's pages)
    script = (
        "import re, sys; from transducer.cli import main; main(sys.argv[1:]); "
        "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"
    )
    # torch: no Numba compilation (1 GB more) in the peak
    args = ["transcribe", "--json", "--backend", "torch", "--model", str(models["fullsum"]),
            str(tmp_path / "odd.wav")]  # fmt: skip
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                         timeout=300, check=True).stdout.splitlines()  # fmt: skip
    assert json.loads(out[0])["file"].endswith("odd.wav")
    assert int(out[1]) < 1_500_000  # KiB


def test_transcribe_command(models, tmp_path, capsys):
    import json

    import soundfile as sf

    from transducer.cli import main

    sf.write(str(tmp_path / "a.wav"), resample(AUDIO, 16000, 22050), 22050, subtype="FLOAT")
    main(["transcribe", "--model", str(models["fullsum"]), "--json", str(tmp_path / "a.wav")])
    line = json.loads(capsys.readouterr().out)
    assert set(line) == {"file", "text", "segments", "rtf"} and line["rtf"] > 0
    (segment,) = line["segments"]  # 1.08 s: no endpoint
    assert set(segment) == {"text", "tokens", "timestamps"} and segment["text"] == line["text"]
    assert len(segment["tokens"]) == len(segment["timestamps"]) > 0
    main(
        [
            "transcribe",
            "--model",
            str(models["fullsum"]),
            "--stream",
            "--json",
            str(tmp_path / "a.wav"),
        ]
    )
    *partials, final = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(partials) >= 3 and all(p["partial"] for p in partials)
    assert partials[-1]["is_final"] and not partials[0]["is_final"]
    assert final["segments"] == line["segments"]


def test_transcribe_goes_on_past_a_bad_file(models, tmp_path, capsys):
    import json

    import soundfile as sf

    from transducer.cli import main

    good, bad = tmp_path / "good.wav", tmp_path / "bad.wav"
    sf.write(str(good), AUDIO, 16000)
    bad.write_bytes(good.read_bytes()[:3000])  # truncated
    with pytest.raises(SystemExit) as exit:
        main(["transcribe", "--model", str(models["fullsum"]), "--json", str(good), str(bad),
              str(good)])  # fmt: skip
    out, err = capsys.readouterr()
    files = [json.loads(x)["file"] for x in out.splitlines()]
    assert exit.value.code == 1 and files == [str(good), str(good)]  # the third file too
    assert f"{bad}: truncated WAV file" in err and "1 of 3 files could not be read" in err


def test_endpoint_rules(models):
    from types import SimpleNamespace

    from transducer.decode import Hypothesis
    from transducer.recognizer import EndpointConfig

    rec = Recognizer(models["fullsum"], endpoint=EndpointConfig(2.4, 1.2, 20.0))
    block = rec.W * rec.frame_seconds  # seconds per block (0.12 s here)

    def reached(seconds, tokens=(), last_frame=0, segment_start=0.0):
        hyp = Hypothesis(tokens=list(tokens), frames=[last_frame] * len(tokens))
        stream = SimpleNamespace(
            n_blocks=round(seconds / block), segment_start=segment_start, hyps=[hyp]
        )
        return rec._endpoint(stream)

    assert not reached(2.28) and reached(2.4) == "silence_no_speech"  # nothing decoded: 2.4 s
    assert not reached(2.4, tokens=[5], last_frame=30)
    assert reached(2.52, tokens=[5], last_frame=30) == "silence_after_speech"
    assert reached(20.04, tokens=[5], last_frame=int(20.0 / rec.frame_seconds)) == "max_segment"
    assert not reached(3.0, segment_start=1.0)  # silence counts from the segment's start


def test_segments_follow_endpoints(models):
    from transducer.recognizer import EndpointConfig

    rec = Recognizer(models["fullsum"], endpoint=EndpointConfig(1e9, 1e9, max_segment=0.36))
    s = rec.create_stream()
    s.accept_waveform(16000, AUDIO)
    ended = []
    while rec.is_ready(s):
        rec.decode_stream(s)
        if rec.is_endpoint(s):
            ended.append(rec.get_result(s))
            assert rec.open_segment(s) == []  # the block closed the segment: none is open
    assert [r.segment for r in ended] == [0, 1]  # 1.08 s of audio: two whole 0.36 s segments
    assert all(r.is_final for r in ended)
    assert all(0.36 * r.segment <= t < 0.36 * (r.segment + 1) for r in ended for t in r.timestamps)
    assert rec.get_result(s).segment == len(ended)  # the next segment is under way
    rec.reset(s)
    assert rec.get_result(s).segment == 0 and s.n_blocks == 0


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_endpoints_split_at_long_pauses(trained, backend):
    """Three words with 2-s pauses: the 1.2-s rule ends a segment after each of the first two.
    The later segments start with a new encoder in the pause (see the next test): the toy
    model, trained on four utterances with 0.1-s lead-ins, need not read them right."""
    from transducer.recognizer import EndpointConfig

    paths, _ = trained
    rng = np.random.default_rng(7)
    pause = (0.003 * rng.standard_normal(32000)).astype(np.float32)
    words = ["abc", "cab", "bad"]
    audio = np.concatenate(
        [p for w in words for p in (letter_audio(w, rng), pause)][:-1]
    )  # fmt: skip
    rec = Recognizer(paths["fullsum"], endpoint=EndpointConfig(2.4, 1.2, 20.0), backend=backend)
    s, ended = rec.create_stream(), []
    for i in range(0, len(audio), 1600):
        s.accept_waveform(16000, audio[i : i + 1600])
        while rec.is_ready(s):
            rec.decode_stream(s)
            if rec.is_endpoint(s):
                ended.append(rec.get_result(s))
    s.input_finished()
    while rec.is_ready(s):
        rec.decode_stream(s)
    [last] = rec.open_segment(s)
    assert ended[0].text == "abc" and ended[1].text and last.text
    assert [r.segment for r in ended] == [0, 1] and all(r.is_final for r in ended)
    assert last.segment == 2 and last.is_final
    assert ended[1].timestamps[0] > ended[0].timestamps[-1] + 1.2  # stream-wide times
    # Recognizer.transcribe runs the same loop: the same segments, in any chunking
    for chunk_seconds in (0.1, 0.37, 0.0):
        partials = []
        note = lambda result, closed, seen=partials: seen.append(closed)  # noqa: E731
        segments = rec.transcribe(audio, chunk_seconds=chunk_seconds, on_result=note)
        assert segments == [*ended, last] and sum(partials) == 2 and len(partials) > 10


@pytest.mark.parametrize("cmn", [False, True])
def test_a_pause_restarts_the_encoder(trained, tmp_path, cmn):
    """After a segment ends in a pause, the next one is decoded exactly as a new stream
    starting there would decode it, online mean normalisation included (all the audio arrives
    before any block is decoded, so the mean must restart where the encoder does)."""
    from transducer import checkpoint
    from transducer.recognizer import EndpointConfig

    paths, _ = trained
    path = paths["fullsum"]
    if cmn:
        ckpt = checkpoint.load(path)
        ckpt["config"]["features"].update(cmn_window=100, cmn_prior=20.0)
        save_atomic(ckpt, path := tmp_path / "cmn.pt")
    rng = np.random.default_rng(8)
    pause = (0.003 * rng.standard_normal(32000)).astype(np.float32)
    audio = np.concatenate([letter_audio("abc", rng), pause, letter_audio("cab", rng)])
    rec = Recognizer(path, endpoint=EndpointConfig(2.4, 1.2, 20.0))
    assert rec.features.cmn_window == (100 if cmn else 0)
    s = rec.create_stream()
    s.accept_waveform(16000, audio)
    s.input_finished()
    ended = [(r, s.segment_start) for r, closed in rec.decode_ready(s) if closed]
    [(first, start)] = ended
    fresh = rec.create_stream()
    fresh.accept_waveform(16000, audio[round(start * 16000) :])
    fresh.input_finished()
    for _ in rec.decode_ready(fresh):
        pass
    last, alone = rec.get_result(s), rec.get_result(fresh)
    assert first.text == "abc" and last.text == alone.text != ""
    assert last.timestamps == pytest.approx([t + start for t in alone.timestamps])


def test_digital_silence_after_a_pause_is_skipped(trained):
    """In a pause of exact zeros, the segment after the restart starts at the first block with
    sound: decoded as a new stream starting at that block would decode it, times included."""
    from transducer.features import fbank
    from transducer.recognizer import EndpointConfig

    paths, _ = trained
    rng = np.random.default_rng(8)
    audio = np.concatenate([letter_audio("abc", rng), np.zeros(40000, np.float32),
                            letter_audio("cab", rng)])  # fmt: skip
    rec = Recognizer(paths["fullsum"], endpoint=EndpointConfig(2.4, 1.2, 20.0))
    s = rec.create_stream()
    s.accept_waveform(16000, audio)
    s.input_finished()
    [(first, start)] = [(r, s.segment_start) for r, closed in rec.decode_ready(s) if closed]
    n = rec.frames_per_block
    sound = np.flatnonzero(~(fbank(audio) <= 1e-4).all(axis=1))  # frames not all at the floor
    b0 = sound[sound >= round(start * 100)][0] // n  # the first block with sound after it
    assert b0 * n > round(start * 100) + 2 * n  # whole blocks of zeros were skipped
    fresh = rec.create_stream()
    fresh.accept_waveform(16000, audio[b0 * n * 160 :])
    fresh.input_finished()
    for _ in rec.decode_ready(fresh):
        pass
    last, alone = rec.get_result(s), rec.get_result(fresh)
    assert first.text == "abc" and last.text == alone.text != ""
    assert last.timestamps == pytest.approx([t + b0 * n / 100 for t in alone.timestamps])


def test_demo_stream_prints_partials_segments_and_rtf(trained, tmp_path):
    import io

    import soundfile as sf

    from demo.stream import run

    paths, audio = trained
    sf.write(tmp_path / "words.wav", audio, 16000)
    out = io.StringIO()
    result = run(tmp_path / "words.wav", Recognizer(paths["fullsum"]), out=out)
    text = out.getvalue()
    assert result["text"] and text.count("\r") > 3  # the partial line was redrawn
    assert f"] {result['text']}\n" in text and "real-time factor" in text


def test_an_unknown_backend_is_named():
    with pytest.raises(ValueError, match="backend must be one of .*got 'int8'"):
        Recognizer(backend="int8")


def test_default_model_is_named_when_missing(monkeypatch, tmp_path):
    from transducer import recognizer

    with pytest.raises(ValueError, match="int8 ONNX graphs only"):
        Recognizer(backend="onnx")  # the shipped export has no fp32 graphs
    monkeypatch.setattr(recognizer, "DEFAULT_EXPORT", tmp_path / "onnx")
    with pytest.raises(FileNotFoundError, match=r"no default model at .*onnx"):
        Recognizer()
    monkeypatch.setattr(recognizer, "DEFAULT_MODEL", tmp_path / "model.pt")
    with pytest.raises(FileNotFoundError, match=r"no default model at .*model\.pt"):
        Recognizer(backend="torch")


def test_bad_decoding_settings_are_named(models, tmp_path):
    from transducer.recognizer import read_decoding

    for text in ("{", '{"beam": -1}', '{"beams": 8}', "[]"):
        (tmp_path / "decoding.json").write_text(text)
        with pytest.raises(ValueError, match="decoding.json: not a decoding config"):
            read_decoding(tmp_path / "decoding.json")
    with pytest.raises(ValueError, match="LSTM attention reads blocks of its own width 3, not 4"):
        Recognizer(models["paper"], block_width=4)


def test_the_decoding_config_sets_the_default_beam(trained, tmp_path):
    """A checkpoint whose decoding config says beam=3 decodes with beam 3 unless told
    otherwise; so does one from before decoding configs that said it in its model config."""
    from transducer import checkpoint

    paths, audio = trained
    ckpt = checkpoint.load(paths["fullsum"])
    assert "decoding" not in ckpt["config"] and "beam" not in ckpt["config"]["model"]
    save_atomic({**ckpt, "config": {**ckpt["config"], "decoding": {"beam": 3, "block_width": 4}}},
                tmp_path / "beam3.pt")  # fmt: skip
    ckpt["config"]["model"]["beam"] = 3
    save_atomic(ckpt, tmp_path / "old.pt")
    rec = Recognizer(tmp_path / "beam3.pt", endpoint=_no_endpoints())
    assert (rec.beam, rec.W) == (3, 4) and Recognizer(paths["fullsum"]).beam == 0
    assert Recognizer(tmp_path / "old.pt").beam == 3
    assert Recognizer(tmp_path / "beam3.pt", beam=0).beam == 0
    rec = Recognizer(tmp_path / "old.pt", endpoint=_no_endpoints())
    assert stream_tokens(rec, audio).tokens == offline(rec, audio, beam=3)[0]


def test_backend_and_precision_are_separate_options(models):
    from transducer.config import backend_kind

    assert backend_kind("numba", int8=True) == backend_kind("numba-int8") == "numba-int8"
    assert backend_kind("onnx") == "onnx" and backend_kind("onnx-int8", int8=True) == "onnx-int8"
    with pytest.raises(ValueError, match="not torch"):
        Recognizer(models["fullsum"], backend="torch", int8=True)
    with pytest.raises(ValueError, match="backend must be one of"):
        backend_kind("cuda")
    apart = Recognizer(models["fullsum"], backend="numba", int8=True)
    short = Recognizer(models["fullsum"], backend="numba-int8")
    assert stream_tokens(apart, AUDIO) == stream_tokens(short, AUDIO)
