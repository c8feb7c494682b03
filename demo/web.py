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

It binds 127.0.0.1 unless told otherwise. A bad or idle client gets an error and is disconnected
while everyone else is served on: it limits concurrent streams, frame size, the pace of audio
(a session must bring `min_audio_seconds` of audio in every `window_seconds` of wall time, so
clients that trickle bytes cannot hold the slots) and a session's length (`max_seconds`, after
which it ends as if the client had said "Done"). A WebSocket whose `Origin` is not the page's
own (same host and port) is refused with 403, unless `--allow-origin` names it; clients that
send no `Origin` (not browsers) are served. HTTP methods other than GET and HEAD get 405.
Decoding runs on worker threads: the event loop only moves bytes.
"""

import argparse
import asyncio
import dataclasses
import json
import logging
import threading
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from transducer.config import BACKEND_NAMES
from transducer.recognizer import Recognizer, Result, transcript

STATIC = Path(__file__).with_name("static")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
log = logging.getLogger("demo.web")


@dataclasses.dataclass(frozen=True)
class Limits:
    max_streams: int = 8  # concurrent WebSocket streams; more are refused (close code 1013)
    max_frame_bytes: int = 256_000  # 1 s of float32 audio at 64 kHz; larger frames: code 1009
    window_seconds: float = 5.0  # in every such window of wall time a stream must bring ...
    min_audio_seconds: float = 0.5  # ... this much audio, or it is closed (code 1008)
    max_seconds: float = 3600.0  # a session's wall time; then it ends as after "Done"
    allow_origins: tuple[str, ...] = ()  # Origins accepted besides the page's own; "*": any

    def __post_init__(self):
        if not 0 <= self.min_audio_seconds <= self.window_seconds:
            raise ValueError(f"min audio {self.min_audio_seconds} s per window of "
                             f"{self.window_seconds} s: needs 0 <= min <= window")  # fmt: skip


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


class Pace:
    """One session's clock: audio per window of wall time, and the session's length."""

    def __init__(self, limits: Limits, now: float):
        self.limits, self.start, self.window_start, self.window_audio = limits, now, now, 0.0

    def check(self, now: float) -> None:
        """ClientError if a whole window has passed with too little audio."""
        limits = self.limits
        while now - self.window_start >= limits.window_seconds:
            if self.window_audio < limits.min_audio_seconds:
                got = f"{self.window_audio:.2f} s of audio" if self.window_audio else "no audio"
                raise ClientError(f"{got} in {limits.window_seconds:g} s; at least "
                                  f"{limits.min_audio_seconds:g} s needed", 1008)  # fmt: skip
            self.window_start += limits.window_seconds
            self.window_audio = 0.0

    def add(self, seconds: float, now: float) -> None:
        self.check(now)
        self.window_audio += seconds

    def wait(self, now: float) -> float:
        """Seconds until the next check is due (the window's end or the session's)."""
        return min(self.window_start + self.limits.window_seconds, self.end) - now

    @property
    def end(self) -> float:
        return self.start + self.limits.max_seconds


def close_reason(text: str) -> str:
    """A WebSocket close reason: at most 123 bytes of UTF-8, cut at a character boundary."""
    return text.encode()[:123].decode(errors="ignore")


class TranscriptionServer:
    """The page's files over HTTP and one recognizer `Stream` per WebSocket connection."""

    def __init__(self, recognizer: Recognizer, limits: Limits = Limits()):
        self.rec, self.limits = recognizer, limits
        self.active = 0

    def http(self, connection: ServerConnection, request):
        """Serve `/` and the files of demo/static/ (GET, HEAD); `/ws` goes on to the WebSocket
        handshake if its Origin is allowed."""
        path = urlsplit(request.path).path
        if request.method not in ("GET", "HEAD") or (path == "/ws" and request.method != "GET"):
            response = connection.respond(405, "method not allowed\n")
            response.headers["Allow"] = "GET" if path == "/ws" else "GET, HEAD"
            return response
        if path == "/ws":
            origin = request.headers.get("Origin")
            if self._origin_allowed(origin, request.headers.get("Host")):
                return None
            log.info("%s: refused Origin %r", connection.remote_address, origin)
            return connection.respond(403, f"origin {origin} not allowed (see --allow-origin)\n")
        name = "index.html" if path == "/" else path.lstrip("/")
        file = STATIC / name
        if "/" in name or file.suffix not in CONTENT_TYPES or not file.is_file():
            response = connection.respond(404, "not found\n")
        else:
            response = connection.respond(200, file.read_text())
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = CONTENT_TYPES[file.suffix]
        if request.method == "HEAD":  # the GET's headers (Content-Length too), no body
            response = dataclasses.replace(response, body=b"")
        return response

    def _origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """A browser's page may open the socket only from this server's own origin (or one
        allowed); a client that sends no Origin is not a browser, so no page can forge it."""
        allowed = self.limits.allow_origins
        if origin is None or "*" in allowed or origin in allowed:
            return True
        return host is not None and origin in (f"http://{host}", f"https://{host}")

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
        loop = asyncio.get_running_loop()
        stream = await asyncio.to_thread(self.rec.create_stream)
        pace, segments, received, truncated = Pace(self.limits, loop.time()), [], 0, False
        while True:
            if loop.time() >= pace.end:
                truncated = True  # the session's time is up: end it as after "Done"
                break
            try:
                message = await asyncio.wait_for(ws.recv(), pace.wait(loop.time()))
            except TimeoutError:
                pace.check(loop.time())
                continue
            if message == "Done":
                break
            samples = parse_frame(message)
            pace.add(len(samples) / rate, loop.time())
            received += len(samples)
            segments += await self._decode(ws, stream, rate, samples)
        segments += await self._decode(ws, stream, rate, None)
        done = {
            "type": "done",
            "text": transcript(segments),
            "segments": [r.to_dict() for r in segments if r.text],
            "audio_seconds": received / rate,
            "truncated": truncated,
        }
        await ws.send(json.dumps(done))
        await ws.close()
        log.info("%s: %.2f s at %d Hz, %r", ws.remote_address, received / rate, rate, done["text"])

    async def _decode(self, ws: ServerConnection, stream, rate: int, samples) -> list[Result]:
        """Feed `samples` and decode the ready blocks on a worker thread, then send a result for
        each block; returns the segments that ended. `samples` None: the input is finished,
        and the segment still open is returned too (not sent: "done" carries it)."""

        def work() -> tuple[list[tuple[Result, bool]], list[Result]]:
            if samples is None:
                stream.input_finished()
            else:
                stream.accept_waveform(rate, samples)
            results = list(self.rec.decode_ready(stream))
            return results, self.rec.open_segment(stream) if samples is None else []

        try:
            results, still_open = await asyncio.to_thread(work)
        except ValueError as e:  # AudioError: NaN or infinity
            raise ClientError(str(e)) from None
        for result, closed in results:
            kind = "segment" if closed else "partial"
            await ws.send(json.dumps({"type": kind, **result.to_dict()}))
        return [result for result, closed in results if closed] + still_open


async def _close_with_error(ws: ServerConnection, error: ClientError) -> None:
    try:
        await ws.send(json.dumps({"type": "error", "message": str(error)}))
        await ws.close(error.code, close_reason(str(error)))
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
    parser.add_argument("--backend", choices=BACKEND_NAMES, default="numba")
    parser.add_argument("--max-streams", type=int, default=Limits.max_streams)
    parser.add_argument("--max-frame-bytes", type=int, default=Limits.max_frame_bytes)
    parser.add_argument("--window-seconds", type=float, default=Limits.window_seconds,
                        help="a stream must bring --min-audio-seconds of audio in every window "
                        "of this much wall time, or it is closed")  # fmt: skip
    parser.add_argument("--min-audio-seconds", type=float, default=Limits.min_audio_seconds)
    parser.add_argument("--max-seconds", type=float, default=Limits.max_seconds,
                        help="a session's wall time; then it ends as after 'Done'")  # fmt: skip
    parser.add_argument("--allow-origin", nargs="+", default=(), metavar="ORIGIN",
                        help="page origins (e.g. https://example.org) allowed to open the "
                        "WebSocket besides this server's own; '*' for any")  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        limits = Limits(args.max_streams, args.max_frame_bytes, args.window_seconds,
                        args.min_audio_seconds, args.max_seconds,
                        tuple(args.allow_origin))  # fmt: skip
    except ValueError as e:
        parser.error(str(e))
    server = TranscriptionServer(Recognizer(args.model, backend=args.backend), limits)

    def started(port: int) -> None:
        print(f"serving on http://{args.host}:{port} (WebSocket at /ws); Ctrl-C stops", flush=True)

    with suppress(KeyboardInterrupt):
        asyncio.run(serve_until(server, args.host, args.port, started, asyncio.Event()))


if __name__ == "__main__":
    main()
