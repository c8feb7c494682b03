"""The demos: the web server (the CLI's transcript over a WebSocket, the page, limits, bad
clients, a real browser streaming a file through the page, load) and the microphone demo."""

import asyncio
import json
import re
import shutil
import time
import urllib.error
import urllib.request
from contextlib import suppress
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soundfile as sf
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from demo.client import stream_samples
from demo.web import Limits, TranscriptionServer, close_reason, running
from tests.helpers import letter_audio
from transducer.audio import resample
from transducer.cli import main
from transducer.recognizer import DEFAULT_MODEL, SAMPLE, Recognizer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def words_file(trained, tmp_path_factory):
    """Three toy words with 2-s pauses (three segments), at 22.05 kHz."""
    rng = np.random.default_rng(7)
    pause = (0.003 * rng.standard_normal(32000)).astype(np.float32)
    audio = np.concatenate([letter_audio("abc", rng), pause, letter_audio("cab", rng), pause,
                            letter_audio("bad", rng)])  # fmt: skip
    path = tmp_path_factory.mktemp("web") / "words.wav"
    sf.write(str(path), resample(audio, 16000, 22050), 22050, subtype="FLOAT")
    return path


@pytest.fixture(scope="module")
def cli_result(trained, words_file):
    """What `transducer transcribe --json` says of the file."""
    return _transcribe_json(words_file, "--model", str(trained[0]["fullsum"]))


@pytest.fixture(scope="module")
def server(trained):
    limits = Limits(
        max_streams=3, max_frame_bytes=64_000, window_seconds=1.0, min_audio_seconds=0.1
    )
    with running(TranscriptionServer(Recognizer(trained[0]["fullsum"]), limits)) as port:
        yield f"ws://127.0.0.1:{port}/ws", port


def _stream(url, path):
    samples, rate = sf.read(str(path), dtype="float32")
    return asyncio.run(stream_samples(url, samples, rate))


def test_client_gets_the_cli_transcript(server, words_file, cli_result):
    done, _ = _stream(server[0], words_file)
    assert done["type"] == "done" and done["text"] == cli_result["text"]
    # three toy words, 2-s pauses: at least three segments (the toy reads some noise as letters)
    assert len(done["segments"]) == len(cli_result["segments"]) >= 3
    for mine, cli in zip(done["segments"], cli_result["segments"], strict=True):
        assert {k: mine[k] for k in cli} == cli  # tokens and timestamps too
        assert len(mine["blocks"]) == len(mine["tokens"])
    assert done["audio_seconds"] == pytest.approx(sf.info(str(words_file)).duration)


def test_page_and_files(server):
    port = server[1]

    def get(path):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.headers["Content-Type"], response.read().decode()

    kind, page = get("/")
    assert kind.startswith("text/html") and "app.js" in page
    kind, script = get("/app.js")
    assert kind.startswith("text/javascript") and "sample_rate" in script
    assert "registerProcessor" in get("/worklet.js")[1]
    for missing in ("/nope.js", "/../web.py", "/%2e%2e/web.py", "/static/app.js"):
        with pytest.raises(urllib.error.HTTPError, match="404"):
            get(missing)


async def _misbehave(url, action) -> tuple[list[dict], int | None]:
    """Run one bad client; -> (JSON messages it got, close code)."""
    messages = []
    async with connect(
        url if action != "bad rate" else url + "?sample_rate=12", max_size=None
    ) as ws:
        try:
            if action == "odd bytes":
                await ws.send(b"\x00" * 4002)
            elif action == "text":
                await ws.send("hello")
            elif action == "nan":
                await ws.send(np.full(1600, np.nan, "<f4").tobytes())
            elif action == "oversized":
                await ws.send(np.zeros(40_000, "<f4").tobytes())
            elif action == "idle":
                pass
            elif action == "early disconnect":
                await ws.send(np.zeros(1600, "<f4").tobytes())
                return messages, None
            async for message in ws:
                messages.append(json.loads(message))
        except ConnectionClosed:
            pass
        return messages, ws.close_code


@pytest.mark.parametrize(
    "action,code,says",
    [
        ("odd bytes", 1007, "not float32"),
        ("text", 1003, "Done"),
        ("nan", 1007, "NaN"),
        ("oversized", 1009, None),
        ("idle", 1008, "no audio"),
        ("bad rate", 1007, "sample_rate"),
        ("early disconnect", None, None),
    ],
)
def test_a_bad_client_is_closed_and_others_are_served(
    server, words_file, cli_result, action, code, says
):
    url = server[0]
    messages, closed_with = asyncio.run(_misbehave(url, action))
    assert closed_with == code
    if says:
        assert messages[-1]["type"] == "error" and says in messages[-1]["message"]
    assert _stream(url, words_file)[0]["text"] == cli_result["text"]


def test_fuzzed_clients_never_take_the_server_down(server, words_file, cli_result):
    """40 clients of random frames (text, binary, unicode), rates (odd, invalid) and pace
    (trickling), 8 at a time, each bounded in time: every one gets an answer or a close, none
    hangs, and afterwards the server still reads the file right."""
    rng = np.random.default_rng(0)
    rates = ["16000", "44101", "8011", "192000", "7999", "abc", "1e9", ""]

    async def client(k: int) -> None:
        rate = rates[int(rng.integers(len(rates)))]
        origin = None if rng.random() < 0.8 else "http://evil.example"
        try:
            async with connect(f"{server[0]}?sample_rate={rate}", max_size=None,
                               origin=origin, open_timeout=5) as ws:  # fmt: skip
                for _ in range(int(rng.integers(1, 6))):
                    kind = rng.random()
                    if kind < 0.5:
                        await ws.send(rng.bytes(int(rng.integers(0, 80_000))))
                    elif kind < 0.7:
                        await ws.send((0.1 * rng.standard_normal(1600)).astype("<f4").tobytes())
                    elif kind < 0.85:
                        await ws.send("".join(map(chr, rng.integers(1, 0x1FFFF, 50))))
                    else:  # trickle
                        await ws.send(b"\0" * 4)
                        await asyncio.sleep(float(rng.uniform(0, 0.6)))
                if rng.random() < 0.5:
                    await ws.send("Done")
                async for _ in ws:
                    pass
        except (ConnectionClosed, InvalidStatus, OSError):
            pass  # refused or closed: what a bad client should get

    async def fuzz() -> None:
        for start in range(0, 40, 8):
            await asyncio.wait_for(asyncio.gather(*(client(k) for k in range(start, start + 8))),
                                   timeout=20)  # fmt: skip

    asyncio.run(fuzz())
    assert _stream(server[0], words_file)[0]["text"] == cli_result["text"]


def test_a_trickling_client_is_closed(server, words_file, cli_result):
    """A few bytes now and then, never enough audio: closed within two windows (1 s here)."""

    async def trickle():
        start = time.perf_counter()
        async with connect(server[0]) as ws:
            with pytest.raises(ConnectionClosed):
                for _ in range(50):
                    await ws.send(np.zeros(16, "<f4").tobytes())
                    await asyncio.sleep(0.2)
            return ws.close_code, ws.close_reason, time.perf_counter() - start

    code, reason, seconds = asyncio.run(trickle())
    assert code == 1008 and re.search(r"0\.0\d s of audio in 1 s", reason) and seconds < 2.5


def test_a_session_ends_at_max_seconds_with_its_transcript(trained, words_file):
    """A client streaming in real time past the 1-s cap gets the "done" of what came before."""
    samples, rate = sf.read(str(words_file), dtype="float32")
    server = TranscriptionServer(Recognizer(trained[0]["fullsum"]), Limits(max_seconds=1.0))

    async def run(url):
        async with connect(url + f"?sample_rate={rate}") as ws:
            received = asyncio.create_task(_all_messages(ws))
            with suppress(ConnectionClosed):
                for i in range(0, len(samples), rate // 10):
                    await ws.send(samples[i : i + rate // 10].tobytes())
                    await asyncio.sleep(0.1)
            return await received

    with running(server) as port:
        messages = asyncio.run(run(f"ws://127.0.0.1:{port}/ws"))
    done = messages[-1]
    assert done["type"] == "done" and done["truncated"]
    assert 0.8 < done["audio_seconds"] < 1.5  # what came before the second was up, kept


async def _all_messages(ws) -> list[dict]:
    return [json.loads(message) async for message in ws]


def test_origin_other_than_the_page_is_refused(server, words_file, cli_result):
    port = server[1]

    async def open_with(origin):
        async with connect(server[0], origin=origin) as ws:
            await ws.send("Done")
            return json.loads(await ws.recv())["type"]

    with pytest.raises(InvalidStatus, match="403"):
        asyncio.run(open_with("http://evil.example"))
    with pytest.raises(InvalidStatus, match="403"):
        asyncio.run(open_with(f"http://127.0.0.1:{port + 1}"))
    assert asyncio.run(open_with(f"http://127.0.0.1:{port}")) == "done"  # the page's own
    assert asyncio.run(open_with(None)) == "done"  # no Origin: not a browser
    wide = TranscriptionServer(None, Limits(allow_origins=("https://example.org",)))
    assert wide._origin_allowed("https://example.org", "127.0.0.1:8000")
    assert not wide._origin_allowed("https://example.com", "127.0.0.1:8000")
    assert TranscriptionServer(None, Limits(allow_origins=("*",)))._origin_allowed("null", None)


def test_a_unicode_close_reason_is_cut_by_bytes(server, words_file, cli_result):
    async def emoji():
        async with connect(server[0]) as ws:
            await ws.send("\U0001f600" * 40)
            with pytest.raises(ConnectionClosed):
                while True:
                    await ws.recv()
            return ws.close_code, ws.close_reason

    code, reason = asyncio.run(emoji())
    assert code == 1003 and 0 < len(reason.encode()) <= 123 and reason.startswith("text frames")
    assert close_reason("\U0001f600" * 40) == "\U0001f600" * 30  # 120 bytes: no half emoji
    assert _stream(server[0], words_file)[0]["text"] == cli_result["text"]


def test_methods_other_than_get_and_head_get_405(server):
    url = f"http://127.0.0.1:{server[1]}"

    def request(method, path="/"):
        with urllib.request.urlopen(urllib.request.Request(url + path, method=method)) as r:
            return r.status, r.headers, r.read()

    status, headers, body = request("HEAD")
    assert status == 200 and body == b""
    assert int(headers["Content-Length"]) == len(request("GET")[2]) > 0
    for method, path in (("POST", "/"), ("PUT", "/app.js"), ("DELETE", "/ws"), ("HEAD", "/ws")):
        with pytest.raises(urllib.error.HTTPError, match="405"):
            request(method, path)


def test_decoding_stays_off_the_event_loop(trained, words_file):
    """A slow decode (the first, made to take 1.5 s) holds up only its own stream: the page is
    served meanwhile. Before, decoding ran on the event loop thread and everyone waited."""
    rec = Recognizer(trained[0]["fullsum"])
    decode_ready, calls = rec.decode_ready, []

    def slow_once(stream):
        if not calls:
            time.sleep(1.5)
        calls.append(stream)
        return decode_ready(stream)

    rec.decode_ready = slow_once
    samples, rate = sf.read(str(words_file), dtype="float32")
    with running(TranscriptionServer(rec)) as port:

        async def both():
            slow = asyncio.create_task(stream_samples(f"ws://127.0.0.1:{port}/ws", samples, rate))
            await asyncio.sleep(0.3)
            start = time.perf_counter()
            await asyncio.to_thread(urllib.request.urlopen, f"http://127.0.0.1:{port}/", None, 10)
            page_seconds = time.perf_counter() - start
            slow.cancel()
            return page_seconds

        assert asyncio.run(both()) < 0.5


def test_streams_beyond_the_limit_are_refused(server, words_file, cli_result):
    async def crowd():
        held = [await connect(server[0]) for _ in range(3)]
        extra = await connect(server[0])
        message = json.loads(await extra.recv())
        with pytest.raises(ConnectionClosed):
            await extra.recv()
        for ws in held:
            await ws.close()
        return message, extra.close_code

    message, code = asyncio.run(crowd())
    assert code == 1013 and "busy" in message["message"]
    assert _stream(server[0], words_file)[0]["text"] == cli_result["text"]  # slots were given back


BROWSER = shutil.which("chromium") and shutil.which("chromedriver")
SCREENSHOT = Path(__file__).parents[1] / "build" / "screenshots" / "web-page.png"


@pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no default model shipped")
def test_shipped_model_reads_the_sample_through_small_shifts():
    """SAMPLE.md's claim, on which the browser test below leans: of 141 copies of the
    bundled sample, delayed by 0-40 ms in 0.5-ms steps (81) or with 10 ms dropped or 10 ms of
    zeros inserted at 30 evenly spaced places (60), none reads more than one letter off
    sample.txt (v2: 91 exactly; 49 copies delayed by 7.5-31 ms say "men" for "man", one with
    10 ms dropped "deed" for "need")."""
    from transducer.audio import read_audio
    from transducer.evaluate import transcribe

    audio, rec = read_audio(SAMPLE), Recognizer()
    text = SAMPLE.with_suffix(".txt").read_text().strip()
    copies = [np.concatenate([np.zeros(8 * k, np.float32), audio]) for k in range(81)]
    for at in np.linspace(0, len(audio), 32)[1:-1].astype(int):
        copies.append(np.concatenate([audio[:at], audio[at + 160 :]]))
        copies.append(np.concatenate([audio[:at], np.zeros(160, np.float32), audio[at:]]))
    wrong = {i: t for i, x in enumerate(copies) if (t := transcribe(rec, x).text) != text}
    assert len(copies) == 141 and len(wrong) <= 60
    assert all(round(jiwer.cer(text, t) * len(text)) <= 1 for t in wrong.values()), wrong


@pytest.mark.skipif(not BROWSER, reason="needs Debian's chromium and chromium-driver")
@pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no default model shipped")
def test_browser_page_shows_the_cli_transcript(tmp_path, monkeypatch):
    """Headless Chromium, the bundled sample as its fake microphone, the default model: the
    server hears the whole file (Chromium resamples it, starts it a few ms early or late and
    now and then inserts or drops ~10 ms), the page shows exactly what `transducer transcribe`
    prints for the audio it heard, and that matches the CLI's transcript of the file itself.

    The last match allows 5 % of characters to differ: the model's text depends a little on
    where its 160-ms blocks fall, and Chromium shifts the audio by a few ms. For the bundled
    sample, every one of 141 copies shifted by 0-40 ms or with 10 ms dropped or inserted reads
    within one letter of the file's text with the shipped model (the test above; SAMPLE.md);
    the delays Chromium gave in four runs here were 0-12 ms."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.support.ui import WebDriverWait

    import demo.web

    heard, rates = [], []
    parse, rate_of = demo.web.parse_frame, demo.web.sample_rate_of
    monkeypatch.setattr(demo.web, "parse_frame", lambda m: heard.append(parse(m)) or heard[-1])
    monkeypatch.setattr(demo.web, "sample_rate_of", lambda p: rates.append(rate_of(p)) or rates[-1])
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={SAMPLE}%noloop",  # 16-bit PCM at 16 kHz
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    with running(TranscriptionServer(Recognizer())) as port:
        driver = webdriver.Chrome(options=options, service=service)
        try:
            driver.set_window_size(1000, 900)
            driver.get(f"http://127.0.0.1:{port}/")
            driver.find_element("id", "start").click()
            text = lambda id_: driver.find_element("id", id_).text  # noqa: E731
            WebDriverWait(driver, 20).until(lambda _: text("status") == "listening")
            time.sleep(sf.info(str(SAMPLE)).duration + 1.0)  # the file plays in real time
            driver.find_element("id", "stop").click()
            WebDriverWait(driver, 20).until(lambda _: text("status") == "done")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(SCREENSHOT))
            shown, blocks = text("transcript"), driver.find_elements("css selector", ".block")
        finally:
            driver.quit()
    assert blocks and SCREENSHOT.stat().st_size > 10_000
    sf.write(str(tmp_path / "heard.wav"), np.concatenate(heard), rates[0], subtype="FLOAT")
    assert shown == _transcribe_json(tmp_path / "heard.wav")["text"]  # the web path is exact
    cli = _transcribe_json(SAMPLE)["text"]
    assert jiwer.cer(cli, shown) <= 0.05, (cli, shown)
    # Every half second of speech arrives, in order and undistorted, compared at the rate the
    # server received (44.1 kHz here; the file upsampled): Chromium starts the file a few ms early
    # or late by a whole number of its own samples, a fraction of a 16-kHz sample, and that alone
    # left 6-7 of 11 windows above correlation 0.98 at 16 kHz for 7 of 12 offsets (11 at 44.1 kHz).
    # When its timer runs late it inserts or drops a buffer of ~10 ms (seen here about one run in
    # five, some runs twice), so a window that straddles one may not match.
    rate = rates[0]
    original, _ = sf.read(str(SAMPLE), dtype="float32")
    lags, matched = _find_windows(resample(original, 16000, rate), np.concatenate(heard), rate)
    assert len(lags) >= 10 and matched >= 0.6 * len(lags), (matched, lags)
    assert all(abs(b - a) <= 0.05 * rate for a, b in zip(lags, lags[1:], strict=False)), lags


def _find_windows(original, received, rate: int):
    """Where each half-second window of speech in `original` lies in `received` (+-0.5 s), both
    at `rate`: the lags and how many of the windows match with correlation > 0.98."""
    n = search = rate // 2
    lags, matched = [], 0
    for start in range(0, len(original) - n, n):
        probe = original[start : start + n]
        if np.abs(probe).max() < 0.01:  # silence: nothing to find
            continue
        lo = max(0, start - search)
        lag = lo + int(np.argmax(np.correlate(received[lo : start + search + n], probe, "valid")))
        got = received[lag : lag + n]
        matched += len(got) == n and np.corrcoef(got, probe)[0, 1] > 0.98
        lags.append(lag - start)
    return lags, matched


def _transcribe_json(path, *options: str) -> dict:
    """What `transducer transcribe --json [options]` prints for one file."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["transcribe", "--json", *options, str(path)])
    return json.loads(out.getvalue())


class FakeSoundDevice:
    """Stands in for `sounddevice`: an input device that plays `samples` through the callback."""

    PortAudioError = OSError

    def __init__(self, samples, rate, devices=True):
        self.samples, self.rate, self.devices = samples, rate, devices

    def query_devices(self, device=None, kind=None):
        if not self.devices:
            raise self.PortAudioError("Error querying device -1")
        return {"default_samplerate": float(self.rate)}

    def InputStream(self, samplerate, blocksize, device, channels, dtype, callback):  # noqa: N802
        fake = self

        class Stream:
            def __enter__(self):
                for i in range(0, len(fake.samples), blocksize):
                    piece = fake.samples[i : i + blocksize, None]
                    callback(piece, len(piece), None, None)
                return self

            def __exit__(self, *exc):
                return False

        return Stream()


def test_microphone_demo_transcribes_the_input_device(trained, words_file, cli_result, monkeypatch):
    import io
    import re
    import sys

    from demo import microphone

    samples, rate = sf.read(str(words_file), dtype="float32")
    monkeypatch.setitem(sys.modules, "sounddevice", FakeSoundDevice(samples, rate))
    out = io.StringIO()
    rec = Recognizer(trained[0]["fullsum"])
    microphone.run(rec, seconds=len(samples) / rate, out=out)
    segments = re.findall(r"\] ([^\r\n]*)\n", out.getvalue())  # "[0.10 - 0.30 s] text\n"
    assert " ".join(segments) == cli_result["text"]

    monkeypatch.setitem(sys.modules, "sounddevice", FakeSoundDevice(samples, rate, devices=False))
    with pytest.raises(SystemExit, match="no input device"):
        microphone.main(["--model", str(trained[0]["fullsum"])])


@pytest.mark.slow
def test_load_twenty_clients_in_real_time():
    """`python -m demo.loadtest`: 20 clients x 30 s at real-time pace, default model."""
    from demo.loadtest import load_test

    result = load_test(clients=20, seconds=30.0)
    print(json.dumps(result))
    assert result["all_transcripts_correct"] and result["samples_dropped"] == 0
    assert result["latency_ms_p99"] < 1000


@pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no default model shipped")
def test_load_test_runs_clients_against_a_server_process():
    from demo.loadtest import load_test

    result = load_test(clients=3, seconds=4.0)
    assert result["all_transcripts_correct"] and result["samples_dropped"] == 0
    assert result["server_cpu_share_of_one_core"] > 0 and result["n_results"] >= 3 * 10


def test_a_segment_closed_by_the_last_block_is_sent_once(tmp_path):
    """1.08 s of audio, 0.36-s segments: the last block ends the third segment."""
    from tests.test_recognizer import AUDIO, random_model
    from transducer.recognizer import EndpointConfig

    model = random_model(tmp_path / "m.pt", max_symbols_per_block=4)
    rec = Recognizer(model, endpoint=EndpointConfig(1e9, 1e9, max_segment=0.36))
    with running(TranscriptionServer(rec)) as port:
        done, _ = asyncio.run(stream_samples(f"ws://127.0.0.1:{port}/ws", AUDIO, 16000))
    numbers = [s["segment"] for s in done["segments"]]
    assert numbers == sorted(set(numbers)) and len(numbers) >= 2, numbers
