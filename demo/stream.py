"""Live streaming transcription of a file: partial text on one line, finished segments below.

    python -m demo.stream [FILE] [--model M] [--realtime] [--backend numba|torch|onnx-int8]

The file goes through a `Stream` in 100 ms pieces (at real-time pace with --realtime), as a
microphone would deliver it; the partial result is redrawn after every decoded block, each
segment the endpointer closes is printed with its start and end times, and the run ends with
the real-time factor.
"""

import argparse
import sys
import time
from pathlib import Path

from transducer.audio import read_audio_raw
from transducer.config import BACKEND_NAMES
from transducer.recognizer import SAMPLE, Recognizer, Result

CHUNK_SECONDS = 0.1


def segment_line(result: Result) -> str:
    times = result.timestamps
    span = f"{times[0]:6.2f} - {times[-1]:6.2f} s" if times else "      (silence)   "
    return f"[{span}] {result.text}"


class LiveText:
    """Decodes a stream's ready blocks and shows them: the partial text redrawn on one line,
    each segment the endpointer closes printed on its own line with its times."""

    def __init__(self, recognizer: Recognizer, stream, out=sys.stdout):
        self.rec, self.stream, self.out, self.width = recognizer, stream, out, 0

    def _draw(self, line: str, end: str = "") -> None:
        self.out.write("\r" + line + " " * max(0, self.width - len(line)) + end)
        self.out.flush()
        self.width = 0 if end else len(line)

    def update(self) -> None:
        for result, closed in self.rec.decode_ready(self.stream):
            if closed:
                self._draw(segment_line(result), "\n")
            else:
                self._draw(result.text[-100:])

    def finish(self) -> Result:
        """After input_finished(): decode the rest, print the last segment, return it."""
        self.update()
        final = self.rec.get_result(self.stream)
        if not self.rec.is_endpoint(self.stream):  # else update() has printed it
            self._draw(segment_line(final), "\n")
        return final


def run(path: Path, recognizer: Recognizer, realtime: bool = False, out=sys.stdout) -> dict:
    """Stream `path`; returns the final result plus the real-time factor."""
    samples, rate = read_audio_raw(path)
    stream = recognizer.create_stream()
    live = LiveText(recognizer, stream, out)
    chunk = max(1, int(rate * CHUNK_SECONDS))
    start, busy = time.perf_counter(), 0.0
    for i in range(0, len(samples), chunk):
        began = time.perf_counter()
        stream.accept_waveform(rate, samples[i : i + chunk])
        live.update()
        busy += time.perf_counter() - began
        if realtime:  # wait until this piece would have finished arriving
            time.sleep(max(0.0, start + (i + chunk) / rate - time.perf_counter()))
    began = time.perf_counter()
    stream.input_finished()
    final = live.finish()
    busy += time.perf_counter() - began
    rtf = busy / (len(samples) / rate)
    out.write(f"real-time factor {rtf:.4f} ({len(samples) / rate:.1f} s of audio)\n")
    return {**final.to_dict(), "rtf": rtf}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=SAMPLE)
    parser.add_argument("--model", help="checkpoint or export folder (default: the shipped model)")
    parser.add_argument("--backend", choices=BACKEND_NAMES, default="numba")
    parser.add_argument("--realtime", action="store_true", help="feed audio at real-time pace")
    args = parser.parse_args(argv)
    run(args.file, Recognizer(args.model, backend=args.backend), args.realtime)


if __name__ == "__main__":
    main()
