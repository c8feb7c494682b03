"""A character n-gram language model for shallow fusion in beam search.

Interpolated Kneser-Ney (one discount) over the tokenizer's symbols, with `<e>` (id 0) standing
for the sentence's start and end. The model is stored dense: for every context kept, the
log-probabilities of all V symbols with the lower orders already mixed in, so scoring a symbol
is one binary search for the longest kept context. A context is the last `order - 1` tokens,
`<e>`-padded at the start of a segment, packed 5 bits each into an int64 key.

In beam search a label's score becomes `log p_model + weight * log p_lm + bonus` (the bonus
pays back the LM's cost per label, which would otherwise favour ending the block); `<e>`'s is
unchanged. `weight` and `bonus` are stored with the model, tuned on dev.

An LM may also hold a lexicon: 32-bit hashes of the words of its sentences and of a word list.
Where a hypothesis's last word is in neither, the space that would end it scores
`oov_penalty` less: a word-level check the character n-gram, which sees only a few letters
back, cannot make.

    lm = train(sentences, CharTokenizer.english(), order=6)
    lm.save("lm.npz"); lm = CharLM.load("lm.npz")
"""

import json
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import numba as nb
import numpy as np

BITS = 5  # per token in a context key: vocabularies of up to 32 symbols
LEN_SHIFT = 58  # a key is (context length << LEN_SHIFT) | packed tokens
WORD_MUL, WORD_MASK = 1000003, (1 << 32) - 1  # the word hash: h = (h * MUL + token) & MASK
NO_WORDS = np.zeros(0, np.int64)


class CharLM(NamedTuple):
    keys: np.ndarray  # (n,) int64, sorted: one per kept context
    logp: np.ndarray  # (n, V) float32: log p(symbol | context)
    order: int
    weight: float  # fusion weight of log p_lm
    bonus: float  # added per label
    symbols: tuple[str, ...]  # the tokenizer's, checked against the model's
    words: np.ndarray = NO_WORDS  # (n,) int64, sorted: the lexicon's word hashes; empty: none
    oov_penalty: float = 0.0  # taken from a space that ends a word not in `words`
    word_lm: object = None  # a `transducer.wordlm.WordLM` scoring each word at its end

    @property
    def space(self) -> int:
        return self.symbols.index(" ")

    def out_of_lexicon(self, tokens) -> bool:
        """Whether a space after `tokens` would end a word the lexicon lacks (none: False)."""
        if not len(self.words):
            return False
        h = word_hash(tokens, self.space)
        return h != 0 and not _contains(self.words, h)

    def context(self, tokens) -> int:
        """The packed context after `tokens` (a segment's labels so far): its last order - 1."""
        n, code = self.order - 1, 0
        for t in tokens[-n:] if n else ():
            code = (code << BITS) | int(t)
        return code

    def spelled(self, tokens) -> float:
        """The sum of log p(letter | context) over the letters of the word `tokens` end with
        (those after the last space), in order: what a word LM's score replaces."""
        start = len(tokens)
        while start > 0 and tokens[start - 1] != self.space:
            start -= 1
        total = 0.0
        for i in range(start, len(tokens)):
            total += float(self.log_probs(tokens[:i])[tokens[i]])
        return total

    def log_probs(self, tokens) -> np.ndarray:
        """(V,) log p(next symbol | tokens)."""
        return self.logp[lm_row(self.keys, self.context(tokens), self.order)]

    def bits_per_symbol(self, sentences: list[list[int]]) -> float:
        """Cross-entropy over token sequences, each followed by its end (`<e>`)."""
        total, n = 0.0, 0
        for ids in sentences:
            for i, t in enumerate([*ids, 0]):
                total -= float(self.log_probs(ids[:i])[t])
                n += 1
        return total / max(n, 1) / np.log(2)

    def save(self, path: str | Path) -> None:
        meta = {"order": self.order, "weight": self.weight, "bonus": self.bonus,
                "symbols": list(self.symbols), "oov_penalty": self.oov_penalty}  # fmt: skip
        with open(path, "wb") as f:  # np.savez would append ".npz" to other names
            logp, words = self.logp.astype(np.float16), self.words.astype(np.uint32)
            np.savez_compressed(f, keys=self.keys, logp=logp, words=words, meta=json.dumps(meta))

    @classmethod
    def load(cls, path: str | Path) -> "CharLM":
        """ValueError naming the file if it is missing, unreadable or inconsistent."""
        try:
            with np.load(path) as npz:
                keys, logp = npz["keys"], npz["logp"].astype(np.float32)
                words = npz["words"].astype(np.int64) if "words" in npz else NO_WORDS
                meta = json.loads(str(npz["meta"]))
            lm = cls(keys, logp, int(meta["order"]), float(meta["weight"]),
                     float(meta["bonus"]), tuple(meta["symbols"]), words,
                     float(meta.get("oov_penalty", 0.0)))  # fmt: skip
        except FileNotFoundError:
            raise ValueError(f"{path}: no such language model file") from None
        except Exception as e:
            raise ValueError(f"{path}: not a readable language model ({e})") from e
        V = len(lm.symbols)
        if logp.shape != (len(keys), V) or keys.dtype != np.int64 or not 1 <= lm.order <= 12:
            raise ValueError(f"{path}: inconsistent language model (keys {keys.shape}, "
                             f"logp {logp.shape}, {V} symbols, order {lm.order})")  # fmt: skip
        if len(words) > 1 and not (np.diff(words) > 0).all():
            raise ValueError(f"{path}: inconsistent language model (lexicon not sorted)")
        return lm

    def with_weight(self, weight: float | None, bonus: float | None = None) -> "CharLM":
        """The same LM with another fusion weight and/or per-label bonus (None: keep its own)."""
        lm = self if weight is None else self._replace(weight=float(weight))
        return lm if bonus is None else lm._replace(bonus=float(bonus))


def train(sentences: list[str], tokenizer, order: int = 6, discount: float = 0.75,
          min_count: int = 3, weight: float = 0.2, bonus: float = 0.35,
          words: list[str] | None = None, oov_penalty: float = 2.0) -> CharLM:  # fmt: skip
    """Kneser-Ney character LM of `sentences`. Contexts of two or more tokens seen fewer than
    `min_count` times (continuation counts below the top order) are left out: they back off.
    With `words` (a word list), its lexicon is those words and the sentences' (any with a
    character the tokenizer lacks left out), and `oov_penalty` applies."""
    V = len(tokenizer)
    if V > 1 << BITS:
        raise ValueError(f"a character LM needs at most {1 << BITS} symbols, got {V}")
    if not 1 <= order <= 12:
        raise ValueError(f"order must be in 1..12, got {order}")
    # counts[k][context of k tokens] -> (V,): raw at the top order, continuation counts below
    counts = [defaultdict(lambda: np.zeros(V)) for _ in range(order)]
    grams = set()
    for s in sentences:
        ids = [0] * (order - 1) + tokenizer.encode(s) + [0]
        for i in range(order - 1, len(ids)):
            counts[order - 1][tuple(ids[i - order + 1 : i])][ids[i]] += 1
            grams.update(tuple(ids[i - k - 1 : i + 1]) for k in range(order - 1))
    for g in grams:  # (x, context..., w): one left extension x of (context, w)
        counts[len(g) - 2][g[1:-1]][g[-1]] += 1
    uniform = np.full(V, 1.0 / (V - 1))
    uniform[tokenizer.unk_id] = 0.0
    uniform /= uniform.sum()
    dists: dict[tuple, np.ndarray] = {}
    for k in range(order):
        for h, c in counts[k].items():
            if k >= 2 and c.sum() < min_count:
                continue
            lower, shorter = uniform, h[1:]
            if k > 0:
                while shorter not in dists:
                    shorter = shorter[1:]
                lower = dists[shorter]
            dists[h] = (np.maximum(c - discount, 0) + discount * (c > 0).sum() * lower) / c.sum()
    keys = np.array([_key(h) for h in dists], np.int64)
    logp = np.log(np.maximum(np.stack(list(dists.values())), 1e-30)).astype(np.float32)
    index = np.argsort(keys)
    lm = CharLM(keys[index], logp[index], order, weight, bonus, tuple(tokenizer.symbols))
    if words is None:
        return lm
    letters = set(tokenizer.symbols[2:]) - {" "}  # not <e>, <unk> or space
    spoken = (w for s in sentences for w in s.split())
    vocabulary = {w for w in {w.lower() for w in (*words, *spoken)} if set(w) <= letters}
    hashes = {word_hash(tokenizer.encode(w), lm.space) for w in vocabulary}
    return lm._replace(words=np.array(sorted(hashes), np.int64), oov_penalty=float(oov_penalty))


def from_text(files: list[Path] | None = None, dev_fraction: float = 0.05,
              test_fraction: float = 0.05, words_file: Path | None = None,
              **options) -> tuple[CharLM, float]:  # fmt: skip
    """An LM of the train split of `files` (default: Debian's fortunes), split by sentence hash
    as `transducer data synth` splits them, so no dev or test sentence of a corpus made with
    the same fractions is in it; and its bits per character on the dev split. `words_file`:
    a word list, one per line (e.g. Debian's /usr/share/dict/american-english-large), for the
    lexicon (`train`)."""
    from transducer.data.sentences import fortune_files, load_sentences, split_by_hash
    from transducer.text import CharTokenizer, american_spelling

    pools = split_by_hash(load_sentences(files or fortune_files()), dev_fraction, test_fraction)
    pools = {name: [american_spelling(s) for s in pool] for name, pool in pools.items()}
    tokenizer = CharTokenizer.english()
    words = None
    if words_file is not None:
        words = Path(words_file).read_text(encoding="utf-8", errors="replace").split()
    lm = train(pools["train"], tokenizer, words=words, **options)
    return lm, lm.bits_per_symbol([tokenizer.encode(s) for s in pools["dev"]])


def _key(context: tuple) -> int:
    code = 0
    for t in context:
        code = (code << BITS) | t
    return (len(context) << LEN_SHIFT) | code


@nb.njit(cache=True)
def lm_row(keys, code, order):
    """The row of the longest kept context ending `code` (the empty one is always kept)."""
    for n in range(order - 1, -1, -1):
        key = (n << LEN_SHIFT) | (code & ((1 << (BITS * n)) - 1))
        i = np.searchsorted(keys, key)
        if i < keys.shape[0] and keys[i] == key:
            return i
    return 0


def word_hash(tokens, space: int) -> int:
    """The hash of the word the tokens end with (those after the last space; 0: none yet).
    Reads back to that space only: the decoders call it per hypothesis and block."""
    start = len(tokens)
    while start > 0 and tokens[start - 1] != space:
        start -= 1
    h = 0
    for t in tokens[start:]:
        h = (h * WORD_MUL + int(t)) & WORD_MASK
    return h


def _contains(sorted_keys: np.ndarray, key: int) -> bool:
    i = np.searchsorted(sorted_keys, key)
    return bool(i < len(sorted_keys) and sorted_keys[i] == key)
