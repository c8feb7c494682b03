import json

import numpy as np
import pytest

from transducer.cli import main
from transducer.data.importers import import_kaldi, import_librispeech
from transducer.data.manifest import (
    ManifestError,
    Utterance,
    read_manifest,
    read_utterance,
    write_manifest,
)


def test_roundtrip_relative_paths(tmp_path):
    (tmp_path / "wavs").mkdir()
    utts = [
        Utterance("a", str(tmp_path / "wavs/a.wav"), 1.5, "hello", "flite/awb"),
        Utterance("b", "/elsewhere/b.wav", 2.0, "world", "espeak/en-us+m3", offset=0.25),
    ]
    write_manifest(tmp_path / "m.jsonl", utts)
    lines = [json.loads(x) for x in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert lines[0]["audio"] == "wavs/a.wav" and "offset" not in lines[0]
    assert lines[1]["audio"] == "/elsewhere/b.wav" and lines[1]["offset"] == 0.25
    assert read_manifest(tmp_path / "m.jsonl") == utts


GOOD = '{"id": "a", "audio": "a.wav", "duration": 1.0, "text": "hi", "speaker": "x/y"}'


@pytest.mark.parametrize(
    "bad,message",
    [
        ('{"id": "b", "audio": "b.wav"', "not valid JSON"),
        ('["a"]', "expected a JSON object"),
        ('{"id": "b", "audio": "b.wav", "duration": 1, "text": "x"}', "missing field 'speaker'"),
        (
            '{"id": "b", "audio": "b.wav", "duration": "1", "text": "x", "speaker": "s"}',
            "'duration' has wrong type",
        ),
        (
            '{"id": "b", "audio": "b.wav", "duration": -1, "text": "x", "speaker": "s"}',
            "must be > 0",
        ),
        (
            '{"id": "b", "audio": "b.wav", "duration": 1, "text": "x", "speaker": "s", '
            '"offset": -2}',
            "offset",
        ),
        (GOOD, "duplicate id 'a'"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, bad, message):
    path = tmp_path / "m.jsonl"
    path.write_text(GOOD + "\n\n" + bad + "\n")
    with pytest.raises(ManifestError, match=f"m.jsonl:3: .*{message}"):
        read_manifest(path)


def test_missing_manifest(tmp_path):
    with pytest.raises(ManifestError, match="no such manifest"):
        read_manifest(tmp_path / "nope.jsonl")


def _tone(seconds, sr=16000):
    return (0.1 * np.sin(np.arange(int(seconds * sr)) * 0.05)).astype(np.float32)


def test_librispeech_importer(tmp_path, write_wav):
    chapter = tmp_path / "ls" / "19" / "198"
    chapter.mkdir(parents=True)
    for k, secs in enumerate([1.0, 0.5]):
        (chapter / f"19-198-000{k}.flac").write_bytes(
            write_wav(f"x{k}.flac", _tone(secs)).read_bytes()
        )
    (chapter / "19-198.trans.txt").write_text(
        "19-198-0000 HELLO WORLD\n19-198-0001 IT'S 2 O'CLOCK\n"
    )
    utts = import_librispeech(tmp_path / "ls")
    assert [(u.id, u.text, u.speaker, u.duration) for u in utts] == [
        ("19-198-0000", "hello world", "librispeech/19", 1.0),
        ("19-198-0001", "it's two o'clock", "librispeech/19", 0.5),
    ]
    (chapter / "19-198.trans.txt").write_text("19-198-0009 MISSING\n")
    with pytest.raises(ManifestError, match="trans.txt:1: audio 19-198-0009.flac not found"):
        import_librispeech(tmp_path / "ls")
    with pytest.raises(ManifestError, match="not a LibriSpeech"):
        import_librispeech(tmp_path)


def test_kaldi_importer_with_segments(tmp_path, write_wav):
    d = tmp_path / "kaldi"
    d.mkdir()
    rec = write_wav("rec.wav", _tone(3.0), subtype="FLOAT")
    (d / "wav.scp").write_text(f"rec1 {rec}\n")
    (d / "segments").write_text("u1 rec1 0.0 1.0\nu2 rec1 1.5 3.0\n")
    (d / "text").write_text("u1 FIRST part\nu2 second PART 2\n")
    (d / "utt2spk").write_text("u1 spk\nu2 spk\n")
    utts = import_kaldi(d)
    assert [(u.id, u.text, u.offset, u.duration, u.speaker) for u in utts] == [
        ("u1", "first part", 0.0, 1.0, "kaldi/spk"),
        ("u2", "second part two", 1.5, 1.5, "kaldi/spk"),
    ]
    assert len(read_utterance(utts[0])) == 16000  # a segment at offset 0 is still a segment
    np.testing.assert_allclose(
        read_utterance(utts[1]),
        _tone(3.0)[24000:48000],
        atol=1e-6,
    )
    # Through the CLI: manifest written, segments survive the round trip.
    main(["data", "import", "kaldi", str(d), "--out", str(tmp_path / "k.jsonl")])
    assert read_manifest(tmp_path / "k.jsonl")[1].offset == 1.5


def test_kaldi_importer_errors(tmp_path, write_wav):
    d = tmp_path / "kaldi"
    d.mkdir()
    with pytest.raises(ManifestError, match="missing wav.scp"):
        import_kaldi(d)
    (d / "wav.scp").write_text("r1 sox in.wav -t wav - |\n")
    (d / "text").write_text("r1 hi\n")
    with pytest.raises(ManifestError, match="piped commands"):
        import_kaldi(d)
    (d / "wav.scp").write_text(f"r1 {write_wav('r.wav', _tone(1.0))}\n")
    (d / "text").write_text("r2 hi\n")
    with pytest.raises(ManifestError, match="no transcript for 'r1'"):
        import_kaldi(d)
