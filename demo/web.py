"""Live transcription in a web page.

    python -m demo.web [--host 127.0.0.1] [--port 8000] [--model M] [--backend numba|onnx|...]

Open http://127.0.0.1:8000, press Start and speak. The page (demo/static/) captures the
microphone in an AudioWorklet and streams it over a WebSocket to /ws. The protocol is
sherpa-onnx's: binary frames of float32 little-endian mono samples (16 kHz, or the rate given as
`/ws?sample_rate=48000`), then the text "Done". The server answers with JSON text frames:

    {"type": "partial", "text", "tokens", "timestamps", "blocks", "segment", "is_final"}
        after every decoded block ("blocks": which block emitted each token)
    {"type": "segment", ...the same keys}  a segment the endpointer closed
    {"type": "done", "text": the whole transcript, "segments": [...], "audio_seconds": received}
        after "Done"; then it closes
    {"type": "error", "message": "..."}  then it closes the connection

It binds 127.0.0.1 unless told otherwise and limits concurrent streams, frame size and idle
time; a bad client gets an error and is disconnected while everyone else is served on.
"""

import argparse
import asyncio
import json
import logging
import threading
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from transducer.recognizer import BACKENDS, Recognizer, transcript

STATIC = Path(__file__).with_name("static")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
log = logging.getLogger("demo.web")
RESULT_KEYS = ("text", "tokens", "timestamps", "blocks", "segment", "is_final")


@dataclass(frozen=True)
class Limits:
    max_streams: int = 8  # concurrent WebSocket streams; more are refused (close code 1013)
    max_frame_bytes: int = 256_000  # 1 s of float32 audio at 64 kHz; larger frames: code 1009
    idle_seconds: float = 20.0  # a stream that sends nothing for this long is closed


class ClientError(ValueError):
    """What a client did wrong; sent back as {"type": "error"} before the connection closes."""

    def __init__(self, message: str, code: int = 1007):
        super().__init__(message)
        self.code = code


def parse_frame(message: bytes | str) -> np.ndarray:
    """A binary frame -> float32 samples; anything else is a ClientError."""
    if isinstance(message, str):
        raise ClientError(f'text frames must be "Done", got {message[:40]!r}', 1003)
    if len(message) % 4:
        raise ClientError(f"a binary frame of {len(message)} bytes is not float32 samples")
    return np.frombuffer(message, dtype="<f4")


def sample_rate_of(path: str) -> int:
    """The `sample_rate` query parameter of the WebSocket URL (default 16000)."""
    values = parse_qs(urlsplit(path).query).get("sample_rate", ["16000"])
    try:
        rate = int(values[0])
    except ValueError:
        rate = 0
    if not 8000 <= rate <= 192000:
        raise ClientError(f"sample_rate must be an integer in [8000, 192000], got {values[0]!r}")
    return rate


class TranscriptionServer:
    """The page's files over HTTP and one recognizer `Stream` per WebSocket connection."""

    def __init__(self, recognizer: Recognizer, limits: Limits = Limits()):
        self.rec, self.limits = recognizer, limits
        self.active = 0

    def http(self, connection: ServerConnection, request):
        """Serve `/` and the files of demo/static/; `/ws` goes on to the WebSocket handshake."""
        path = urlsplit(request.path).path
        if path == "/ws":
            return None
        name = "index.html" if path == "/" else path.lstrip("/")
        file = STATIC / name
        if "/" in name or file.suffix not in CONTENT_TYPES or not file.is_file():
            return connection.respond(404, "not found\n")
        response = connection.respond(200, file.read_text())
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = CONTENT_TYPES[file.suffix]
        return response

    async def handle(self, ws: ServerConnection) -> None:
        if self.active >= self.limits.max_streams:
            busy = f"server busy: {self.limits.max_streams} streams already; try again later"
            await _close_with_error(ws, ClientError(busy, 1013))
            return
        self.active += 1
        try:
            await self._transcribe(ws)
        except ClientError as e:
            await _close_with_error(ws, e)
        except ConnectionClosed:
            pass  # the client went away (or sent an oversized frame); its stream is dropped
        finally:
            self.active -= 1

    async def _transcribe(self, ws: ServerConnection) -> None:
        rate = sample_rate_of(ws.request.path)
        stream, segments, received = self.rec.create_stream(), [], 0
        while True:
            try:
                message = await asyncio.wait_for(ws.recv(), self.limits.idle_seconds)
            except TimeoutError:
                raise ClientError(f"no audio for {self.limits.idle_seconds:g} s", 1008) from None
            if message == "Done":
                break
            samples = parse_frame(message)
            received += len(samples)
            try:
                stream.accept_waveform(rate, samples)
            except ValueError as e:  # AudioError: NaN or infinity
                raise ClientError(str(e)) from None
            segments += await self._decode(ws, stream)
        stream.input_finished()
        segments += await self._decode(ws, stream)
        segments += self.rec.open_segment(stream)
        done = {
            "type": "done",
            "text": transcript(segments),
            "segments": [_public(r) for r in segments if r["text"]],
            "audio_seconds": received / rate,
        }
        await ws.send(json.dumps(done))
        await ws.close()
        log.info("%s: %.2f s at %d Hz, %r", ws.remote_address, received / rate, rate, done["text"])

    async def _decode(self, ws: ServerConnection, stream) -> list[dict]:
        """Decode the ready blocks, sending a result after each; returns the ended segments."""
        ended = []
        for result, closed in self.rec.decode_ready(stream):
            if closed:
                ended.append(result)
            kind = "segment" if closed else "partial"
            await ws.send(json.dumps({"type": kind, **_public(result)}))
            await asyncio.sleep(0)  # the other streams' turn between blocks
        return ended


def _public(result: dict) -> dict:
    return {k: result[k] for k in RESULT_KEYS}


async def _close_with_error(ws: ServerConnection, error: ClientError) -> None:
    try:
        await ws.send(json.dumps({"type": "error", "message": str(error)}))
        await ws.close(error.code, str(error)[:120])
    except ConnectionClosed:
        pass
    log.info("%s: closed (%d %s)", ws.remote_address, error.code, error)


async def serve_until(server: TranscriptionServer, host: str, port: int, started, stop) -> None:
    """Serve until the `stop` event; `started(port)` is called once listening."""
    async with serve(
        server.handle,
        host,
        port,
        process_request=server.http,
        max_size=server.limits.max_frame_bytes,
    ) as listener:
        started(listener.sockets[0].getsockname()[1])
        await stop.wait()


@contextmanager
def running(server: TranscriptionServer, host: str = "127.0.0.1", port: int = 0):
    """The server on a background thread (tests, benchmarks); yields the port it listens on."""
    loop, ready, box = asyncio.new_event_loop(), threading.Event(), {}
    stop = asyncio.Event()

    def started(bound: int) -> None:
        box["port"] = bound
        ready.set()

    thread = threading.Thread(
        target=loop.run_until_complete,
        args=(serve_until(server, host, port, started, stop),),
        daemon=True,
    )
    thread.start()
    if not ready.wait(30):
        raise RuntimeError(f"the server did not start on {host}:{port}")
    try:
        yield box["port"]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: local only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model", help="checkpoint or export folder (default: the shipped model)")
    parser.add_argument("--backend", choices=BACKENDS, default="numba")
    parser.add_argument("--max-streams", type=int, default=Limits.max_streams)
    parser.add_argument("--max-frame-bytes", type=int, default=Limits.max_frame_bytes)
    parser.add_argument("--idle-seconds", type=float, default=Limits.idle_seconds)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    limits = Limits(args.max_streams, args.max_frame_bytes, args.idle_seconds)
    server = TranscriptionServer(Recognizer(args.model, backend=args.backend), limits)

    def started(port: int) -> None:
        print(f"serving on http://{args.host}:{port} (WebSocket at /ws); Ctrl-C stops", flush=True)

    with suppress(KeyboardInterrupt):
        asyncio.run(serve_until(server, args.host, args.port, started, asyncio.Event()))


if __name__ == "__main__":
    main()
