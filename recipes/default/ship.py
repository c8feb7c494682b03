"""Put a trained run in the package as the default model (transducer/pretrained/).

    python recipes/default/ship.py exp/default/fullsum3/best.pt [--block-width W] [--beam N]

Writes model.pt (weights only, float16: half the size; they load back as float32) and onnx/
(the int8 graphs of `transducer export --int8` of those very weights, its tokens.txt and
decoder_weights.npz; the fp32 graphs are left out for size, `transducer export` writes them)
and lm.npz (`transducer lm --words /usr/share/dict/american-english-large`, from Debian's
wamerican-large: the character LM fused into beam search, with its lexicon).
`--block-width` sets the W the shipped model decodes with by default (one of the widths it was
trained with, chosen on dev), `--beam` the beam width it decodes with by default: its decoding
config, in model.pt, the export and decoding.json (which alone may be edited later, to change
how the default model decodes without new weights). Prints the sizes.
"""

import argparse
import json
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from transducer import checkpoint, lm
from transducer.config import DecodingConfig, TrainConfig
from transducer.export.onnx_export import export
from transducer.recognizer import DEFAULT_DECODING, DEFAULT_EXPORT, DEFAULT_LM, DEFAULT_MODEL

KEEP = ("encoder.int8.onnx", "decoder.int8.onnx", "joiner.int8.onnx", "tokens.txt",
        "decoder_weights.npz", "encoder_weights.npz")  # fmt: skip
WORDS = Path("/usr/share/dict/american-english-large")  # Debian's wamerican-large


def ship(run: Path, block_width: int | None = None, beam: int | None = None) -> dict:
    ckpt = checkpoint.load(run)
    weights = {k: v.half() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    shipped = checkpoint.weights_only(ckpt, weights)
    if block_width:
        trained = TrainConfig.of(ckpt["config"].get("train", {})).optim.block_widths
        if block_width not in trained:
            raise SystemExit(f"{run} was trained with W in {trained}, not {block_width}")
    decoding = asdict(DecodingConfig(beam=beam or 0, block_width=block_width or 0))
    shipped["config"] = {**shipped["config"], "decoding": decoding}
    DEFAULT_MODEL.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.save_atomic(shipped, DEFAULT_MODEL)
    DEFAULT_DECODING.write_text(json.dumps(decoding) + "\n")
    with tempfile.TemporaryDirectory() as tmp:
        report = export(DEFAULT_MODEL, tmp, int8=True)  # checks itself against torch
        if not report["ok"]:
            raise SystemExit(f"the export's self-check failed: {report}")
        shutil.rmtree(DEFAULT_EXPORT, ignore_errors=True)
        DEFAULT_EXPORT.mkdir()
        for name in KEEP:
            shutil.copy(Path(tmp) / name, DEFAULT_EXPORT / name)
    lm.from_text(words_file=WORDS)[0].save(DEFAULT_LM)
    files = [DEFAULT_MODEL, DEFAULT_LM, DEFAULT_DECODING, *sorted(DEFAULT_EXPORT.iterdir())]
    sizes = {
        str(p.relative_to(DEFAULT_MODEL.parent)): round(p.stat().st_size / 1e6, 2) for p in files
    }
    n_params = sum(v.numel() for v in weights.values() if v.is_floating_point())
    W = decoding["block_width"] or shipped["config"]["model"]["block_width"]
    return {"source": str(run), "block_width": W, "beam": decoding["beam"],
            "n_params": n_params, "sizes_mb": sizes,
            "total_mb": round(sum(sizes.values()), 2)}  # fmt: skip


if __name__ == "__main__":
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the checkpoint to ship (a run's best.pt)")
    parser.add_argument("--block-width", type=int, help="default W (default: the run's own)")
    parser.add_argument("--beam", type=int, help="default beam width (default: the run's, greedy)")
    args = parser.parse_args()
    print(json.dumps(ship(args.run, args.block_width, args.beam), indent=1))
