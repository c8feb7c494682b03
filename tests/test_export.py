"""ONNX export: self-check, torch-free runtime, refusal of bad folders, the CLI."""

import json
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from transducer.checkpoint import bundle, save_atomic
from transducer.cli import main
from transducer.config import DecodingConfig, FeatureConfig, ModelConfig
from transducer.export.onnx_export import export
from transducer.export.runtime import ExportError, load_export
from transducer.features import FeatureStats
from transducer.model.transducer import NeuralTransducer
from transducer.recognizer import SAMPLE
from transducer.text import CharTokenizer

SIZES = dict(d_model=32, n_enc_layers=2, d_dec=24, d_joint=20, d_att=12, d_att_lstm=6,
             vocab_size=30, dropout=0.0)  # fmt: skip


def save_random(path, seed=3, decoding=None, **cfg):
    torch.manual_seed(seed)
    model = NeuralTransducer(ModelConfig(**SIZES, **cfg))
    for layer in model.encoder.res:  # make the residual layers' zero projections count
        torch.nn.init.normal_(layer.proj.weight, std=0.1)
    if model.encoder.conv is not None:  # make the front-end's zero-initialised output count
        torch.nn.init.normal_(model.encoder.conv[-1].weight, std=0.1)
    stats = FeatureStats(tuple([12.0] * 80), tuple([4.0] * 80))
    tokenizer = CharTokenizer.english()
    save_atomic(bundle(model, tokenizer, stats, FeatureConfig(), decoding=decoding), path)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    out = {}
    for name, cfg in {
        "fullsum": dict(mode="fullsum", attention="dot", conv_channels=4, n_res_layers=1),
        "paper": dict(mode="paper", n_dec_layers=2, attention="lstm", lookback=1),
    }.items():
        model = save_random(folder / f"{name}.pt", **cfg)
        report = export(model, folder / name, int8=name == "fullsum")
        out[name] = (model, folder / name, report)
    return out


@pytest.mark.parametrize("name", ["fullsum", "paper"])
def test_export_checks_itself(exported, name):
    _, folder, report = exported[name]
    assert report["ok"] and report["runtime_tokens_equal"] and report["decoder_joiner_tokens_equal"]
    assert report["numba_folder_tokens_equal"]  # encoder_weights.npz: the checkpoint's encoder
    assert report["encoder_max_abs_diff"] < 1e-4 and report["decoder_joiner_max_abs_diff"] < 1e-4
    assert report["n_tokens"] > 0
    for graph in ("encoder", "decoder", "joiner"):
        proto = onnx.load(str(folder / f"{graph}.onnx"))
        meta = {p.key: p.value for p in proto.metadata_props}
        assert meta["graph"] == graph and meta["mode"] == name and meta["format_version"] == "3"
        assert proto.opset_import[0].version >= 17
        assert all(i.name.startswith("cached_") or i.name in ("x", "y", "query", "frames",
                   "mask", "new_block") for i in proto.graph.input)  # fmt: skip
    assert (folder / "tokens.txt").read_text().splitlines()[0] == "<e> 0"


def test_the_export_keeps_the_decoding_config(exported, tmp_path):
    from transducer.recognizer import Recognizer

    model = save_random(tmp_path / "m.pt", decoding=DecodingConfig(beam=3, block_width=4))
    folder = tmp_path / "export"
    export(model, folder)
    for target, backend in ((model, "torch"), (folder, "onnx"), (folder, "numba")):
        rec = Recognizer(target, backend=backend)
        assert (rec.beam, rec.W) == (3, 4)
    assert Recognizer(exported["paper"][1], backend="onnx").beam == 0


def test_int8_graphs_load_and_transcribe(exported):
    _, folder, report = exported["fullsum"]
    assert report["sizes_mb"]["encoder.int8.onnx"] < report["sizes_mb"]["encoder.onnx"]
    from transducer.audio import read_audio
    from transducer.evaluate import transcribe
    from transducer.recognizer import Recognizer

    fp32, int8 = (transcribe(Recognizer(folder, backend=b), read_audio(SAMPLE))
                  for b in ("onnx", "onnx-int8"))  # fmt: skip
    assert int8.tokens and len(int8.timestamps) == len(int8.tokens)
    assert abs(len(int8.tokens) - len(fp32.tokens)) <= len(fp32.tokens) // 2


def test_runtime_never_imports_torch(exported):
    _, folder, _ = exported["fullsum"]
    code = f"""
import sys
from pathlib import Path
from transducer.export import OnnxRecognizer
from transducer.audio import read_audio
rec = OnnxRecognizer({str(folder)!r})
s = rec.create_stream()
s.accept_waveform(16000, read_audio({str(SAMPLE)!r}))
s.input_finished()
while rec.is_ready(s):
    rec.decode_stream(s)
assert rec.get_result(s).tokens
assert "torch" not in sys.modules, "torch was imported"
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def _copy(folder, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def _edit_metadata(path, key, value=None):
    proto = onnx.load(str(path))
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key != key]
    del proto.metadata_props[:]
    for k, v in kept + ([(key, value)] if value is not None else []):
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, str(path))


def test_refuses_bad_folders(exported, tmp_path):
    _, folder, _ = exported["fullsum"]
    bad = _copy(folder, tmp_path)
    _edit_metadata(bad / "joiner.onnx", "stats_mean")
    with pytest.raises(ExportError, match=r"joiner\.onnx: metadata key 'stats_mean' missing"):
        load_export(bad)
    shutil.copy(folder / "joiner.onnx", bad / "joiner.onnx")
    _edit_metadata(bad / "decoder.onnx", "block_width", "4")
    with pytest.raises(ExportError, match=r"decoder\.onnx: metadata key 'block_width' is '4'"):
        load_export(bad)
    shutil.copy(folder / "decoder.onnx", bad / "decoder.onnx")
    data = (bad / "encoder.onnx").read_bytes()
    (bad / "encoder.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(ExportError, match=r"encoder\.onnx: not a readable ONNX graph"):
        load_export(bad)
    (bad / "encoder.onnx").unlink()
    with pytest.raises(ExportError, match=r"encoder\.onnx: file missing"):
        load_export(bad)
    shutil.copy(folder / "encoder.onnx", bad / "encoder.onnx")
    np.savez(bad / "decoder_weights.npz", nothing=np.zeros(1))
    with pytest.raises(ExportError, match=r"decoder_weights\.npz: entry 'metadata' missing"):
        load_export(bad)
    with np.load(folder / "decoder_weights.npz") as npz:
        good = {k: npz[k] for k in npz.files}
    np.savez(bad / "decoder_weights.npz", **{k: v for k, v in good.items() if k != "wo"})
    with pytest.raises(ExportError, match=r"decoder_weights\.npz: entries missing \['wo'\]"):
        load_export(bad)
    np.savez(bad / "decoder_weights.npz", **{**good, "wo": good["wo"].astype(np.float64)})
    with pytest.raises(ExportError, match=r"entry 'wo' is float64, not float32 or uint16"):
        load_export(bad)


def test_refuses_files_that_do_not_belong_together(exported, tmp_path):
    """Swapped tokens, misshapen or altered decoder arrays and graphs of another model are
    refused by the hashes and shapes in the metadata (they used to load and print nonsense)."""
    model, folder, _ = exported["fullsum"]
    bad = _copy(folder, tmp_path)
    lines = (folder / "tokens.txt").read_text().splitlines()
    (a, i), (b, j) = (line.split() for line in lines[5:7])
    lines[5:7] = [f"{b} {i}", f"{a} {j}"]
    (bad / "tokens.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(ExportError, match=r"tokens\.txt: its symbols differ .*'tokens_sha256'"):
        load_export(bad)
    shutil.copy(folder / "tokens.txt", bad / "tokens.txt")
    with np.load(folder / "decoder_weights.npz") as npz:
        good = {k: npz[k] for k in npz.files}
    np.savez(bad / "decoder_weights.npz", **{**good, "bo": good["bo"][:-1]})
    with pytest.raises(ExportError, match=r"entry 'bo' has shape \[29\], but metadata .* \[30\]"):
        load_export(bad)
    np.savez(bad / "decoder_weights.npz", **{**good, "bo": good["bo"] + 1})
    with pytest.raises(ExportError, match=r"decoder_weights\.npz: its arrays differ"):
        load_export(bad)
    shutil.copy(folder / "decoder_weights.npz", bad / "decoder_weights.npz")
    with np.load(folder / "encoder_weights.npz") as npz:
        enc = {k: npz[k] for k in npz.files}
    np.savez(bad / "encoder_weights.npz", **{**enc, "out_b": enc["out_b"] + 1})
    with pytest.raises(ExportError, match=r"encoder_weights\.npz: its arrays differ"):
        load_export(bad, "numba")
    (bad / "encoder_weights.npz").unlink()
    with pytest.raises(ExportError, match=r"encoder_weights\.npz: file missing"):
        load_export(bad, "numba-int8")
    assert load_export(bad, "onnx")  # the onnx backends do without it
    other = save_random(tmp_path / "other.pt", mode="fullsum", attention="dot", conv_channels=4,
                        n_res_layers=1, seed=4)  # fmt: skip
    export(other, bad)  # fp32 only: the int8 graphs of the first model are removed
    assert not list(bad.glob("*.int8.onnx")) and load_export(bad)
    for graph in ("encoder", "decoder", "joiner"):  # put them back: stale beside the new files
        shutil.copy(folder / f"{graph}.int8.onnx", bad / f"{graph}.int8.onnx")
    with pytest.raises(ExportError, match=r"npz: metadata key 'decoder_sha256' is"):
        load_export(bad, "onnx-int8")
    shutil.copy(folder / "encoder_weights.npz", bad / "encoder_weights.npz")  # stale too
    with pytest.raises(ExportError, match=r"encoder_weights\.npz: metadata key 'decoder_sha256'"):
        load_export(bad, "numba")
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="file: exists and is not a folder"):
        export(model, tmp_path / "file")


def test_onnx_recognizer_loads_an_int8_only_folder(exported, tmp_path):
    from transducer.export import OnnxRecognizer

    _, folder, _ = exported["fullsum"]
    only = _copy(folder, tmp_path)
    for graph in ("encoder", "decoder", "joiner"):
        (only / f"{graph}.onnx").unlink()
    assert OnnxRecognizer(only).create_stream() is not None
    with pytest.raises(ExportError, match="int8 graphs only"):
        load_export(only)


def test_onnx_recognizer_loads_the_shipped_int8_folder():
    from transducer.audio import read_audio
    from transducer.evaluate import transcribe
    from transducer.export import OnnxRecognizer
    from transducer.recognizer import DEFAULT_EXPORT

    if not DEFAULT_EXPORT.exists():
        pytest.skip("no default model shipped")
    text = transcribe(OnnxRecognizer(DEFAULT_EXPORT), read_audio(SAMPLE)).text
    assert text == SAMPLE.with_suffix(".txt").read_text().strip()


def test_transcribe_with_onnx_backend(exported, capsys):
    model, folder, _ = exported["paper"]
    outputs = {}
    for backend, target in (("onnx", folder), ("torch", model)):
        main(["transcribe", str(SAMPLE), "--model", str(target), "--backend", backend,
              "--json"])  # fmt: skip
        outputs[backend] = json.loads(capsys.readouterr().out)
    assert outputs["onnx"]["segments"] == outputs["torch"]["segments"]


def test_refuses_a_stateless_prediction_network_before_writing(tmp_path):
    model = save_random(tmp_path / "stateless.pt", mode="fullsum", pred_context=2)
    with pytest.raises(ValueError, match="stateless"):
        export(model, tmp_path / "out")
    assert not (tmp_path / "out").exists()
