"""The torch-free runtime: `OnnxRecognizer`, the `Recognizer`/`Stream` API on an export folder.

NumPy features, the encoder on onnxruntime (`encoder.onnx`; backends onnx, onnx-int8) or on
Numba (`encoder_weights.npz`; backends numba, numba-int8) and the Numba decoder on its frames
(`decoder_weights.npz`). Only NumPy, onnxruntime, Numba and soundfile are imported.
Every file's metadata is checked against the others before anything runs: a missing file, a
corrupt file, a missing key or a mismatched value is an `ExportError` naming the file and key.

    recognizer = OnnxRecognizer("exp/export")      # or Recognizer(folder, backend="onnx")
    recognizer = Recognizer("exp/export", backend="numba")  # the same tokens as the checkpoint
"""

import hashlib
import json
from pathlib import Path

import numpy as np

from transducer.config import DecodingConfig, FeatureConfig, ModelConfig
from transducer.features import FeatureStats
from transducer.text import CharTokenizer

FORMAT_VERSION = "3"  # 2: content hashes of weights, tokens, decoder arrays; 3: encoder arrays
GRAPHS = ("encoder", "decoder", "joiner")
REQUIRED = ("format_version", "model_type", "graph", "mode", "attention", "vocab_size",
            "blank_id", "block_width", "stack", "lookback", "d_model", "n_enc_layers",
            "model_config", "features", "stats_mean", "stats_std", "state_shapes",
            "weights_sha256", "tokens_sha256", "decoder_sha256", "decoder_shapes",
            "encoder_sha256")  # fmt: skip


def digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 of named arrays: names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def tokens_digest(symbols) -> str:
    return hashlib.sha256("\n".join(symbols).encode()).hexdigest()


class ExportError(ValueError):
    """An export folder that cannot be used; the message names the file and the key."""


def open_session(path: Path, threads: int = 1):
    """An onnxruntime session on `threads` threads; ExportError if missing or unreadable."""
    import onnxruntime as ort

    if not path.exists():
        raise ExportError(f"{path}: file missing (run `transducer export`)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise ExportError(f"{path}: not a readable ONNX graph ({type(e).__name__}: {e})") from e


def read_metadata(path: Path, session) -> dict[str, str]:
    return _checked(path, dict(session.get_modelmeta().custom_metadata_map))


def _checked(path: Path, meta: dict[str, str]) -> dict[str, str]:
    """`meta` if it has every key this runtime reads (a graph's name: graphs only), in its
    format version."""
    for key in REQUIRED if path.suffix == ".onnx" else set(REQUIRED) - {"graph"}:
        if key not in meta:
            raise ExportError(f"{path}: metadata key {key!r} missing")
    if meta["format_version"] != FORMAT_VERSION:
        raise ExportError(
            f"{path}: metadata key 'format_version' is {meta['format_version']!r}; "
            f"this runtime reads {FORMAT_VERSION!r}"
        )
    return meta


def _agree(reference: dict, ref_path: Path, meta: dict, path: Path) -> None:
    """Every setting must equal the reference file's (not 'graph', nor the 'onnx.*' keys
    that tools such as the quantiser add)."""
    for key, value in sorted(reference.items()):
        if key != "graph" and not key.startswith("onnx") and meta.get(key) != value:
            raise ExportError(
                f"{path}: metadata key {key!r} is {meta.get(key)!r} but {ref_path.name} says "
                f"{value!r}"
            )


class OnnxEncoder:
    """The encoder backend on onnxruntime: same interface as `recognizer.TorchEncoder`."""

    def __init__(self, session, n_layers: int, d_model: int):
        self.session, self.shape = session, (n_layers, 1, d_model)

    def initial_state(self):
        return np.zeros(self.shape, np.float32), np.zeros(self.shape, np.float32)

    def __call__(self, feats: np.ndarray, state):
        x = np.ascontiguousarray(feats, dtype=np.float32)[None]
        frames, h, c = self.session.run(None, {"x": x, "cached_h": state[0], "cached_c": state[1]})
        return frames[0], (h, c)


def has_fp32_graphs(folder: str | Path) -> bool:
    """Whether `folder` holds any fp32 graph (the shipped export has int8 graphs only)."""
    return any((Path(folder) / f"{graph}.onnx").exists() for graph in GRAPHS)


def load_export(folder: str | Path, backend: str = "onnx", threads: int = 1) -> tuple:
    """The parts a `Recognizer` runs (`backends.Parts`' fields but the torch model), from an
    export folder, checked: every file's metadata agrees (files of another model or another
    export are refused), and the .npz files and tokens.txt match the shapes and content hashes
    the metadata records. backend: "onnx" / "onnx-int8" (the fp32 or int8 encoder graph on
    onnxruntime) or "numba" / "numba-int8" (the Numba encoder; int8: its LSTM rows quantised
    here, as `numba_encoder.pack_encoder` does)."""
    from transducer.decode.fast import FastDecoder, Weights
    from transducer.decode.numba_encoder import NumbaEncoder, quantize_encoder

    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"{folder}: not an export folder (run `transducer export --out DIR`)")
    weights_path = folder / "decoder_weights.npz"
    if backend.startswith("onnx"):
        sessions, ref_path, ref = _open_graphs(folder, backend == "onnx-int8", threads)
        arrays, meta, scalars = _read_npz(weights_path)
        _agree(ref, ref_path, meta, weights_path)
    else:
        arrays, meta, scalars = _read_npz(weights_path)
        ref_path, ref = weights_path, _checked(weights_path, meta)
    expected = set(Weights._fields) - set(scalars)
    w = Weights(**scalars, **_decoder_arrays(arrays, expected, ref, weights_path))
    model_section = json.loads(ref["model_config"])  # with a beam if written before "decoding"
    cfg = ModelConfig.of(model_section)
    sections = {"model": model_section}
    if "decoding" in ref:
        sections["decoding"] = json.loads(ref["decoding"])
    decoding = DecodingConfig.of(sections)
    tokens_path = folder / "tokens.txt"
    try:
        tokenizer = CharTokenizer.load(tokens_path)
    except (FileNotFoundError, ValueError) as e:
        raise ExportError(f"{tokens_path}: {e}") from e
    if len(tokenizer) != cfg.vocab_size:
        raise ExportError(
            f"{tokens_path}: {len(tokenizer)} tokens, but metadata key 'vocab_size' "
            f"is {cfg.vocab_size}"
        )
    if tokens_digest(tokenizer.symbols) != ref["tokens_sha256"]:
        raise ExportError(f"{tokens_path}: its symbols differ from the model's (metadata key "
                          "'tokens_sha256'): not this export's tokens.txt")  # fmt: skip
    stats = FeatureStats(tuple(json.loads(ref["stats_mean"])), tuple(json.loads(ref["stats_std"])))
    features = FeatureConfig(**json.loads(ref["features"]))
    if backend.startswith("onnx"):
        encoder = OnnxEncoder(sessions["encoder"], cfg.n_enc_layers, cfg.d_model)
    else:
        e = _encoder_weights(folder / "encoder_weights.npz", ref, ref_path)
        encoder = NumbaEncoder(quantize_encoder(e) if backend == "numba-int8" else e)
    decoder = FastDecoder(w, (cfg.lookback + 1) * cfg.block_width)
    return cfg, tokenizer, stats, features, decoding, encoder, decoder


def _open_graphs(folder: Path, int8: bool, threads: int) -> tuple[dict, Path, dict]:
    """The three graphs' sessions, checked to agree; the encoder's path and metadata."""
    suffix = ".int8.onnx" if int8 else ".onnx"
    if not int8 and not has_fp32_graphs(folder) and (folder / "encoder.int8.onnx").exists():
        raise ExportError(f"{folder}: int8 graphs only (as the shipped export): use "
                          "backend onnx-int8, or `transducer export` for fp32 graphs")  # fmt: skip
    sessions, metas = {}, {}
    for graph in GRAPHS:
        path = folder / f"{graph}{suffix}"
        sessions[graph] = open_session(path, threads)
        metas[graph] = read_metadata(path, sessions[graph])
        if metas[graph]["graph"] != graph:
            raise ExportError(f"{path}: metadata key 'graph' is {metas[graph]['graph']!r}")
    ref_path, ref = folder / f"encoder{suffix}", metas["encoder"]
    for graph in GRAPHS[1:]:
        _agree(ref, ref_path, metas[graph], folder / f"{graph}{suffix}")
    return sessions, ref_path, ref


def _read_npz(path: Path) -> tuple[dict, dict, dict]:
    """A weights file's arrays, metadata and scalars."""
    try:
        with np.load(path) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError as e:
        raise ExportError(f"{path}: file missing (run `transducer export`)") from e
    except Exception as e:
        raise ExportError(f"{path}: not a readable .npz ({e})") from e
    for key in ("metadata", "scalars"):
        if key not in arrays:
            raise ExportError(f"{path}: entry {key!r} missing")
    return arrays, json.loads(str(arrays.pop("metadata"))), json.loads(str(arrays.pop("scalars")))


def _encoder_weights(path: Path, ref: dict, ref_path: Path):
    """encoder_weights.npz as float32 `EncoderWeights`, checked against the metadata."""
    from transducer.decode.numba_encoder import EncoderWeights

    arrays, meta, scalars = _read_npz(path)
    _agree(ref, ref_path, meta, path)
    _check_entries(arrays, set(EncoderWeights._fields) - set(scalars), path)
    for key, a in arrays.items():
        if a.dtype not in (np.float16, np.float32):
            raise ExportError(f"{path}: entry {key!r} is {a.dtype}, not float16 or float32")
    _check_digest(arrays, ref, "encoder_sha256", path)
    return EncoderWeights(**scalars, **{k: a.astype(np.float32) for k, a in arrays.items()})


def _check_contents(arrays: dict, meta: dict, path: Path) -> None:
    """decoder_weights.npz's arrays have the shapes and the hash the metadata records."""
    shapes = json.loads(meta["decoder_shapes"])
    for key, a in arrays.items():
        if key in shapes and list(a.shape) != shapes[key]:
            raise ExportError(f"{path}: entry {key!r} has shape {list(a.shape)}, but metadata "
                              f"key 'decoder_shapes' says {shapes[key]}")  # fmt: skip
    _check_digest(arrays, meta, "decoder_sha256", path)


def _check_entries(arrays: dict, expected: set, path: Path) -> None:
    if set(arrays) != expected:
        missing, extra = sorted(expected - set(arrays)), sorted(set(arrays) - expected)
        raise ExportError(f"{path}: entries missing {missing}, unexpected {extra}")


def _check_digest(arrays: dict, meta: dict, key: str, path: Path) -> None:
    if digest(arrays) != meta[key]:
        raise ExportError(f"{path}: its arrays differ from those exported (metadata key "
                          f"{key!r}): damaged, or from another export")  # fmt: skip


def _decoder_arrays(arrays: dict, expected: set, meta: dict, path: Path) -> dict:
    """decoder_weights.npz's arrays, checked: each entry `Weights` needs, float32, or half bits
    (uint16) for the matrices `kernels.halve` may keep so, with the shapes and content the
    metadata records; half bits are widened here where the CPU cannot use them."""
    from transducer.decode.fast import DECODER_MATRICES
    from transducer.decode.kernels import HALF, HALF_IN_HARDWARE

    _check_entries(arrays, expected, path)
    for key, a in arrays.items():
        if a.dtype != np.float32 and not (key in DECODER_MATRICES and a.dtype == HALF):
            allowed = "float32 or uint16 (half bits)" if key in DECODER_MATRICES else "float32"
            raise ExportError(f"{path}: entry {key!r} is {a.dtype}, not {allowed}")
    _check_contents(arrays, meta, path)
    if not HALF_IN_HARDWARE:
        for key, a in arrays.items():
            if a.dtype == HALF:
                arrays[key] = a.view(np.float16).astype(np.float32)
    return arrays
