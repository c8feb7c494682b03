"""A tiny LibriSpeech-format corpus from a synthetic one, for the recipe's --smoke run.

    python recipes/librispeech/smoke.py SYNTH_DIR OUT_DIR

SYNTH_DIR is a `transducer data synth --clean-eval` corpus; OUT_DIR gets train-clean-100 (its
train split), dev-clean (dev), test-clean (test) and test-other (test-noisy), each laid out as
LibriSpeech is: <speaker>/<chapter>/<speaker>-<chapter>-<NNNN>.flac and a
<speaker>-<chapter>.trans.txt of upper-case transcripts. Voices become numbered speakers, one
chapter each.
"""

import sys
from collections import defaultdict
from pathlib import Path

import soundfile as sf

from transducer.data.manifest import read_manifest, read_utterance

PARTS = {"train-clean-100": "train", "dev-clean": "dev", "test-clean": "test",
         "test-other": "test-noisy"}  # fmt: skip


def write_part(manifest: Path, out: Path, speakers: dict[str, int]) -> int:
    """The utterances of `manifest` in LibriSpeech's layout under `out`; their number."""
    by_speaker = defaultdict(list)
    for utt in read_manifest(manifest):
        by_speaker[speakers.setdefault(utt.speaker, 100 + len(speakers))].append(utt)
    for spk, utts in by_speaker.items():
        chapter = out / str(spk) / "1"
        chapter.mkdir(parents=True, exist_ok=True)
        lines = []
        for i, utt in enumerate(utts):
            name = f"{spk}-1-{i:04d}"
            sf.write(chapter / f"{name}.flac", read_utterance(utt), 16000)
            lines.append(f"{name} {utt.text.upper()}\n")
        (chapter / f"{spk}-1.trans.txt").write_text("".join(lines))
    return sum(len(u) for u in by_speaker.values())


def main(synth: Path, out: Path) -> None:
    speakers: dict[str, int] = {}
    for part, split in PARTS.items():
        n = write_part(synth / f"{split}.jsonl", out / part, speakers)
        print(f"{out / part}: {n} utterances")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
