"""The synthetic speech corpus: `transducer data synth --out DIR --hours H --seed S`.

Item i of a corpus is fixed by (seed, i) alone: its split, engine, voice, sentence, speaking rate,
pitch, speed, padding, reverberation, noise and level all come from `default_rng([seed, i])`.
So the corpus is the same whatever the number of workers and however often it is interrupted:
a run synthesises items in index order, in waves, until the items so far add up to H hours, and
the corpus is that prefix. Each wav is written to a temp file and renamed, so a killed run leaves
no half-written wav; a rerun skips every wav already there.

Splits: dev and test voices never occur in train (whole espeak-ng voice variants and whole flite
voices are held out; Piper has a single voice and is train-only), and dev/test sentences never
occur in train (sentences are split by a hash of their text). With `flite_dev` off, the dev
flite voice (`awb`) trains instead and dev is espeak-ng only: flite has five voices, and holding
out two leaves training one male speaker (`kal`/`kal16`) and `slt`. Test items keep their
sentence, voice and speech (with `clean_eval`, the clean test is byte-identical); only babble
noise, made from training voices, differs.

With `flite_morph`, that share of flite's training items is spoken by a morph of two training
voices of different speakers ("kal~slt": `morph.py`), which adds timbres flite lacks; with
`flite_morph_piper`, that share of the morphs moves towards Piper's voice instead ("kal~joe"),
a timbre learned from recorded speech; with `flite_morph_espeak`, a share of the others moves
towards a random espeak-ng variant ("kal~en-us+r17"), one of a thousand vocal tracts. With
`flite_morph_voices`, only those voices are morphed, and only into each other (and Piper's or
espeak-ng's): morphs that involve the diphone voice `kal` are much harder to hear than the two
clustergen voices `slt` and `awb` morphed into each other (`recipes/default/morphs.py`).

With `clean_eval`, dev and test are rendered without noise or reverberation and
`test-noisy.jsonl` holds a copy of the test set with both added (its wavs in `wavs-noisy/`).
"""

import json
import os
import time
from dataclasses import asdict, dataclass, field
from functools import cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from transducer.audio import SAMPLE_RATE, resample, write_audio
from transducer.data import corrupt
from transducer.data.manifest import Utterance, read_manifest, write_manifest
from transducer.data.sentences import SPLITS, fortune_files, load_sentences, split_by_hash
from transducer.data.tts import (
    ENGINES,
    ESPEAK_LANGUAGES,
    ESPEAK_VARIANTS,
    FLITE_VOICES,
    KOKORO_HELD_OUT,
    PIPER_VOICES,
    KokoroEngine,
)
from transducer.text import american_spelling

# Held-out voices. espeak-ng variants are held out across every language, so a dev/test
# timbre is never heard in training under any accent.
HELD_OUT = {
    "dev": {"espeak": {"m6", "f2", "klatt4", "Annie", "edward", "linda", "max"}, "flite": {"awb"}},
    "test": {"espeak": {"m3", "f4", "klatt3", "Andy", "belinda", "john", "zac"}, "flite": {"rms"}},
}
ENGINE_WEIGHTS = {"espeak": 0.45, "flite": 0.3, "piper": 0.25, "kokoro": 0.6, "hibari": 0.15}
SPEEDS = (0.9, 0.95, 1.0, 1.05, 1.1)  # resampling speed perturbation (tempo and pitch together)
N_BABBLE = 32  # utterances in the babble pool
N_RANDOM_VARIANTS = 1000  # espeak-ng's random variants r0 ... r999 (`tts.random_variant`)
FLITE_SPEAKER = {"kal16": "kal"}  # the same speaker: never morphed into each other


@dataclass(frozen=True)
class SynthConfig:
    hours: float
    seed: int = 0
    engines: tuple[str, ...] = ("espeak", "flite", "piper")
    dev_fraction: float = 0.05
    test_fraction: float = 0.05
    p_clean: float = 0.25  # share of utterances with no added noise
    p_reverb: float = 0.3  # share with room reverberation
    snr_db: tuple[float, float] = (3.0, 30.0)
    clean_eval: bool = False  # dev/test clean, plus a noisy copy of test
    flite_f0: tuple[float, ...] = ()  # (lo, hi) Hz: vary flite's mean pitch; () = the voice's
    flite_dev: bool = True  # hold out a flite voice for dev (False: it trains)
    flite_morph: float = 0.0  # share of flite's train items in a morph of two training voices
    flite_morph_piper: float = 0.0  # share of those morphs whose second voice is Piper's
    flite_morph_espeak: float = 0.0  # share of the rest whose second is a random espeak-ng one
    flite_morph_voices: tuple[str, ...] = ()  # the flite voices morphs may use (): all training
    espeak_random: float = 0.0  # share of espeak-ng's train items in a random variant "rK"
    text_files: tuple[str, ...] = field(default_factory=tuple)  # default: Debian's fortunes

    def __post_init__(self):
        if not self.hours > 0:
            raise ValueError(f"--hours must be > 0, got {self.hours}")
        unknown = set(self.engines) - set(ENGINES)
        if unknown or not self.engines:
            raise ValueError(f"unknown engines {sorted(unknown)}; choose from {sorted(ENGINES)}")
        if not 0 < self.dev_fraction + self.test_fraction < 1:
            raise ValueError("dev_fraction + test_fraction must be in (0, 1)")
        f0 = self.flite_f0
        if f0 and not (len(f0) == 2 and 0 < f0[0] < f0[1]):
            raise ValueError(f"flite_f0 must be (lo, hi) Hz with 0 < lo < hi, got {self.flite_f0}")
        for name in ("flite_morph", "flite_morph_piper", "flite_morph_espeak", "espeak_random"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        chosen = self.flite_morph_voices
        train = voices("train", "flite", self.flite_dev)
        if chosen and not (
            set(chosen) <= set(train) and len({FLITE_SPEAKER.get(v, v) for v in chosen}) > 1
        ):
            raise ValueError(
                f"flite_morph_voices must be training voices ({', '.join(train)}) of at least two "
                f"speakers, got {chosen}"
            )

    def identity(self) -> dict:
        """Settings that define item i; a corpus folder may only be extended with the same."""
        d = asdict(self)
        del d["hours"]
        return json.loads(json.dumps(d))


@cache
def voices(split: str, engine: str, flite_dev: bool = True) -> tuple[str, ...]:
    """The voices of one engine that a split may use (dev/test: only held-out voices; without
    `flite_dev`, dev's flite voice trains and dev has none)."""
    if engine == "espeak":
        if split == "train":
            held = set().union(*(HELD_OUT[s]["espeak"] for s in ("dev", "test")))
            variants = [v for v in ESPEAK_VARIANTS if v not in held]
        else:
            variants = sorted(HELD_OUT[split]["espeak"])
        return tuple(f"{lang}+{v}" for lang in ESPEAK_LANGUAGES for v in variants)
    if engine == "flite":
        dev, test = HELD_OUT["dev"]["flite"] if flite_dev else set(), HELD_OUT["test"]["flite"]
        if split == "train":
            return tuple(v for v in FLITE_VOICES if v not in dev | test)
        return tuple(sorted(dev if split == "dev" else test))
    if engine == "kokoro":
        return tuple(KokoroEngine.voices()) if split == "train" else KOKORO_HELD_OUT[split]
    if engine == "hibari":
        return ("heart",) if split == "train" else ()
    return PIPER_VOICES if split == "train" else ()


@dataclass(frozen=True)
class Item:
    index: int
    split: str
    engine: str
    voice: str
    text: str

    @property
    def id(self) -> str:
        return f"s{self.index:07d}"

    def path(self, out: Path) -> Path:
        return out / "wavs" / self.id[:5] / f"{self.id}.wav"


def plan_item(index: int, cfg: SynthConfig, pools: dict[str, list[str]]) -> Item:
    """Everything about item `index` that is decided before synthesis."""
    rng = np.random.default_rng([cfg.seed, index])
    p_train = 1 - cfg.dev_fraction - cfg.test_fraction
    split = SPLITS[rng.choice(3, p=[p_train, cfg.dev_fraction, cfg.test_fraction])]
    engines = [e for e in cfg.engines if voices(split, e, cfg.flite_dev)]
    if not engines:  # none of the engines has held-out voices (hibari, piper): all items train
        split, engines = "train", list(cfg.engines)
    weights = np.array([ENGINE_WEIGHTS[e] for e in engines])
    engine = engines[rng.choice(len(engines), p=weights / weights.sum())]
    choices = voices(split, engine, cfg.flite_dev)
    voice = choices[rng.integers(len(choices))]
    text = pools[split][rng.integers(len(pools[split]))]
    morph_voices = cfg.flite_morph_voices or choices
    may_morph = engine == "flite" and split == "train" and cfg.flite_morph > 0
    may_morph = may_morph and voice in morph_voices  # chosen voices only, if any
    if may_morph and rng.random() < cfg.flite_morph:  # drawn only then: other items unchanged
        if cfg.flite_morph_piper and rng.random() < cfg.flite_morph_piper:  # likewise
            voice = f"{voice}~{PIPER_VOICES[0]}"
        elif cfg.flite_morph_espeak and rng.random() < cfg.flite_morph_espeak:  # likewise
            voice = f"{voice}~en-us+r{rng.integers(N_RANDOM_VARIANTS)}"  # flite's accent
        else:
            speaker = FLITE_SPEAKER.get(voice, voice)
            others = [v for v in morph_voices if FLITE_SPEAKER.get(v, v) != speaker]
            voice = f"{voice}~{others[rng.integers(len(others))]}"
    may_randomize = engine == "espeak" and split == "train" and cfg.espeak_random > 0
    if may_randomize and rng.random() < cfg.espeak_random:  # likewise drawn only then
        voice = f"{voice.partition('+')[0]}+r{rng.integers(N_RANDOM_VARIANTS)}"
    return Item(index, split, engine, voice, text)


def render(item: Item, cfg: SynthConfig, engines: dict, babble_pool: list[np.ndarray]):
    """Synthesise and corrupt one item: 16 kHz float32 samples."""
    rng = np.random.default_rng([cfg.seed, item.index, 1])
    samples, rate = engines[item.engine].synthesize(item.text, item.voice, rng)
    speed = SPEEDS[rng.integers(len(SPEEDS))]
    # Reading samples as if recorded at rate*speed speeds them up by `speed`; the rate is
    # rounded to 100 Hz, as corpora were made before the resampler could take any rate.
    if speed != 1.0:
        rate = int(round(rate * speed / 100) * 100)
    samples = resample(samples, rate, SAMPLE_RATE)
    pad = rng.uniform(0.1, 0.5, size=2)
    samples = np.pad(samples, (int(pad[0] * SAMPLE_RATE), int(pad[1] * SAMPLE_RATE)))
    if item.split != "train" and cfg.clean_eval:
        return corrupt.set_level(samples, float(rng.uniform(-32, -18)))
    return degrade(samples, cfg.p_reverb, cfg.p_clean, cfg.snr_db, babble_pool, rng)


def degrade(samples, p_reverb, p_clean, snr_db, babble_pool, rng) -> np.ndarray:
    """Room reverberation (with probability p_reverb), a level, then noise unless clean."""
    if rng.random() < p_reverb:
        rir = corrupt.room_impulse_response(float(rng.uniform(0.15, 0.7)), rng)
        samples = corrupt.reverberate(samples, rir)
    samples = corrupt.set_level(samples, float(rng.uniform(-32, -18)))
    if rng.random() >= p_clean:
        samples = corrupt.add_random_noise(samples, babble_pool, snr_db, rng)
    return np.clip(samples, -1.0, 1.0)


def make_engine(name: str, cfg: SynthConfig):
    if name != "flite":
        return ENGINES[name]()
    morphs = cfg.flite_morph > 0
    return ENGINES[name](
        cfg.flite_f0,
        morph_piper=morphs and cfg.flite_morph_piper > 0,
        morph_espeak=morphs and cfg.flite_morph_espeak > 0,
    )


# ------------------------------------------------------------------ worker processes

_WORKER: dict = {}


def _init_worker(cfg: SynthConfig, out: Path, babble_paths: list[Path]) -> None:
    _WORKER["cfg"], _WORKER["out"] = cfg, out
    _WORKER["engines"] = {name: make_engine(name, cfg) for name in cfg.engines}
    _WORKER["babble"] = [sf.read(str(p), dtype="float32")[0] for p in babble_paths]


def _synthesize(item: Item) -> tuple[int, float | None, str]:
    """Render and write one item; returns (index, duration or None, error)."""
    try:
        samples = render(item, _WORKER["cfg"], _WORKER["engines"], _WORKER["babble"])
    except Exception as e:  # one bad sentence must not end a long run; it is reported
        return item.index, None, f"{item.id} ({item.engine}/{item.voice}): {e}"
    path = item.path(_WORKER["out"])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_audio(path, samples)
    return item.index, len(samples) / SAMPLE_RATE, ""


# ------------------------------------------------------------------ driver


def _check_settings(out: Path, cfg: SynthConfig) -> None:
    settings = out / "settings.json"
    if settings.exists():
        # Settings added later take their default in corpora made before them.
        previous = {**SynthConfig(hours=1).identity(), **json.loads(settings.read_text())}
        if previous != cfg.identity():
            raise ValueError(
                f"{out} holds a corpus made with other settings {previous}; "
                f"use another --out or the same settings (only --hours may change)"
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps(cfg.identity(), indent=1))


def _remove_temp_files(out: Path) -> None:
    """What an interrupted run left half-written: `write_audio`'s and `write_manifest`'s temp
    files (.NAME.wav.tmp, .NAME.jsonl.tmp) in the folders synth writes, nothing else."""
    for folder, pattern in (("wavs/*", ".*.wav.tmp"), ("babble", ".*.wav.tmp"),
                            ("wavs-noisy", ".*.wav.tmp"), (".", ".*.jsonl.tmp")):  # fmt: skip
        for tmp in out.glob(f"{folder}/{pattern}"):
            tmp.unlink()


def _babble_pool(out: Path, cfg: SynthConfig, pools: dict[str, list[str]]) -> list[Path]:
    """Clean train-voice utterances used as babble noise (written once, reused on resume)."""
    fast = [e for e in cfg.engines if e != "piper"] or list(cfg.engines)
    engines = {name: ENGINES[name]() for name in fast}
    babble_cfg = SynthConfig(hours=1, seed=cfg.seed, engines=tuple(fast), p_clean=1, p_reverb=0)
    paths = []
    for k in range(N_BABBLE):
        rng = np.random.default_rng([cfg.seed, 2**40 + k])
        engine = fast[rng.integers(len(fast))]
        choices = voices("train", engine, cfg.flite_dev)
        item = Item(
            2**40 + k,
            "train",
            engine,
            choices[rng.integers(len(choices))],
            pools["train"][rng.integers(len(pools["train"]))],
        )
        path = out / "babble" / f"{k:03d}.wav"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_audio(path, render(item, babble_cfg, engines, []))
        paths.append(path)
    return paths


def synthesize_corpus(
    out: str | Path, cfg: SynthConfig, jobs: int | None = None, progress: bool = True
) -> dict:
    """Make (or finish) the corpus in `out`; write train/dev/test manifests; return a summary."""
    out = Path(out)
    jobs = jobs or os.cpu_count() or 1
    for name in cfg.engines:  # fail now, with the install hint, not inside a worker
        make_engine(name, cfg)
    _check_settings(out, cfg)
    _remove_temp_files(out)
    files = [Path(f) for f in cfg.text_files] or fortune_files()
    pools = split_by_hash(load_sentences(files), cfg.dev_fraction, cfg.test_fraction)
    babble_paths = _babble_pool(out, cfg, pools)

    start = time.time()
    target, wave = cfg.hours * 3600, max(16, 8 * jobs)
    durations: dict[int, float] = {}
    errors: list[str] = []
    planned: dict[int, Item] = {}
    n_new, new_seconds, end = 0, 0.0, None
    ctx = get_context("spawn")  # fork would copy onnxruntime's threads' state
    with (
        ctx.Pool(jobs, _init_worker, (cfg, out, babble_paths)) as pool,
        tqdm(total=round(target), unit="s", desc="audio", disable=not progress) as bar,
    ):
        first, total = 0, 0.0  # total: seconds in items [0, first)
        while end is None:
            items = [plan_item(i, cfg, pools) for i in range(first, first + wave)]
            planned.update((item.index, item) for item in items)
            todo = []
            for item in items:
                path = item.path(out)
                if path.exists():
                    durations[item.index] = sf.info(str(path)).duration
                    bar.update(round(durations[item.index]))
                else:
                    todo.append(item)
            for index, duration, error in pool.imap_unordered(_synthesize, todo):
                if error:
                    errors.append(error)
                    continue
                durations[index] = duration
                n_new, new_seconds = n_new + 1, new_seconds + duration
                bar.update(round(duration))
            for i in range(first, first + wave):
                total += durations.get(i, 0.0)
                if total >= target:
                    end = i + 1
                    break
            first += wave
    seconds = time.time() - start
    summary = _finish(out, cfg, planned, durations, end, errors, n_new, new_seconds, seconds)
    if cfg.clean_eval:
        _noisy_copy(out, cfg, babble_paths)
    return summary


def _noisy_copy(out: Path, cfg: SynthConfig, babble_paths: list[Path]) -> None:
    """test-noisy.jsonl: every test utterance with noise (and reverberation at p_reverb)."""
    babble_pool = [sf.read(str(p), dtype="float32")[0] for p in babble_paths]
    noisy = []
    for utt in read_manifest(out / "test.jsonl"):
        path = out / "wavs-noisy" / f"{utt.id}.wav"
        if not path.exists():
            rng = np.random.default_rng([cfg.seed, int(utt.id[1:]), 2])
            clean = sf.read(utt.audio, dtype="float32")[0]
            path.parent.mkdir(parents=True, exist_ok=True)
            write_audio(path, degrade(clean, cfg.p_reverb, 0.0, cfg.snr_db, babble_pool, rng))
        noisy.append(Utterance(utt.id, str(path), utt.duration, utt.text, utt.speaker))
    write_manifest(out / "test-noisy.jsonl", noisy)


def _finish(out, cfg, planned, durations, end, errors, n_new, new_seconds, seconds) -> dict:
    by_split: dict[str, list[Utterance]] = {s: [] for s in SPLITS}
    for i in range(end):
        if i not in durations:
            continue  # synthesis failed; listed in errors
        item = planned[i]
        speaker = f"{item.engine}/{item.voice}"
        text = american_spelling(item.text)  # spoken as written; transcribed American
        by_split[item.split].append(
            Utterance(item.id, str(item.path(out)), durations[i], text, speaker)
        )
    for split, utts in by_split.items():
        write_manifest(out / f"{split}.jsonl", utts)
    summary = {
        "hours": round(sum(u.duration for us in by_split.values() for u in us) / 3600, 4),
        "utterances": {s: len(u) for s, u in by_split.items()},
        "hours_per_split": {s: _hours(u) for s, u in by_split.items()},
        "hours_per_engine": {
            e: _hours([u for us in by_split.values() for u in us if u.engine == e])
            for e in cfg.engines
        },
        "voices_per_split": {s: len({u.speaker for u in us}) for s, us in by_split.items()},
        "new_utterances": n_new,
        "new_hours": round(new_seconds / 3600, 4),
        "wall_seconds": round(seconds, 1),
        "hours_per_minute": round(new_seconds / 3600 / (seconds / 60), 4) if seconds else None,
        "errors": errors,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _hours(utts: list[Utterance]) -> float:
    return round(sum(u.duration for u in utts) / 3600, 4)
