"""Put a trained run in the package as the default model (transducer/pretrained/).

    python recipes/default/ship.py exp/default/fullsum/best.pt

Writes model.pt (weights only, float16: half the size; they load back as float32) and onnx/
(the int8 graphs of `transducer export --int8`, its tokens.txt and decoder_weights.npz; the
fp32 graphs are left out for size, `transducer export` writes them). Prints the sizes.
"""

import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from export.onnx_export import export
from transducer import checkpoint
from transducer.recognizer import DEFAULT_EXPORT, DEFAULT_MODEL

KEEP = ("encoder.int8.onnx", "decoder.int8.onnx", "joiner.int8.onnx", "tokens.txt",
        "decoder_weights.npz")  # fmt: skip


def ship(run: Path) -> dict:
    ckpt = checkpoint.load(run)
    weights = {k: v.half() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    shipped = {k: ckpt[k] for k in ("config", "tokens", "stats")} | {"model": weights}
    DEFAULT_MODEL.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.save_atomic(shipped, DEFAULT_MODEL)
    with tempfile.TemporaryDirectory() as tmp:
        export(run, tmp, int8=True)  # checks itself against torch
        shutil.rmtree(DEFAULT_EXPORT, ignore_errors=True)
        DEFAULT_EXPORT.mkdir()
        for name in KEEP:
            shutil.copy(Path(tmp) / name, DEFAULT_EXPORT / name)
    files = [DEFAULT_MODEL, *sorted(DEFAULT_EXPORT.iterdir())]
    sizes = {
        str(p.relative_to(DEFAULT_MODEL.parent)): round(p.stat().st_size / 1e6, 2) for p in files
    }
    n_params = sum(v.numel() for v in weights.values() if v.is_floating_point())
    return {"source": str(run), "n_params": n_params, "sizes_mb": sizes,
            "total_mb": round(sum(sizes.values()), 2)}  # fmt: skip


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(json.dumps(ship(Path(sys.argv[1])), indent=1))
