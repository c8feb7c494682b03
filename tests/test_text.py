import shutil

import pytest

from transducer.phonemes import PHONES, phonemize
from transducer.text import (
    CharTokenizer,
    normalize,
    number_to_words,
    ordinal_to_words,
    year_to_words,
)


@pytest.mark.parametrize(
    "raw,spoken",
    [
        (
            "Dr. Who paid $3.50 on May 1st!",
            "doctor who paid three dollars fifty cents on may first",
        ),
        (
            "In 1984, 1,000 people ate 3.14 pies.",
            "in nineteen eighty four one thousand people ate three point one four pies",
        ),
        ("Meet at 10:05, or 7:00.", "meet at ten oh five or seven o'clock"),
        ("50% & more", "fifty percent and more"),
        ("Don't 'quote' me, students' café", "don't quote me students cafe"),
        ("The 21st and 112th -- 12th!", "the twenty first and one hundred twelfth twelfth"),
        ("  Hello,\tWORLD?!  ", "hello world"),
        (
            "in 2005 and 1900 and 1905",
            "in two thousand five and nineteen hundred and nineteen oh five",
        ),
        ("$1", "one dollar"),
        (  # American spelling; words that merely look British stay
            "My neighbour travelled to the Theatre Centre; she filled four tyres.",
            "my neighbor traveled to the theater center she filled four tires",
        ),
    ],
)
def test_normalize(raw, spoken):
    assert normalize(raw) == spoken


def test_numbers():
    assert number_to_words(0) == "zero"
    assert number_to_words(1_000_001) == "one million one"
    assert number_to_words(-15) == "minus fifteen"
    assert number_to_words(999_999) == "nine hundred ninety nine thousand nine hundred ninety nine"
    assert ordinal_to_words(3) == "third" and ordinal_to_words(40) == "fortieth"
    assert year_to_words(2024) == "twenty twenty four"
    assert year_to_words(12345) == "twelve thousand three hundred forty five"


def test_normalized_alphabet_is_the_tokenizer_alphabet():
    tok = CharTokenizer.english()
    text = normalize("It's 3:15 -- Über-cool café #1 (98.6°F)!")
    assert tok.unk_id not in tok.encode(text)


def test_char_tokenizer_roundtrip(tmp_path):
    tok = CharTokenizer.english()
    assert tok.symbols[:2] == ["<e>", "<unk>"] and tok.blank_id == 0 and len(tok) == 30
    ids = tok.encode("it's ok")
    assert tok.decode(ids) == "it's ok"
    assert tok.encode("é") == [tok.unk_id]
    tok.save(tmp_path / "tokens.txt")
    assert "▁ 2" in (tmp_path / "tokens.txt").read_text()
    assert CharTokenizer.load(tmp_path / "tokens.txt").symbols == tok.symbols


def test_tokenizer_errors(tmp_path):
    with pytest.raises(ValueError, match="must start with"):
        CharTokenizer(["a", "b"])
    (tmp_path / "bad.txt").write_text("<e> 0\n<unk>\n")
    with pytest.raises(ValueError, match="bad.txt:2"):
        CharTokenizer.load(tmp_path / "bad.txt")
    (tmp_path / "latin1.txt").write_bytes("<e> 0\n\xe9 1\n".encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.txt: not UTF-8"):
        CharTokenizer.load(tmp_path / "latin1.txt")


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng not installed")
def test_phonemize_gives_one_phoneme_list_per_text():
    texts = ["hello world", "", "the cat's hat", "Hello. World!\n", "hello world"]
    hello, empty, cat, shouted, again = phonemize(texts)
    assert [PHONES[i - 1] for i in hello] == ["h", "ə", "l", "oʊ", "w", "ɜː", "l", "d"]
    assert empty == [] and len(cat) >= 7 and all(1 <= i <= len(PHONES) for i in cat)
    assert shouted == hello == again  # punctuation and case do not split or change a text
