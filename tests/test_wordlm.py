import math

import numpy as np
import pytest

from tests.test_lm import SMALL, fused_searches
from transducer.lm import train
from transducer.text import CharTokenizer
from transducer.wordlm import SPHINX_LM, WordLM

TOK = CharTokenizer.english()
ARPA = """\\data\\
ngram 1=5
ngram 2=5
ngram 3=2

\\1-grams:
-1.0 </s>
-99 <s> -0.5
-0.7 cat -0.3
-0.6 sat -0.2
-0.9 the -0.4

\\2-grams:
-0.3 <s> the -0.1
-0.2 the cat -0.15
-0.4 cat sat -0.05
-0.5 sat </s>
-0.6 cat the

\\3-grams:
-0.1 <s> the cat
-0.05 the cat sat

\\end\\
"""


@pytest.fixture
def tiny(tmp_path) -> WordLM:
    (tmp_path / "tiny.arpa").write_text(ARPA)
    return WordLM.from_arpa(tmp_path / "tiny.arpa", TOK, weight=0.5, bonus=1.0, oov_logp=-9.0)


def log10_prob(lm, *words) -> float:
    ids = [lm.words.index(w) if w in lm.words else -1 for w in words]
    history = ids[:-1][::-1] + [-1, -1]
    return round(lm.log_prob(ids[-1], history[0], history[1]) / math.log(10), 6)


@pytest.mark.parametrize("words,expected", [
    (("the", "cat", "sat"), -0.05),  # a trigram
    (("<s>", "the", "cat"), -0.1),
    (("cat", "the", "cat"), -0.2),  # the bigram; "cat the" has no backoff weight
    (("the", "sat"), -0.4 - 0.6),  # backoff weight of "the", then the unigram
    (("<s>", "the", "sat"), -0.1 - 0.4 - 0.6),  # and of "<s> the" before that
    (("the", "cat", "the"), -0.15 - 0.6),  # "cat the", after the weight of "the cat"
    (("cat",), -0.7),
    (("the", "dog"), -9.0 / math.log(10)),  # out of the vocabulary
])  # fmt: skip
def test_backoff_probabilities(tiny, words, expected):
    assert log10_prob(tiny, *words) == pytest.approx(expected, abs=1e-6)


def test_history_and_word_end_scores(tiny):
    space = TOK.symbols.index(" ")
    the, cat = tiny.words.index("the"), tiny.words.index("cat")
    assert tiny.history(TOK.encode("the cat sa"), space)[:2] == (the, cat)
    assert tiny.history(TOK.encode("the  cat "), space)[:2] == (the, cat)  # empty words skipped
    assert tiny.history(TOK.encode("cat"), space)[:2] == (-1, tiny.bos)
    assert tiny.history(TOK.encode("dog cat "), space)[:2] == (-1, cat)  # unknown: -1
    assert tiny.history(TOK.encode("the "), space)[2] == 0  # no word in progress
    chars = train(["the cat sat", "a dog sat"], TOK, order=3, min_count=1, weight=0.25)
    tokens = TOK.encode("the cat sat")
    spelled = sum(float(chars.log_probs(tokens[:i])[tokens[i]]) for i in (8, 9, 10))
    assert chars.spelled(tokens) == pytest.approx(spelled)
    letters = spelled + float(chars.log_probs(tokens)[space])  # and the space that ends them
    expected = 0.5 * (-0.05 * math.log(10)) - 0.25 * letters + 1.0  # replaces their score
    scores = tiny.label_scores(tokens, chars)
    assert scores[space - 1] == pytest.approx(expected, abs=1e-6)
    leave = np.float32(0.5 * -9.0)  # letters that make "sat" no start of a word pay that
    assert all(scores[t - 1] == leave for t in range(3, len(TOK.symbols)))
    s, c, t = (TOK.symbols.index(x) for x in "sct")
    assert scores[s - 1] == scores[c - 1] == leave  # "sats", "satc" start no word either
    starts = tiny.label_scores(TOK.encode("the ca"), chars)  # "cat" is a word: "t" stays
    assert starts[t - 1] == 0 and starts[s - 1] == leave
    assert tiny.label_scores(TOK.encode("the dxg"), chars)[space - 1] == np.float32(1.0)  # paid
    oov = tiny.label_scores(TOK.encode("the ca"), chars)[space - 1]  # not yet: pays at the end
    assert oov == np.float32(0.5 * -9.0 + 1.0)
    assert tiny.label_scores(TOK.encode("the cat "), chars)[space - 1] == 0


def test_files(tiny, tmp_path):
    tiny.save(tmp_path / "words.npz")
    back = WordLM.load(tmp_path / "words.npz")
    assert back.words == tiny.words and back.symbols == tiny.symbols
    assert (back.weight, back.bonus, back.oov_logp, back.bos) == (0.5, 1.0, -9.0, tiny.bos)
    assert all(np.array_equal(a, b) for a, b in zip(back.arrays(), tiny.arrays(), strict=True))
    with pytest.raises(ValueError, match="no such word language model"):
        WordLM.load(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes((tmp_path / "words.npz").read_bytes()[:300])
    with pytest.raises(ValueError, match=r"bad\.npz: not a readable word language model"):
        WordLM.load(tmp_path / "bad.npz")
    (tmp_path / "x.bin").write_bytes(b"Trie Language Model\x03" + bytes(100))
    with pytest.raises(ValueError, match="truncated"):
        WordLM.from_sphinx(tmp_path / "x.bin", TOK)
    with pytest.raises(ValueError, match="not a Sphinx trie"):
        WordLM.from_sphinx(tmp_path / "words.npz", TOK)


# log p(w | h2 h1) in Sphinx's units (log base 1.0001), as pocketsphinx 5's NGramModel.prob
# gives them for its en-us.lm.bin
SPHINX_SCORES = {("the",): -31995, ("of", "the"): -16085, ("one", "of", "the"): -7041,
                 ("half", "past", "seven"): -55403, ("half", "passed", "seven"): -92148,
                 ("<s>", "the"): -29219, ("the", "cat", "sat"): -86059,
                 ("cat", "sat", "on"): -22173, ("zebra", "ate", "the"): -25693,
                 ("quantum", "cat", "sat"): -85442}  # fmt: skip


@pytest.mark.skipif(not SPHINX_LM.exists(), reason="needs Debian's pocketsphinx-en-us")
def test_sphinx_trie_reads_as_pocketsphinx_scores_it():
    lm = WordLM.from_sphinx(SPHINX_LM, TOK)
    assert len(lm.words) == 72547 and len(lm.hashes) > 72000
    assert len(lm.b_word) > 2_000_000 and len(lm.t_word) > 1_600_000
    for words, score in SPHINX_SCORES.items():
        assert log10_prob(lm, *words) * math.log(10) / math.log(1.0001) == pytest.approx(
            score, abs=2
        )
    assert lm.word_id(TOK.encode("neighbor")) >= 0  # American spelling


@pytest.mark.parametrize("mode,attention", [("fullsum", "dot"), ("paper", "lstm")])
def test_word_lm_beam_numba_equals_torch(mode, attention, tmp_path):
    """With a word LM on top of the character LM, both searches score each word they end
    alike, and a strong one changes what they find."""
    arpa = ARPA.replace("cat", "bad").replace("sat", "fed").replace("the", "abc")
    (tmp_path / "w.arpa").write_text(arpa)
    chars = train(["abc abc bad", "cab dab", "hig hig fed"], SMALL, order=3, min_count=1,
                  weight=1.5, bonus=8.0)  # fmt: skip
    words = WordLM.from_arpa(tmp_path / "w.arpa", SMALL, weight=3.0, bonus=4.0, oov_logp=-6.0)
    fused, plain = fused_searches(mode, attention, chars._replace(word_lm=words), chars)
    assert fused != plain


def test_recognizer_takes_a_word_lm_on_top_of_the_character_lm(tiny, tmp_path):
    from transducer.recognizer import DEFAULT_LM, DEFAULT_MODEL, DEFAULT_WORD_LM, Recognizer

    if not DEFAULT_LM.exists():
        pytest.skip("no default model shipped")
    tiny.save(tmp_path / "words.npz")
    rec = Recognizer(DEFAULT_MODEL, lm=DEFAULT_LM, word_lm=tmp_path / "words.npz",
                     word_lm_weight=0.7)  # fmt: skip
    assert rec.lm.word_lm.weight == 0.7 and rec.lm.word_lm.words == tiny.words
    assert Recognizer(DEFAULT_MODEL, lm=DEFAULT_LM).lm.word_lm is None  # only when asked
    assert Recognizer(word_lm_weight=0).lm.word_lm is None
    if DEFAULT_WORD_LM.exists():  # built by make: the shipped model uses it by default
        assert Recognizer().lm.word_lm is not None
    with pytest.raises(ValueError, match="on top of a character LM"):
        Recognizer(DEFAULT_MODEL, word_lm=tmp_path / "words.npz")
    other = WordLM.from_arpa(tmp_path / "tiny.arpa", SMALL)
    other.save(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="other tokens"):
        Recognizer(DEFAULT_MODEL, lm=DEFAULT_LM, word_lm=tmp_path / "other.npz")


def test_arpa_errors_name_the_line_and_orphan_trigrams_are_dropped(tmp_path):
    (tmp_path / "bad.arpa").write_text(ARPA.replace("-0.6 cat the", "-0.6x cat the"))
    with pytest.raises(ValueError, match=r"bad\.arpa:18: not a 2-gram line"):
        WordLM.from_arpa(tmp_path / "bad.arpa", TOK)
    (tmp_path / "dog.arpa").write_text(ARPA.replace("-0.6 cat the", "-0.6 dog the"))
    with pytest.raises(ValueError, match=r"no unigram: \['dog'\]"):
        WordLM.from_arpa(tmp_path / "dog.arpa", TOK)
    # "cat the sat" sits under no bigram "the sat": unreachable, left out, and no other
    # bigram's trigrams take it in
    orphan = ARPA.replace("ngram 3=2", "ngram 3=3").replace(
        "-0.05 the cat sat", "-0.05 the cat sat\n-0.01 cat the sat"
    )
    (tmp_path / "o.arpa").write_text(orphan)
    lm = WordLM.from_arpa(tmp_path / "o.arpa", TOK)
    assert len(lm.t_word) == 2 and log10_prob(lm, "cat", "the", "sat") == pytest.approx(-1.0)
