"""Load benchmark of the web demo's server: N clients streaming at real-time pace at once.

    python -m demo.loadtest [--clients 20] [--seconds 30] [--model M]

Starts `python -m demo.web` on a free port, gives each client its own recording (the bundled
sample at a different level, with pauses, looped to --seconds), streams them all at once in
100 ms frames at real-time pace, and prints JSON: whether every transcript equals what
`transducer transcribe` prints for that recording, whether the server heard every sample, the
server process's CPU use (share of one core over the run) and the result latency (time from a
frame's sending to the next result received; percentiles over all clients).
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf

from demo.client import stream_samples
from transducer.audio import read_audio
from transducer.recognizer import SAMPLE


def recording(seconds: float, gain: float, rate: int = 16000) -> np.ndarray:
    """The sample, then 1.5 s of quiet, repeated to `seconds`."""
    speech = read_audio(SAMPLE) * gain
    quiet = np.zeros(int(1.5 * rate), np.float32)
    piece = np.concatenate([speech, quiet])
    return np.tile(piece, int(np.ceil(seconds * rate / len(piece))))[: int(seconds * rate)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not listen on port {port} within {timeout:g} s")


def cli_transcripts(audio: list[np.ndarray], model_args: list[str]) -> list[str]:
    """What `transducer transcribe` prints for each recording."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"client{i:02d}.wav" for i in range(len(audio))]
        for path, samples in zip(paths, audio, strict=True):
            sf.write(str(path), samples, 16000, subtype="FLOAT")
        cli = subprocess.run(
            [sys.executable, "-m", "transducer.cli", "transcribe", "--json", *model_args,
             *map(str, paths)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    return [json.loads(line)["text"] for line in cli.stdout.splitlines()]


@contextmanager
def server_process(max_streams: int, model_args: list[str]):
    """`python -m demo.web` on a free port; yields (port, pid)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "demo.web", "--port", str(port), "--max-streams", str(max_streams),
         *model_args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(port, server)
        yield port, server.pid
    finally:
        server.terminate()
        server.wait(10)


def load_test(clients: int = 20, seconds: float = 30.0, model: str | None = None) -> dict:
    audio = [recording(seconds, float(g)) for g in np.linspace(0.5, 1.5, clients)]
    model_args = ["--model", model] if model else []
    expected = cli_transcripts(audio, model_args)
    with server_process(clients, model_args) as (port, pid):
        url = f"ws://127.0.0.1:{port}/ws"
        cpu_before, start = cpu_seconds(pid), time.perf_counter()

        async def everyone():
            return await asyncio.gather(*[stream_samples(url, a, 16000, True) for a in audio])

        results = asyncio.run(everyone())
        wall, cpu = time.perf_counter() - start, cpu_seconds(pid) - cpu_before
    latencies = np.concatenate([lat for _, lat in results]) * 1000
    heard = sum(done.get("audio_seconds", 0.0) for done, _ in results)
    correct = sum(done.get("text") == t for (done, _), t in zip(results, expected, strict=True))
    return {
        "clients": clients,
        "seconds_each": seconds,
        "all_transcripts_correct": correct == clients,
        "n_correct": correct,
        "samples_dropped": int(round((clients * seconds - heard) * 16000)),
        "wall_seconds": round(wall, 2),
        "server_cpu_seconds": round(cpu, 2),
        "server_cpu_share_of_one_core": round(cpu / wall, 3),
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 1),
        "latency_ms_p99": round(float(np.percentile(latencies, 99)), 1),
        "latency_ms_max": round(float(latencies.max()), 1),
        "n_results": len(latencies),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--model", help="checkpoint (default: the shipped model)")
    args = parser.parse_args(argv)
    print(json.dumps(load_test(args.clients, args.seconds, args.model)))


if __name__ == "__main__":
    main()
