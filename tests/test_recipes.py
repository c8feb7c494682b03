"""The recipes' configs: each loads, and each one the default recipe names exists."""

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from transducer.runinfo import read_csv
from transducer.train import load_config

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*/*.json")), ids=lambda p: p.name)
def test_recipe_config_loads(path):
    load_config(path)


def test_default_recipe_names_existing_configs_and_parses():
    script = RECIPES / "default" / "run.sh"
    names = set(re.findall(r"\$here/([\w-]+)\.json", script.read_text()))
    assert names == {"v2"} and (RECIPES / "default" / "v2.json").exists()
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_word_error_counts():
    spec = importlib.util.spec_from_file_location("words", RECIPES / "default" / "words.py")
    words = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(words)
    refs = {"a": "the cat sat on the mat", "b": "pi seconds now"}
    hyps = {"a": "the cat sad on mat", "b": "piss econds now extra"}
    counts = words.count(refs, hyps, {"a": "espeak", "b": "flite"}, {"the", "cat", "sad", "piss"})
    assert counts["espeak"] == {"words": 6, "substituted words": 1, "deleted": 1}
    assert counts["flite"] == {"words": 3, "substituted words": 1, "substituted non-words": 1,
                               "inserted non-words": 1}  # fmt: skip


def test_real_recipe_names_existing_configs_and_parses():
    script = RECIPES / "real" / "run.sh"
    names = set(re.findall(r"([\w-]+\.json) ", script.read_text()))
    assert {"finetune-a.json", "finetune-b.json"} <= names
    assert all((RECIPES / "real" / n).exists() for n in names)
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_librispeech_recipe_parses_and_names_its_configs():
    script = RECIPES / "librispeech" / "run.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "${size}h.json" in text and "smoke.json" in text
    for name in ("100h", "960h", "smoke"):
        load_config(RECIPES / "librispeech" / f"{name}.json")


@pytest.mark.integration
@pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("flite")),
    reason="espeak-ng and flite not installed (apt-get install espeak-ng flite)",
)
@pytest.mark.skipif(
    not (RECIPES.parent / ".venv" / "bin" / "transducer").exists(),
    reason="the recipes run .venv/bin/transducer: run `make test`",
)
def test_librispeech_smoke_recipe_runs_every_stage(tmp_path):
    """--smoke: a LibriSpeech-format corpus from synthetic speech through import, training (its
    loss falls), averaging, decoding of the three sets and a checked ONNX export, on the CPU."""
    exp = tmp_path / "smoke"
    done = subprocess.run(["bash", str(RECIPES / "librispeech" / "run.sh"), "--smoke", "--exp",
                           str(exp)], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in (exp / "results.jsonl").read_text().splitlines()]
    assert [r["set"] for r in results] == ["dev-clean", "test-clean", "test-other"]
    assert all(r["result"]["n_utts"] > 5 and r["result"]["cer"] <= 1.0 for r in results)
    losses = [float(row["loss"]) for row in read_csv(exp / "train" / "metrics.csv")]
    assert len(losses) > 5 and max(losses[-3:]) < losses[0] - 1.0
    assert "export ok: True" in done.stdout
