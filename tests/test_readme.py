"""The README stays a short user's guide whose examples work: its Python blocks run on the
bundled sample, and every command line in its shell blocks parses with the CLI of today (the
options it shows exist), names modules that exist and files of this repository that exist."""

import argparse
import importlib.util
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from transducer.recognizer import DEFAULT_EXPORT, SAMPLE

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def _commands() -> list[list[str]]:
    """Each shell line (continuations joined, comments and [optional] brackets dropped)."""
    commands = []
    for block in _blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" # ")[0].replace("[", "").replace("]", "").strip()
            if line:
                commands.append(shlex.split(line))
    return commands


def test_readme_is_short():
    assert len(README.encode()) <= 10_240


@pytest.mark.skipif(not DEFAULT_EXPORT.exists(), reason="no default model shipped")
def test_python_examples_run(capsys):
    from transducer.audio import read_audio_raw

    samples, sample_rate = read_audio_raw(SAMPLE)
    blocks = _blocks("python")
    assert blocks
    for block in blocks:
        scope = {"samples": samples, "sample_rate": sample_rate}
        exec(compile(block, "README.md", "exec"), scope)
    text = SAMPLE.with_suffix(".txt").read_text().strip()
    assert [s.text for s in scope["segments"]] == [text]


def test_command_lines_parse():
    from transducer.cli import build_parser
    from transducer.train import add_arguments

    commands = _commands()
    assert len(commands) > 15
    for argv in commands:
        if argv[0] == "transducer" and argv[1] == "train":
            parser = argparse.ArgumentParser(exit_on_error=False)
            add_arguments(parser)
            parser.parse_args(argv[2:])
        elif argv[0] == "transducer":
            args, rest = build_parser().parse_known_args(argv[1:])
            assert not rest, argv
        elif "-m" in argv:  # python -m MODULE, torchrun -m MODULE
            module = argv[argv.index("-m") + 1]
            assert importlib.util.find_spec(module) is not None, argv
        elif argv[0] == "bash":  # a recipe: it parses
            subprocess.run(["bash", "-n", str(ROOT / argv[1])], check=True)
        else:
            assert argv[0] == "make" and argv[1] in ("demo", "test"), argv
        for word in argv:
            if word.startswith(("recipes/", "transducer/", "demo/")):
                assert (ROOT / word).exists(), (argv, word)
