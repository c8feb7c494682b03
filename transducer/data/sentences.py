"""Real English sentences for synthesis, from Debian's `fortunes` (or any text files).

Sentences are normalised to spoken form, deduplicated, and split into train/dev/test by a hash of
the normalised text, so a test sentence can never also be a train sentence. They keep the text's
own spelling (`normalize(american=False)`): the pools, and so every corpus made from them, stay
the same when the spelling table grows; manifests and LMs take `text.american_spelling` of them.
"""

import hashlib
import re
from pathlib import Path

from transducer.text import normalize

FORTUNES_DIR = Path("/usr/share/games/fortunes")
SPLITS = ("train", "dev", "test")

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_ATTRIBUTION = re.compile(r"^\s*(--|- )")  # "-- Mark Twain"


def fortune_files(folder: Path = FORTUNES_DIR) -> list[Path]:
    """The plain-text fortune files (not the .dat indexes or .u8 links)."""
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: no fortunes found; install Debian's `fortunes` package "
            "(apt-get install fortunes fortunes-min) or pass --text FILE"
        )
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.suffix and not p.is_symlink()
    )


def split_sentences(text: str) -> list[str]:
    """Fortune-file text ('%'-separated entries) -> raw sentences, attributions dropped."""
    sentences = []
    for entry in re.split(r"^%\s*$", text, flags=re.M):
        lines = [ln for ln in entry.splitlines() if not _ATTRIBUTION.match(ln)]
        if any(_looks_like_art(ln) for ln in lines):
            continue
        sentences += _SENTENCE_END.split(" ".join(" ".join(lines).split()))
    return sentences


def _looks_like_art(line: str) -> bool:
    """ASCII art and code: lines heavy in symbols."""
    symbols = sum(not (c.isalnum() or c.isspace() or c in ".,;:!?'\"-()") for c in line)
    return symbols > 3 and symbols > 0.15 * len(line)


def load_sentences(
    files: list[Path], min_words: int = 3, max_words: int = 25, max_chars: int = 200
) -> list[str]:
    """Normalised, deduplicated sentences in a stable order."""
    seen, out = set(), []
    for path in files:
        for raw in split_sentences(path.read_text(encoding="utf-8", errors="replace")):
            s = normalize(raw, american=False)
            if min_words <= len(s.split()) <= max_words and len(s) <= max_chars and s not in seen:
                seen.add(s)
                out.append(s)
    if not out:
        raise ValueError(f"no usable sentences in {[str(f) for f in files]}")
    return out


def sentence_split(sentence: str, dev_fraction: float, test_fraction: float) -> str:
    """Which split a sentence belongs to, from a hash of its text (seed-independent)."""
    h = int.from_bytes(hashlib.sha1(sentence.encode()).digest()[:8], "big") / 2**64
    if h < test_fraction:
        return "test"
    return "dev" if h < test_fraction + dev_fraction else "train"


def split_by_hash(sentences: list[str], dev_fraction: float, test_fraction: float):
    """{split: [sentences]}; every split must get at least one sentence."""
    pools: dict[str, list[str]] = {s: [] for s in SPLITS}
    for sentence in sentences:
        pools[sentence_split(sentence, dev_fraction, test_fraction)].append(sentence)
    for name, pool in pools.items():
        if not pool:
            raise ValueError(f"no sentences fell into the {name} split; give more text")
    return pools
