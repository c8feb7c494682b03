"""JSONL manifests: one utterance a line.

    {"id": "a-1", "audio": "wavs/a-1.wav", "duration": 2.3, "text": "hi", "speaker": "flite/awb"}

`audio` may be relative to the manifest's folder. `duration` is how much audio is read, from
`offset` (seconds, default 0), so one file can hold several utterances as Kaldi's `segments` do.
"""

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from transducer.audio import read_audio

REQUIRED = {"id": str, "audio": str, "duration": (int, float), "text": str, "speaker": str}


class ManifestError(ValueError):
    """A malformed manifest line; the message gives the file and line number."""


@dataclass(frozen=True)
class Utterance:
    id: str
    audio: str  # absolute once read; written relative to the manifest where possible
    duration: float  # seconds
    text: str  # spoken form (see transducer.text.normalize)
    speaker: str  # for synthetic speech: engine/voice, e.g. "espeak/en-us+m3"
    offset: float = 0.0  # seconds into `audio` where the utterance starts

    @property
    def engine(self) -> str:
        """The speaker's TTS engine: "espeak" of "espeak/en-us+m3"."""
        return self.speaker.split("/")[0]


def read_utterance(utt: Utterance) -> np.ndarray:
    """16 kHz mono float32 samples of `utt`: `duration` seconds from `offset`."""
    return read_audio(utt.audio, utt.offset, utt.duration)


def parse_line(line: str, where: str, root: Path) -> Utterance:
    """One JSON line -> Utterance; `where` ("file:line") prefixes every error."""
    try:
        d = json.loads(line)
    except json.JSONDecodeError as e:
        raise ManifestError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from e
    if not isinstance(d, dict):
        raise ManifestError(f"{where}: expected a JSON object, got {type(d).__name__}")
    for key, kind in REQUIRED.items():
        if key not in d:
            raise ManifestError(f"{where}: missing field {key!r}")
        if not isinstance(d[key], kind) or isinstance(d[key], bool):
            raise ManifestError(f"{where}: field {key!r} has wrong type: {d[key]!r}")
    offset = d.get("offset", 0.0)
    if not isinstance(offset, (int, float)) or offset < 0:
        raise ManifestError(f"{where}: field 'offset' must be a number >= 0, got {offset!r}")
    if d["duration"] <= 0:
        raise ManifestError(f"{where}: field 'duration' must be > 0, got {d['duration']!r}")
    audio = Path(d["audio"]) if os.path.isabs(d["audio"]) else root / d["audio"]
    return Utterance(
        d["id"], str(audio), float(d["duration"]), d["text"], d["speaker"], float(offset)
    )


def read_manifest(path: str | Path) -> list[Utterance]:
    """Read every line; a malformed line raises ManifestError naming file and line number."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest")
    utts, seen = [], set()
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            utt = parse_line(line, f"{path}:{lineno}", path.parent)
            if utt.id in seen:
                raise ManifestError(f"{path}:{lineno}: duplicate id {utt.id!r}")
            seen.add(utt.id)
            utts.append(utt)
    return utts


def write_manifest(path: str | Path, utts) -> None:
    """Write atomically (temp file, then rename); audio paths relative to the manifest's folder."""
    path = Path(path)
    root = path.parent.resolve()
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for utt in utts:
            d = asdict(utt)
            d["audio"] = _relative(Path(utt.audio), root)
            if not d["offset"]:
                del d["offset"]
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    tmp.replace(path)


def _relative(audio: Path, root: Path) -> str:
    audio = audio.resolve()
    return str(audio.relative_to(root)) if audio.is_relative_to(root) else str(audio)
