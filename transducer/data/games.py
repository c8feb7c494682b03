"""Real training speech from the voice acting of freeware talkie games in Debian main.

`flight-of-the-amazon-queen` (FOTAQ, CD version): queen.1c is a table of named entries. Its
dialogue files (*.DOG) hold each line's subtitle text; a line is spoken as segments split at its
"*" stage directions, and segment k of a line is the speech clip PREFIX + hex(k), a ".SB" entry
(MP3 here). PREFIX is the dialogue's talk key and the line's id, then "P" (the other person) or
"J" (Joe, the hero). `beneath-a-steel-sky` (BASS): see SkyDisk and bass_lines below.
Clips are read at preparation time and never shipped.

The formats were learnt from ScummVM's engines/queen and engines/sky (GPL); these readers are
written afresh, and BASS's text tree is read from the installed ScummVM, not copied.
"""

import re
import struct
from pathlib import Path

import numpy as np

from transducer.data.importers import _duration, decode_with_ffmpeg
from transducer.data.manifest import ManifestError, Utterance
from transducer.data.rnc import unpack
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


# beneath-a-steel-sky (BASS, CD version 0.0372): sky.dnr indexes the files of sky.dsk; entry =
# number (16 bits), offset (23 bits; bit 23: offset in 16-byte units), size (22 bits; bit 23:
# stored whole, else a 22-byte header then, where its flag's bit 7 says so, RNC data). Text
# section s of English is file 60600 + s. Speech clips are files 50000 + SPEECH_BASE[s] + the
# line's index in its section: unsigned 8-bit mono at 11,025 Hz after the 22-byte header.
BASS = Path("/usr/share/scummvm/beneath-a-steel-sky")
SCUMMVM = Path("/usr/games/scummvm")
SPEECH_BASE = (0, 600, 1100, 2430, 3380, 4530, 5080, 5230)
BASS_HEADER = 22


class SkyDisk:
    """sky.dnr + sky.dsk: read(number) -> the file's bytes, unpacked where RNC-packed."""

    def __init__(self, folder: Path = BASS):
        self.dsk = Path(folder) / "sky.dsk"
        try:
            dnr = (Path(folder) / "sky.dnr").read_bytes()
        except OSError as e:
            raise ManifestError(f"{folder}: cannot read sky.dnr ({e.strerror})") from e
        n = int.from_bytes(dnr[:4], "little")
        if len(dnr) < 4 + 8 * n:
            raise ManifestError(f"{folder}/sky.dnr: truncated ({len(dnr)} bytes for {n} entries)")
        self.entries = {}
        for at in range(4, 4 + 8 * n, 8):
            offset, flags = (int.from_bytes(dnr[at + 2 : at + 5], "little"),
                             int.from_bytes(dnr[at + 5 : at + 8], "little"))  # fmt: skip
            if offset >> 23:
                offset = (offset & 0x7FFFFF) << 4
            number = int.from_bytes(dnr[at : at + 2], "little")
            self.entries[number] = (offset, flags & 0x3FFFFF, not flags >> 23)

    def read(self, number: int) -> bytes:
        offset, size, packed = self.entries[number]
        with open(self.dsk, "rb") as f:
            f.seek(offset)
            data = f.read(size)
        if len(data) != size:
            raise ManifestError(f"{self.dsk}: file {number} runs past the end")
        if packed and len(data) > BASS_HEADER and data[0] & 0x80:
            return data[:BASS_HEADER] + unpack(data[BASS_HEADER:])
        return data


def huffman_trees(binary: Path = SCUMMVM) -> list[np.ndarray]:
    """Candidate text trees: arrays of (left, right, character) nodes, root at 0, left child 1.

    The game's text is Huffman-coded with a tree that was in its DOS executable, not in its data
    files; ScummVM (which Debian's game package depends on) has the trees of every version
    compiled in. Found by shape: root (1, r, 0), node 1 (2, r', 0), every node reachable from the
    root a leaf (0, 0, c) or has two children, and no cycles."""
    try:
        b = np.fromfile(binary, np.uint8)
    except OSError as e:
        raise ManifestError(f"{binary}: cannot read ScummVM, which holds the text's tree") from e
    n = len(b) - 3 * 256
    shape = (b[:n] == 1) & (b[2 : n + 2] == 0) & (b[3 : n + 3] == 2) & (b[5 : n + 5] == 0)
    at = np.nonzero(shape)[0]
    trees = []
    for i in at:
        nodes = b[i : i + 3 * 256].reshape(-1, 3)
        seen, stack = set(), [0]
        while stack and len(seen) <= 255:
            p = stack.pop()
            if p in seen:
                break
            seen.add(p)
            left, right, _ = nodes[p]
            if left and right:
                stack += [left, right]
            elif left or right:
                break
        else:
            if len(seen) > 60:
                trees.append(nodes[: max(seen) + 1].copy())
    return trees


def sky_lines(section: bytes, tree: np.ndarray) -> dict[int, bytes]:
    """A text section's lines {index: text}. Header: the skip table's offset, the bits' offset,
    then the length of each block of 32 lines; the skip table gives each line's length. Lengths
    count 2-bit units (a byte over 127 counts 8 times its low 7 bits); bits come top first."""
    u16 = lambda at: int.from_bytes(section[at : at + 2], "little")  # noqa: E731
    skips, start = u16(0), u16(2)
    bits = np.unpackbits(np.frombuffer(section, np.uint8))
    lines, block = {}, 0
    for b in range((skips - 4) // 2 + 1):
        unit = block
        for k in range(32):
            if k:
                s = section[skips + 32 * b + k - 1]
                unit += (s & 0x7F) << 3 if s & 0x80 else s
            at, node, text = 8 * start + 2 * unit, 0, bytearray()
            while at < len(bits) and len(text) < 400:
                node = tree[node, 1 if bits[at] else 0]
                at += 1
                if not tree[node, 0] and not tree[node, 1]:
                    if not tree[node, 2]:
                        lines[32 * b + k] = bytes(text)
                        break
                    text.append(tree[node, 2])
                    node = 0
        if b < (skips - 4) // 2:
            block += u16(4 + 2 * b)
    return lines


WORD = re.compile(rb"(?:[A-Z]?[a-z]+|[A-Z]+)[.,!?']?")


def _wordiness(lines) -> int:
    """Words that look like words (one case, or capitalised, with a vowel) less those that
    do not: how a tree's reading of the text is judged."""
    words = [w for text in lines for w in text.split()]
    return sum(1 if WORD.fullmatch(w) and re.search(rb"[aeiouyAEIOUY]", w) else
               0 if WORD.fullmatch(w) else -1 for w in words)  # fmt: skip


def bass_lines(disk: SkyDisk, binary: Path = SCUMMVM) -> dict[int, bytes]:
    """Every English line by its speech file number (50000 + SPEECH_BASE[section] + index),
    read with the candidate tree whose reading looks most like words."""
    sections = [disk.read(60600 + s) for s in range(len(SPEECH_BASE))]
    read = lambda tree: [t for s in sections for t in sky_lines(s, tree).values()]  # noqa: E731
    try:
        best = max(huffman_trees(binary), default=None, key=lambda tree: _wordiness(read(tree)))
    except IndexError as e:  # a skip table or offset that points outside its section
        raise ManifestError(f"{disk.dsk}: a text section is damaged ({e})") from e
    if best is None:
        raise ManifestError(f"{binary}: no Huffman tree found (is it ScummVM?)")
    return {50000 + base + k: text for base, section in zip(SPEECH_BASE, sections, strict=True)
            for k, text in sky_lines(section, best).items()}  # fmt: skip


def import_bass(out: str | Path, folder: Path = BASS, binary: Path = SCUMMVM,
                limit: int | None = None) -> list[Utterance]:  # fmt: skip
    """The BASS speech clips with text (3,491 of its 3,650, 1.9 h), written to OUT/wavs/ (mono,
    11,025 Hz). Speaker "bass": who speaks a line is in the game's scripts, not read here."""
    import soundfile as sf

    disk = SkyDisk(folder)
    lines, out, utts = bass_lines(disk, binary), Path(out), []
    clips = sorted(n for n in disk.entries if 50000 <= n < 60000 and n in lines)
    for number in clips[:limit]:
        text = normalize(lines[number].decode("latin-1").replace("`", "'"))
        if not text:
            continue
        wav = out / "wavs" / f"{number}.wav"
        if not wav.is_file():
            pcm = np.frombuffer(disk.read(number)[BASS_HEADER:], np.uint8)
            wav.parent.mkdir(parents=True, exist_ok=True)
            sf.write(wav, (pcm.astype(np.float32) - 128) / 128, 11025, subtype="PCM_16")
        utts.append(Utterance(f"bass-{number}", str(wav.resolve()), _duration(wav), text, "bass"))
    return utts
