"""Stream a file to `python -m demo.web` as the page would, and print the transcript.

    python -m demo.client FILE [--url ws://127.0.0.1:8000/ws] [--realtime]

Sends 100 ms binary frames of float32 samples at the file's own rate (`?sample_rate=`), then
"Done", and prints the server's final result as JSON. Importable: `stream_file` also reports,
for each partial result, how long after the last frame it arrived (the server's latency).
"""

import argparse
import asyncio
import json
import time
from pathlib import Path

import numpy as np
from websockets.asyncio.client import connect

from transducer.audio import read_audio_raw, to_mono

CHUNK_SECONDS = 0.1


async def stream_samples(
    url: str, samples: np.ndarray, rate: int, realtime: bool = False
) -> tuple[dict, list[float]]:
    """-> (the "done" message, seconds from each frame to the next result received)."""
    samples = to_mono(samples).astype("<f4")
    chunk = max(1, int(rate * CHUNK_SECONDS))
    latencies: list[float] = []
    sent_at: list[float | None] = [0.0]
    async with connect(f"{url}?sample_rate={rate}", max_size=None) as ws:

        async def receive() -> dict:
            async for message in ws:
                result = json.loads(message)
                if result["type"] == "partial" and sent_at[0] is not None:
                    latencies.append(time.perf_counter() - sent_at[0])
                elif result["type"] in ("done", "error"):
                    return result
            raise ConnectionError(f"closed without a final result ({ws.close_reason})")

        receiver = asyncio.create_task(receive())
        start = time.perf_counter()
        for i in range(0, len(samples), chunk):
            if realtime:  # send each piece when it would have finished arriving
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            sent_at[0] = time.perf_counter()
            await ws.send(samples[i : i + chunk].tobytes())
        sent_at[0] = None  # results after "Done" are the flush, not live latency
        await ws.send("Done")
        return await receiver, latencies


def stream_file(url: str, path: str | Path, realtime: bool = False) -> tuple[dict, list[float]]:
    samples, rate = read_audio_raw(path)
    return asyncio.run(stream_samples(url, samples, rate, realtime))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ws")
    parser.add_argument("--realtime", action="store_true", help="send at real-time pace")
    args = parser.parse_args(argv)
    final, _ = stream_file(args.url, args.file, args.realtime)
    print(json.dumps(final))


if __name__ == "__main__":
    main()
