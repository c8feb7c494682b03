"""Text: a normaliser to spoken form and the character tokenizer.

Spoken form: lowercase ASCII letters, spaces and apostrophes inside words; numbers, ordinals,
years, decimals, times, money and percentages written out as words; other punctuation dropped.
"""

import functools
import re
import unicodedata
from pathlib import Path

from transducer import config

BLANK = "<e>"  # end-of-block symbol; the blank of the full-sum (RNN-T) loss
UNK = "<unk>"
RESERVED = (BLANK, UNK)
SPACE = "▁"  # how a space is written in tokens.txt (sherpa-onnx convention)

# ---------------------------------------------------------------- numbers to words

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def number_to_words(n: int) -> str:
    """Cardinal: 1234 -> 'one thousand two hundred thirty four'."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (" " + _ONES[ones] if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + (" " + number_to_words(rest) if rest else "")
    for scale, name in _SCALES:
        if n >= scale:
            head, rest = divmod(n, scale)
            return (
                number_to_words(head) + " " + name + (" " + number_to_words(rest) if rest else "")
            )
    raise AssertionError(n)


def ordinal_to_words(n: int) -> str:
    """21 -> 'twenty first'."""
    words = number_to_words(n).split()
    last = words[-1]
    if last in _ORDINAL:
        words[-1] = _ORDINAL[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year_to_words(n: int) -> str:
    """1984 -> 'nineteen eighty four', 1900 -> 'nineteen hundred', 2005 -> 'two thousand five'."""
    if 2000 <= n <= 2009 or not 1100 <= n <= 2099:
        return number_to_words(n)
    head, tail = divmod(n, 100)
    if tail == 0:
        return number_to_words(head) + " hundred"
    return number_to_words(head) + (" oh " if tail < 10 else " ") + number_to_words(tail)


def _digits(s: str) -> str:
    return " ".join(_ONES[int(c)] for c in s)


def _money(m: re.Match) -> str:
    dollars, cents = int(m[1].replace(",", "")), int(m[2] or 0)
    words = number_to_words(dollars) + (" dollar" if dollars == 1 else " dollars")
    if cents:
        words += " " + number_to_words(cents) + (" cent" if cents == 1 else " cents")
    return f" {words} "


def _number(m: re.Match) -> str:
    whole, frac = m[1].replace(",", ""), m[2]
    if frac is not None:
        return f" {number_to_words(int(whole))} point {_digits(frac)} "
    n = int(whole)
    is_year = len(whole) == 4 and "," not in m[1]
    return f" {year_to_words(n) if is_year else number_to_words(n)} "


_ABBREVIATIONS = {
    "mr": "mister",
    "mrs": "missus",
    "ms": "miz",
    "dr": "doctor",
    "st": "saint",
    "jr": "junior",
    "sr": "senior",
    "vs": "versus",
    "etc": "et cetera",
    "prof": "professor",
}
_SYMBOLS = {"&": " and ", "%": " percent ", "+": " plus ", "@": " at ", "=": " equals "}

_RULES: list[tuple[re.Pattern, object]] = [
    (
        re.compile(r"\b(" + "|".join(_ABBREVIATIONS) + r")\.", re.I),
        lambda m: _ABBREVIATIONS[m[1].lower()],
    ),
    (re.compile(r"\$(\d[\d,]*)(?:\.(\d\d))?\b"), _money),
    (re.compile(r"\b(\d{1,2}):(\d\d)\b"), lambda m: f" {_clock(int(m[1]), int(m[2]))} "),
    (
        re.compile(r"\b(\d[\d,]*)(?:st|nd|rd|th)\b", re.I),
        lambda m: f" {ordinal_to_words(int(m[1].replace(',', '')))} ",
    ),
    (re.compile(r"\b(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?\b"), _number),
]


def _clock(hours: int, minutes: int) -> str:
    if minutes == 0:
        return number_to_words(hours) + " o'clock"
    return number_to_words(hours) + (" oh " if minutes < 10 else " ") + number_to_words(minutes)


def normalize(text: str, american: bool = True) -> str:
    """Raw English text -> spoken form in American spelling: 'Dr. Who paid $3.50 for the
    colour on May 1st!' -> 'doctor who paid three dollars fifty cents for the color on may
    first'. american=False keeps the text's own spelling (`data.sentences` pools)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = text.replace("`", "'")
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    text = text.lower()
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)  # keep apostrophes only inside words
    text = re.sub(r"[^a-z']+", " ", text)
    return american_spelling(text) if american else " ".join(text.split())


def american_spelling(text: str) -> str:
    """Normalised text with British spellings made American (colour -> color)."""
    table = _american()
    return " ".join(table.get(w, w) for w in text.split())


@functools.cache
def _american() -> dict[str, str]:
    """British -> American spellings (`recipes/lm/spelling.py`, from Debian's SCOWL lists)."""
    lines = (Path(__file__).parent / "data" / "american.tsv").read_text().splitlines()
    return dict(line.split("\t") for line in lines)


# ---------------------------------------------------------------- tokenizers


class CharTokenizer:
    """Characters plus the reserved symbols: id 0 is `<e>` (end of block), id 1 `<unk>`.

    Saved as a sherpa-onnx style `tokens.txt` ("symbol id" per line, space written as ▁).
    """

    def __init__(self, symbols: list[str]):
        if tuple(symbols[: len(RESERVED)]) != RESERVED:
            raise ValueError(f"token list must start with {RESERVED}, got {symbols[:2]}")
        if len(set(symbols)) != len(symbols):
            raise ValueError("token list has duplicate symbols")
        self.symbols = list(symbols)
        self._ids = {s: i for i, s in enumerate(symbols)}

    @classmethod
    def english(cls) -> "CharTokenizer":
        """The default vocabulary: space, apostrophe and a-z (the normaliser's alphabet)."""
        return cls([*RESERVED, " ", "'", *"abcdefghijklmnopqrstuvwxyz"])

    blank_id = config.BLANK  # <e>
    unk_id = config.UNK

    def __len__(self) -> int:
        return len(self.symbols)

    def encode(self, text: str) -> list[int]:
        return [self._ids.get(c, self.unk_id) for c in text]

    def decode(self, ids) -> str:
        return "".join(self.symbols[i] for i in ids if i >= len(RESERVED))

    def save(self, path: str | Path) -> None:
        lines = [f"{s.replace(' ', SPACE)} {i}" for i, s in enumerate(self.symbols)]
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "CharTokenizer":
        return cls(_read_tokens_txt(Path(path)))


def _read_tokens_txt(path: Path) -> list[str]:
    symbols: dict[int, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e})") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot read tokens ({e.strerror})") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise ValueError(f"{path}:{lineno}: expected 'symbol id', got {line!r}")
        symbols[int(parts[1])] = parts[0].replace(SPACE, " ")
    if sorted(symbols) != list(range(len(symbols))):
        raise ValueError(f"{path}: token ids must be 0..{len(symbols) - 1} without gaps")
    return [symbols[i] for i in range(len(symbols))]
