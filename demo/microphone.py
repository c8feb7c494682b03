"""Live transcription from the microphone (the default input device, or --device).

    python -m demo.microphone [--model M] [--device N] [--seconds S] [--backend ...]

Audio arrives from PortAudio (`sounddevice`) in 100 ms pieces; the partial text is redrawn on
one line and each segment the endpointer closes is printed with its times. Ctrl-C stops.
"""

import argparse
import queue
import sys

from demo.stream import CHUNK_SECONDS, LiveText
from transducer.config import BACKEND_NAMES
from transducer.recognizer import Recognizer


class MicrophoneError(RuntimeError):
    """No usable input device (or no PortAudio); the message says what to do."""


def open_input(device=None, rate: int | None = None):
    """-> (sounddevice module, device, sample rate) of a usable input device."""
    try:
        import sounddevice as sd
    except ImportError as e:
        raise MicrophoneError("sounddevice is not installed: pip install sounddevice") from e
    except OSError as e:  # the PortAudio shared library is missing
        raise MicrophoneError(f"{e}: install PortAudio (apt-get install libportaudio2)") from e
    try:
        info = sd.query_devices(device, kind="input")
    except (ValueError, sd.PortAudioError) as e:
        raise MicrophoneError(
            f"no input device ({e}); plug in a microphone or pass --device"
        ) from e
    return sd, device, rate or int(info["default_samplerate"])


def run(recognizer: Recognizer, device=None, seconds: float | None = None, out=sys.stdout) -> dict:
    """Transcribe the microphone until Ctrl-C (or `seconds`); returns the last result."""
    sd, device, rate = open_input(device)
    pieces: queue.Queue = queue.Queue()

    def callback(indata, frames, time, status):  # PortAudio's thread: hand the audio over
        pieces.put(indata[:, 0].copy())

    stream = recognizer.create_stream()
    live = LiveText(recognizer, stream, out)
    heard = 0
    out.write(f"listening ({rate} Hz); Ctrl-C stops\n")
    blocksize = int(rate * CHUNK_SECONDS)
    with sd.InputStream(rate, blocksize, device, channels=1, dtype="float32", callback=callback):
        try:
            while seconds is None or heard < seconds * rate:
                samples = pieces.get()
                stream.accept_waveform(rate, samples)
                heard += len(samples)
                live.update()
        except KeyboardInterrupt:
            pass
    stream.input_finished()
    return live.finish()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint or export folder (default: the shipped model)")
    parser.add_argument("--backend", choices=BACKEND_NAMES, default="numba")
    parser.add_argument("--device", help="input device number or name (default: the system's)")
    parser.add_argument("--seconds", type=float, help="stop after this much audio")
    args = parser.parse_args(argv)
    device = int(args.device) if args.device and args.device.isdigit() else args.device
    try:
        open_input(device)  # say what is wrong before loading a model
        run(Recognizer(args.model, backend=args.backend), device, args.seconds)
    except MicrophoneError as e:
        sys.exit(f"demo.microphone: {e}")


if __name__ == "__main__":
    main()
