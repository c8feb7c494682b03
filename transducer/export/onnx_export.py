"""`transducer export`: a checkpoint -> encoder.onnx, decoder.onnx, joiner.onnx, tokens.txt and
the Numba kernels' packed weights (decoder_weights.npz, encoder_weights.npz: the folder then
runs on the numba backends too, without torch), then a self-check.

Graphs (opset 17, dynamic batch axis N, states as `cached_*` inputs and `new_cached_*` outputs):
- encoder: x (N, T, F) normalised features, cached_h/cached_c (layers, N, D)
  -> frames (N, ceil(T / stack), D), new_cached_h, new_cached_c;
- decoder, full-sum: y (N,) last label, cached_h/cached_c (layers, N, H) -> query (N, H) + states;
  paper: y (N,) last symbol, cached_context (N, D), cached_h1/cached_c1 (N, H) -> query + states;
- joiner, full-sum: query (N, H), frames (N, L, D), mask (N, L) -> log_probs (N, V), weights (N, L);
  paper: also new_block (N,) and cached_h2/cached_c2 (N, H), cached_att_h/cached_att_c (N, Ha)
  -> log_probs, weights, new_cached_context, new_cached_h2, ..., new_cached_att_c.
Every graph carries all settings in `metadata_props` (see `metadata`); the runtime checks them.
"""

import json
import logging
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from transducer.checkpoint import load_model
from transducer.decode.fast import DECODER_MATRICES, pack, require_lstm_prediction
from transducer.decode.kernels import halve
from transducer.decode.numba_encoder import pack_encoder
from transducer.export.runtime import FORMAT_VERSION, GRAPHS, digest, tokens_digest

OPSET = 17


def metadata(model, tokenizer, stats, features, decoding, decoder_arrays: dict,
             encoder_arrays: dict) -> dict[str, str]:  # fmt: skip
    """Every setting the runtime needs, as strings (ONNX metadata is string -> string), and
    content hashes that tie the files of one export together: of the model's weights, of its
    tokens and of the Numba decoder's arrays (with their shapes) and encoder's arrays."""
    cfg = model.cfg
    keys = ("mode", "attention", "vocab_size", "block_width", "stack", "lookback",
            "max_symbols_per_block", "d_model", "n_enc_layers", "d_dec", "n_dec_layers",
            "d_joint", "d_att", "d_att_lstm", "n_mels")  # fmt: skip
    meta = {k: str(getattr(cfg, k)) for k in keys}
    meta.update(
        format_version=FORMAT_VERSION,
        model_type="neural-transducer",
        blank_id="0",
        model_config=json.dumps(asdict(cfg)),
        decoding=json.dumps(asdict(decoding)),
        features=json.dumps(asdict(features)),
        stats_mean=json.dumps(list(stats.mean)),
        stats_std=json.dumps(list(stats.std)),
        state_shapes=json.dumps(state_shapes(cfg)),
        weights_sha256=digest({k: _raw(v) for k, v in model.state_dict().items()}),
        tokens_sha256=tokens_digest(tokenizer.symbols),
        decoder_sha256=digest(decoder_arrays),
        decoder_shapes=json.dumps({k: list(a.shape) for k, a in decoder_arrays.items()}),
        encoder_sha256=digest(encoder_arrays),
    )
    return meta


def _raw(t: torch.Tensor) -> np.ndarray:
    """A tensor's bytes as uint8, whatever its dtype, with its shape and dtype in front."""
    head = np.frombuffer(f"{t.dtype}{tuple(t.shape)}".encode(), np.uint8)
    return np.concatenate([head, t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy()])


def state_shapes(cfg) -> dict[str, list]:
    """Shapes of every cached_* input, "N" for the batch axis."""
    D, H, Ha, n = cfg.d_model, cfg.d_dec, cfg.d_att_lstm, cfg.n_enc_layers
    shapes = {"encoder/cached_h": [n, "N", D], "encoder/cached_c": [n, "N", D]}
    if cfg.mode == "fullsum":
        m = cfg.n_dec_layers
        shapes.update({"decoder/cached_h": [m, "N", H], "decoder/cached_c": [m, "N", H]})
    else:
        shapes.update({"decoder/cached_context": ["N", D], "decoder/cached_h1": ["N", H],
                       "decoder/cached_c1": ["N", H], "joiner/cached_h2": ["N", H],
                       "joiner/cached_c2": ["N", H], "joiner/cached_att_h": ["N", Ha],
                       "joiner/cached_att_c": ["N", Ha]})  # fmt: skip
    return shapes


# ------------------------------------------------------------------ graph wrappers


class Encoder(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.encoder = model.encoder

    def forward(self, x, cached_h, cached_c):
        frames, state = self.encoder.encode_chunk(x, (cached_h, cached_c))
        return frames, state.h, state.c


class FullSumDecoder(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.decoder = model.decoder

    def forward(self, y, cached_h, cached_c):
        q, state = self.decoder.predict(y[:, None], (cached_h, cached_c))
        return q[:, 0], state.h, state.c


class FullSumJoiner(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.decoder = model.decoder

    def forward(self, query, frames, mask):
        logits, weights = self.decoder.logits(query[:, None], frames[:, None], mask[:, None])
        return logits[:, 0, 0].log_softmax(-1), weights[:, 0, 0]


class PaperDecoder(nn.Module):
    """The first transducer layer: s_m = LSTM1([embed(y_{m-1}); c_{m-1}])."""

    def __init__(self, model):
        super().__init__()
        self.decoder = model.decoder

    def forward(self, y, cached_context, cached_h1, cached_c1):
        x = torch.cat([self.decoder.embed(y), cached_context], dim=-1)
        h1, c1 = self.decoder.cell1(x, (cached_h1, cached_c1))
        return h1, h1, c1


class PaperJoiner(nn.Module):
    """Attention over the block, then the second layer and the output layer."""

    def __init__(self, model):
        super().__init__()
        self.decoder = model.decoder

    def forward(self, query, frames, mask, new_block, cached_h2, cached_c2, cached_att_h,
                cached_att_c):  # fmt: skip
        dec = self.decoder
        keep = (~new_block)[:, None].to(query.dtype)  # the attention memory spans a block
        att = (cached_att_h * keep, cached_att_c * keep)  # (unused but kept by other variants)
        if dec.stateful:
            context, weights, (ah, ac) = dec.attention(query, frames, mask, att)
        else:
            ctx, w = dec.attention(query[:, None, None], frames[:, None], mask[:, None])
            context, weights, (ah, ac) = ctx[:, 0, 0], w[:, 0, 0], att
        h2, c2 = dec.cell2(torch.cat([context, query], dim=-1), (cached_h2, cached_c2))
        return dec.out(h2).log_softmax(-1), weights, context, h2, c2, ah, ac


def _example_inputs(model, graph: str) -> dict[str, torch.Tensor]:
    cfg, N = model.cfg, 1
    D, H, Ha, L = cfg.d_model, cfg.d_dec, cfg.d_att_lstm, (cfg.lookback + 1) * cfg.block_width
    if graph == "encoder":
        n = cfg.n_enc_layers
        x = torch.zeros(N, cfg.stack * cfg.block_width, cfg.n_mels)
        return {"x": x, "cached_h": torch.zeros(n, N, D), "cached_c": torch.zeros(n, N, D)}
    y = torch.zeros(N, dtype=torch.long)
    if graph == "decoder" and cfg.mode == "fullsum":
        m = cfg.n_dec_layers
        return {"y": y, "cached_h": torch.zeros(m, N, H), "cached_c": torch.zeros(m, N, H)}
    if graph == "decoder":
        return {"y": y, "cached_context": torch.zeros(N, D), "cached_h1": torch.zeros(N, H),
                "cached_c1": torch.zeros(N, H)}  # fmt: skip
    block = {"query": torch.zeros(N, H), "frames": torch.zeros(N, L, D),
             "mask": torch.ones(N, L, dtype=torch.bool)}  # fmt: skip
    if cfg.mode == "fullsum":
        return block
    return {**block, "new_block": torch.ones(N, dtype=torch.bool),
            "cached_h2": torch.zeros(N, H), "cached_c2": torch.zeros(N, H),
            "cached_att_h": torch.zeros(N, Ha), "cached_att_c": torch.zeros(N, Ha)}  # fmt: skip


def _outputs(model, graph: str) -> list[str]:
    if graph == "encoder":
        return ["frames", "new_cached_h", "new_cached_c"]
    if graph == "decoder":
        if model.cfg.mode == "fullsum":
            return ["query", "new_cached_h", "new_cached_c"]
        return ["query", "new_cached_h1", "new_cached_c1"]
    if model.cfg.mode == "fullsum":
        return ["log_probs", "weights"]
    return ["log_probs", "weights", "new_cached_context", "new_cached_h2", "new_cached_c2",
            "new_cached_att_h", "new_cached_att_c"]  # fmt: skip


def _wrapper(model, graph: str) -> nn.Module:
    paper = model.cfg.mode == "paper"
    return {
        "encoder": Encoder,
        "decoder": PaperDecoder if paper else FullSumDecoder,
        "joiner": PaperJoiner if paper else FullSumJoiner,
    }[graph](model).eval()


def _dynamic_axes(inputs: dict, outputs: list[str]) -> dict:
    axes = {}
    for name, value in inputs.items():
        batch = 1 if name.startswith("cached_") and value.ndim == 3 else 0  # (layers, N, D)
        axes[name] = {batch: "N", **({1: "T"} if name == "x" else {})}
    for name in outputs:
        batch = 1 if name in ("new_cached_h", "new_cached_c") else 0
        axes[name] = {batch: "N", **({1: "T_out"} if name == "frames" else {})}
    return axes


def export_graph(model, graph: str, path: Path, meta: dict[str, str]) -> None:
    import onnx

    inputs, outputs = _example_inputs(model, graph), _outputs(model, graph)
    # The LSTM batch-size warning does not apply: its states are graph inputs.
    warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size")
    torch.onnx.export(
        _wrapper(model, graph), tuple(inputs.values()), str(path), dynamo=False,
        opset_version=OPSET, input_names=list(inputs), output_names=outputs,
        dynamic_axes=_dynamic_axes(inputs, outputs),
    )  # fmt: skip
    proto = onnx.load(str(path))
    for key, value in {**meta, "graph": graph}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def decoder_weights(model) -> tuple[dict[str, np.ndarray], dict]:
    """The Numba decoder's packed float32 arrays and its scalars; the matrices as half bits
    where that is lossless (`kernels.halve`: weights saved in half)."""
    arrays, scalars = _split(pack(model))
    return arrays | halve({k: arrays[k] for k in DECODER_MATRICES}), scalars


def encoder_weights(model) -> tuple[dict[str, np.ndarray], dict]:
    """The Numba encoder's float32 arrays, each as float16 where that is exact (weights saved
    in half), and its scalars."""
    arrays, scalars = _split(pack_encoder(model))
    for k, a in arrays.items():
        if np.array_equal(a.astype(np.float16).astype(np.float32), a):
            arrays[k] = a.astype(np.float16)
    return arrays, scalars


def _split(weights) -> tuple[dict[str, np.ndarray], dict]:
    """A packed-weights NamedTuple's arrays and its scalars (ints, floats, flags)."""
    fields = weights._asdict()
    arrays = {k: v for k, v in fields.items() if isinstance(v, np.ndarray)}
    return arrays, {k: v for k, v in fields.items() if k not in arrays}


def quantize(out: Path) -> dict[str, str]:
    """Dynamically quantised int8 copies: NAME.int8.onnx."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level, paths = root.level, {}
    root.setLevel(logging.ERROR)  # the quantiser logs advice on pre-processing per graph
    try:
        for graph in GRAPHS:
            target = out / f"{graph}.int8.onnx"
            quantize_dynamic(out / f"{graph}.onnx", target, weight_type=QuantType.QInt8)
            paths[graph] = str(target)
    finally:
        root.setLevel(level)
    return paths


def export(model_path: str | Path, out: str | Path, int8: bool = False,
           check_manifest: str | Path | None = None) -> dict:  # fmt: skip
    """Write the export folder and check it; returns a JSON-able report."""
    model, tokenizer, stats, features, decoding = load_model(model_path)
    require_lstm_prediction(model.cfg)  # before anything is written
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder; --out names the folder to write")
    out.mkdir(parents=True, exist_ok=True)
    arrays, scalars = decoder_weights(model)
    enc_arrays, enc_scalars = encoder_weights(model)
    meta = metadata(model, tokenizer, stats, features, decoding, arrays, enc_arrays)
    with torch.no_grad():
        for graph in GRAPHS:
            export_graph(model, graph, out / f"{graph}.onnx", meta)
    np.savez(out / "decoder_weights.npz", **arrays, scalars=json.dumps(scalars),
             metadata=json.dumps(meta))  # fmt: skip
    np.savez(out / "encoder_weights.npz", **enc_arrays, scalars=json.dumps(enc_scalars),
             metadata=json.dumps(meta))  # fmt: skip
    tokenizer.save(out / "tokens.txt")
    report = {"out": str(out), "sizes_mb": {}}
    if int8:
        quantize(out)
    else:  # int8 graphs of an earlier export would not match these files
        for graph in GRAPHS:
            (out / f"{graph}.int8.onnx").unlink(missing_ok=True)
    for path in sorted(out.glob("*.onnx")) + sorted(out.glob("*_weights.npz")):
        report["sizes_mb"][path.name] = round(path.stat().st_size / 2**20, 3)
    from transducer.export.check import check

    report.update(check(model_path, out, manifest=check_manifest))
    return report
