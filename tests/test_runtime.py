"""The light runtime: transcription and the Recognizer on the numba and onnx backends need no
torch (nor any other `[train]` package), in this environment and in a fresh base install."""

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from transducer.recognizer import DEFAULT_EXPORT, DEFAULT_MODEL, SAMPLE

ROOT = Path(__file__).resolve().parent.parent
TRAIN_ONLY = ("torch", "torchaudio", "onnx", "jiwer", "tqdm", "matplotlib")
BLOCK = f"""
import sys

class Block:  # any import of a [train] package fails, as in a base install
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {TRAIN_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, Block())
"""
needs_shipped = pytest.mark.skipif(not DEFAULT_EXPORT.exists(), reason="no default model shipped")


def _run(code: str, *args: str, rc: int = 0) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", BLOCK + code, *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=600)  # fmt: skip
    assert done.returncode == rc, done.stderr[-3000:]
    return done


def test_training_commands_say_they_need_the_train_extra():
    code = "from transducer.cli import main; main(sys.argv[1:])"
    for argv in (["train", "--help"], ["export", "--out", "x"]):
        err = _run(code, *argv, rc=1).stderr
        assert "needs the [train] extra (no module 'torch')" in err and "Traceback" not in err


@needs_shipped
@pytest.mark.parametrize("backend", ["numba", "numba-int8", "onnx-int8"])
def test_transcribe_without_torch(backend):
    out = _run("from transducer.cli import main; main(sys.argv[1:])",
               "transcribe", str(SAMPLE), "--backend", backend).stdout  # fmt: skip
    assert out.split(": ", 1)[1].strip() == SAMPLE.with_suffix(".txt").read_text().strip()


TOKENS = """
from transducer.audio import read_audio
from transducer.recognizer import SAMPLE, EndpointConfig, Recognizer

def tokens(model=None):
    rec = Recognizer(model, endpoint=EndpointConfig(1e9, 1e9, 1e9))
    stream = rec.create_stream()
    stream.accept_waveform(16000, read_audio(SAMPLE))
    stream.input_finished()
    while rec.is_ready(stream):
        rec.decode_stream(stream)
    return rec.get_result(stream).tokens
"""


@needs_shipped
def test_recognizer_without_torch_gives_the_checkpoints_tokens():
    """The default numba backend runs the export folder's Numba weights: the same tokens as
    the checkpoint's (which needs torch to read)."""
    namespace = {}
    exec(TOKENS, namespace)
    expected = namespace["tokens"](DEFAULT_MODEL)
    out = _run(TOKENS + 'print(tokens()); assert "torch" not in sys.modules').stdout
    assert out.strip() == str(expected) and len(expected) > 50


@pytest.mark.slow  # minutes: downloads and installs numba, onnxruntime, ...
@needs_shipped
def test_base_install_in_a_fresh_venv(tmp_path):
    """`pip install .` (no extras) into an empty venv: `transducer transcribe` works, torch is
    absent. Needs PyPI (or pip's cache); skips without it. `pytest -m slow tests/test_runtime.py`"""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = subprocess.run([py, "-m", "pip", "install", "--quiet", str(ROOT)], capture_output=True,
                         text=True, env=env, timeout=900)  # fmt: skip
    for built in [ROOT / "build" / "lib", *ROOT.glob("build/bdist.*")]:  # pip's in-tree build
        shutil.rmtree(built, ignore_errors=True)
    if pip.returncode != 0:
        if "Could not find a version" in pip.stderr or "NewConnectionError" in pip.stderr:
            pytest.skip(f"PyPI not reachable: {pip.stderr[-300:]}")
        raise AssertionError(pip.stderr[-3000:])
    out = subprocess.run([env_dir / "bin" / "transducer", "transcribe", SAMPLE], cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split(": ", 1)[1].strip() == SAMPLE.with_suffix(".txt").read_text().strip()
    torch = subprocess.run([py, "-c", "import torch"], capture_output=True, text=True)
    assert torch.returncode != 0 and "No module named 'torch'" in torch.stderr
