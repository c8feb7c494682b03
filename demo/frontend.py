"""Stream a file through the feature front end in 100 ms pieces, as the recognizer will.

    python -m demo.frontend [FILE]

Until a default model ships (issue #6) this shows the streaming front end: audio in any
chunking becomes log-mel frames the moment each 25 ms window is complete.
"""

import argparse
import time
from pathlib import Path

import numpy as np

from transducer.audio import read_audio
from transducer.features import StreamingFbank, fbank

SAMPLE = Path(__file__).with_name("sample.wav")
LEVELS = " ▁▂▃▄▅▆▇█"


def bar(feats: np.ndarray) -> str:
    """One character per 10 ms frame: its loudness (mean log-mel) on a 9-step scale."""
    level = np.clip((feats.mean(axis=1) - 2.0) / 16.0, 0, 0.999)
    return "".join(LEVELS[int(v * len(LEVELS))] for v in level)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=SAMPLE)
    args = parser.parse_args()
    samples = read_audio(args.file)
    transcript = args.file.with_suffix(".txt")
    if transcript.exists():
        print(f"reference: {transcript.read_text().strip()}")
    extractor, frames, start = StreamingFbank(), [], time.perf_counter()
    for i in range(0, len(samples), 1600):  # 100 ms pieces
        new = extractor.accept(samples[i : i + 1600])
        frames.append(new)
        print(f"{(i + 1600) / 16000:5.1f} s  +{len(new):2d} frames  {bar(new)}")
    elapsed = time.perf_counter() - start
    streamed = np.concatenate(frames)
    same = np.abs(streamed - fbank(samples)).max()
    print(
        f"{len(streamed)} frames from {len(samples) / 16000:.2f} s of audio, "
        f"real-time factor {elapsed / (len(samples) / 16000):.4f}, "
        f"max difference from whole-file features {same:.1e}"
    )
    print(
        "No default model is shipped yet (issue #6); with one you trained, "
        "`transducer transcribe --model RUN/best.pt --stream FILE` transcribes as it streams."
    )


if __name__ == "__main__":
    main()
