"""Real training speech from the voice acting of freeware talkie games in Debian main.

`flight-of-the-amazon-queen` (FOTAQ, CD version): queen.1c is a table of named entries. Its
dialogue files (*.DOG) hold each line's subtitle text; a line is spoken as segments split at its
"*" stage directions, and segment k of a line is the speech clip PREFIX + hex(k), a ".SB" entry
(MP3 here). PREFIX is the dialogue's talk key and the line's id, then "P" (the other person) or
"J" (Joe, the hero). Clips are read at preparation time and never shipped.

The formats were learnt from ScummVM's engines/queen (GPL); this reader is written afresh.
"""

import re
import struct
from pathlib import Path

from transducer.data.importers import _duration, decode_with_ffmpeg
from transducer.data.manifest import ManifestError, Utterance
from transducer.text import normalize

FOTAQ = Path("/usr/share/scummvm/flight-of-the-amazon-queen/queen.1c")
# Characters held out of training as the in-domain real dev set (322 clips; Joe, the hero, who
# speaks in every conversation, trains). Actors may voice more than one character.
FOTAQ_DEV = ("fotaq/klunk", "fotaq/naomi", "fotaq/tam")
DOG_HEADER = 20  # bytes before a dialogue file's data
# A stage direction: "*" and two letters or digits, or "*XY" with a position, "*XY00(237,112)".
DIRECTION = re.compile(r"\*(?:XY\d\d\(\d+,\d+\)|..)", re.DOTALL)


class QueenResources:
    """queen.1c: "QTBL", version, compression, then a table of (name, bundle, offset, size)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            with open(self.path, "rb") as f:
                head = f.read(15)
                if len(head) < 15 or head[:4] != b"QTBL":
                    raise ManifestError(f"{path}: not a rebuilt FOTAQ resource file (no QTBL)")
                (n,) = struct.unpack(">H", head[13:15])
                table = f.read(21 * n)
        except OSError as e:
            raise ManifestError(f"{path}: cannot read ({e.strerror})") from e
        if len(table) < 21 * n:
            raise ManifestError(f"{path}: truncated table ({len(table)} of {21 * n} bytes)")
        self.entries = {}
        for i in range(n):
            row = table[21 * i : 21 * (i + 1)]
            offset, size = struct.unpack(">II", row[13:21])
            self.entries[row[:12].rstrip(b"\0").decode("ascii")] = (offset, size)

    def read(self, name: str, skip: int = 0) -> bytes:
        offset, size = self.entries[name]
        with open(self.path, "rb") as f:
            f.seek(offset + skip)
            data = f.read(size - skip)
        if len(data) != size - skip:
            raise ManifestError(f"{self.path}: entry {name} runs past the end of the file")
        return data


def _string(data: bytes, at: int, align: int) -> tuple[str, int]:
    """A length-prefixed string at `at` -> (text, where the next field starts, aligned)."""
    n = data[at]
    text = data[at + 1 : at + 1 + n].decode("latin-1")
    return text, (at + 1 + n + align - 1) & ~(align - 1) if n else at + 1


def dialogue_lines(dog: bytes) -> dict[str, str]:
    """A dialogue file's spoken lines: {voice prefix: subtitle text}."""
    be16 = lambda at: struct.unpack(">h", dog[at : at + 2])[0]  # noqa: E731
    levels, talk_key, n_joe, n_person = abs(be16(0)), be16(4), be16(6), be16(8)
    person, second = be16(22) & 0xFFFF, be16(26) & 0xFFFF
    key = f"{talk_key:02d}"
    lines = {}

    def walk(at: int, count: int, who: str) -> None:
        for _ in range(count):
            line_id = be16(at + 2) & 0xFFFF
            text, at = _string(dog, at + 4, 4)
            lines[f"{key}{line_id:04X}{who}"] = text

    walk(person, n_person, "P")
    joe = 32 + levels * 96  # after the dialogue tree: 6 nodes of 16 bytes per level
    walk(joe, n_joe, "J")
    if not be16(joe + 2):  # Joe's opening line
        lines[f"{key}SSSSJ"] = _string(dog, joe + 4, 2)[0]
    text, at = _string(dog, second, 2)  # the lines of a second conversation
    lines[f"{key}XXXXP"], lines[f"{key}XXXXJ"] = text, _string(dog, at, 2)[0]
    return lines


def segments(prefix: str, text: str) -> list[tuple[str, str]]:
    """A line's spoken segments: [(clip name, text)], split at its stage directions."""
    parts = DIRECTION.split(text)
    return [(f"{prefix}{k + 1:X}.SB", part) for k, part in enumerate(parts) if part.strip()]


def fotaq_text(subtitle: str) -> str:
    """Spoken form of a subtitle: sound descriptions (<gulp>) and the trademark sign (^_)
    dropped, CAPS (emphasis) lowered."""
    return normalize(re.sub(r"<[^>]*>", " ", subtitle).replace("^_", ""))


def fotaq_clips(resources: QueenResources) -> list[tuple[str, str, str]]:
    """Every speech clip with a subtitle: [(clip name, spoken text, speaker)]."""
    clips = {}
    for dog in sorted(name for name in resources.entries if name.endswith(".DOG")):
        character = re.sub(r"\d+$", "", dog[: -len(".DOG")]).lower()
        for prefix, line in dialogue_lines(resources.read(dog, DOG_HEADER)).items():
            speaker = "fotaq/joe" if prefix.endswith("J") else f"fotaq/{character}"
            for clip, part in segments(prefix, line):
                text = fotaq_text(part)
                if text and clip in resources.entries:
                    clips[clip] = (clip, text, speaker)
    return list(clips.values())


def import_fotaq(out: str | Path, path: Path = FOTAQ, limit: int | None = None) -> list[Utterance]:
    """The FOTAQ clips with spoken subtitles (3,978 of its 6,745), decoded into OUT/wavs/
    (mono, 11,025 Hz); speaker "fotaq/<character>" ("fotaq/joe" for the hero)."""
    resources = QueenResources(path)
    out, utts = Path(out), []
    for clip, text, speaker in fotaq_clips(resources)[:limit]:
        wav = out / "wavs" / f"{clip[: -len('.SB')].lower()}.wav"
        if not wav.is_file():
            mp3 = wav.with_suffix(".mp3")
            mp3.parent.mkdir(parents=True, exist_ok=True)
            mp3.write_bytes(resources.read(clip))
            try:
                decode_with_ffmpeg(mp3, wav, ["-f", "mp3"])
            finally:
                mp3.unlink()
        utts.append(Utterance(f"fotaq-{wav.stem}", str(wav.resolve()), _duration(wav), text,
                              speaker))  # fmt: skip
    return utts
