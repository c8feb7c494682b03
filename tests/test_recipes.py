"""The recipes' configs: each loads, and each one the default recipe names exists."""

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

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
