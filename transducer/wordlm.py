"""A word trigram language model for beam search.

A backoff n-gram model (ARPA semantics) over a general English vocabulary, read from CMU
Sphinx's binary trie (`en-us.lm.bin` of Debian's pocketsphinx-en-us: 72.5k words, 2.05M
bigrams, 1.67M trigrams, Kneser-Ney smoothed by its makers) or from an ARPA file. It is stored
as that file stores it, a trie keyed from the predicted word back through its history: word w's
children are the words h1 seen before it, each with log p(w | h1) and the backoff weight of the
bigram "h1 w", and each of those children's children the words h2 of the trigrams "h2 h1 w".

In beam search it rides on the character LM (`label_scores`, which `search.beam_block` calls
and `fast._beam_block` mirrors): the space that ends a vocabulary word replaces the character
LM's score of its letters by `weight * log p(word | h2 h1) + bonus`; a letter that makes the
word in progress no start of any vocabulary word (a prefix table) pays `weight * oov_logp`
there, so misspellings fall behind while the beam still holds other spellings, and unknown
words stay possible at that price. Words are looked up by `lm.word_hash` of their tokens.

    lm = WordLM.from_sphinx(SPHINX_LM, CharTokenizer.english()); lm.save("words.npz")
"""

import json
from pathlib import Path
from typing import NamedTuple

import numba as nb
import numpy as np

from transducer.lm import WORD_MASK, WORD_MUL, word_hash

SPHINX_LM = Path("/usr/share/pocketsphinx/model/en-us/en-us.lm.bin")
SPHINX_HEADER = b"Trie Language Model"
LN10 = float(np.log(10))  # ARPA files hold log10
SPHINX_LOG = np.log(1.0001)  # Sphinx stores log-probabilities in units of log(1.0001)
QUANT_BINS = 1 << 16  # its 16-bit quantisation tables
IN_TREE = 1 << 62  # the bit of `p_masks` that every start of a word has


class WordLM(NamedTuple):
    hashes: np.ndarray  # (n,) int64 sorted: `word_hash` of the words the tokenizer can spell
    ids: np.ndarray  # (n,) int64: their word ids
    u_prob: np.ndarray  # (V,) float32 natural-log p(w); u_bo its backoff weight
    u_bo: np.ndarray
    u_next: np.ndarray  # (V + 1,) int32: w's children are bigram entries u_next[w]:u_next[w+1]
    b_word: np.ndarray  # (n2,) int32: h1, sorted within each w
    b_prob: np.ndarray  # (n2,) float32: log p(w | h1); b_bo: backoff weight of "h1 w"
    b_bo: np.ndarray
    b_next: np.ndarray  # (n2 + 1,) int32: the trigram entries below each bigram entry
    t_word: np.ndarray  # (n3,) int32: h2, sorted within each bigram entry
    t_prob: np.ndarray  # (n3,) float32: log p(w | h2 h1)
    p_hashes: np.ndarray  # (P,) int64 sorted: `word_hash` of every start of a spellable word
    p_masks: np.ndarray  # (P,) int64: bit t set if that start + token t starts one too; bit 62
    words: tuple[str, ...]
    bos: int  # the id of <s>
    symbols: tuple[str, ...]  # the tokenizer's whose tokens `hashes` hash
    # tuned on dev (data/h20a/dev and the game's held-out characters, 150 each; the mean of
    # their WERs): docs/experiments/003-word-lm.md
    weight: float = 0.4
    bonus: float = 0.25
    oov_logp: float = -3.0

    def word_id(self, tokens) -> int:
        """The id of the word `tokens` spell, -1 if the vocabulary lacks it."""
        return lookup(self.hashes, self.ids, word_hash(tokens, -1))

    def log_prob(self, w: int, h1: int = -1, h2: int = -1) -> float:
        """log p(w | h2 h1) (ids; -1: no such history word); `oov_logp` for w = -1."""
        return float(log_prob(self.arrays(), w, h1, h2, self.oov_logp))

    def arrays(self) -> tuple:
        return (self.u_prob, self.u_bo, self.u_next, self.b_word, self.b_prob, self.b_bo,
                self.b_next, self.t_word, self.t_prob)  # fmt: skip

    def history(self, tokens, space: int) -> tuple[int, int, int]:
        """(h2, h1, hash of the word in progress) after `tokens`: the ids of the last two
        finished words (`<s>` before the first and -1 before that; -1 for unknown words).
        Reads back over those words only: the decoders call it per hypothesis and block."""
        i = len(tokens)
        while i > 0 and tokens[i - 1] != space:
            i -= 1  # tokens[i:] is the word in progress; tokens[i - 1], if any, a space
        ids = []
        while len(ids) < 2 and i > 0:
            k = end = i - 1
            while k > 0 and tokens[k - 1] != space:
                k -= 1
            if k < end:  # a word (two spaces in a row end none)
                ids.append(self.word_id(tokens[k:end]))
            i = k
        ids += [self.bos, -1][: 2 - len(ids)]
        return ids[1], ids[0], word_hash(tokens, space)

    def label_scores(self, tokens, char_lm) -> np.ndarray:
        """(V - 1,) what each label after `tokens` adds to its score beside the character LM
        (`search.beam_block`): a letter that makes the word in progress no start of any
        vocabulary word, weight * oov_logp (so a misspelling pays as soon as it is one, while
        the beam still holds the right spelling); the space that ends a vocabulary word,
        weight * log p(word | h2 h1) + bonus less the character LM's weighted log p of its
        letters and that space (so the word LM's score replaces the spelling's); the space
        that ends another word, the bonus, plus weight * oov_logp if no letter paid it."""
        space = char_lm.space
        h2, h1, current = self.history(tokens, space)
        scores = np.zeros(len(self.symbols) - 1, np.float32)
        mask = continuations(self.p_hashes, self.p_masks, current)
        leave = np.float32(self.weight * self.oov_logp)
        for t in range(1, len(self.symbols)):
            if mask != 0 and t != space and not (mask >> t) & 1:
                scores[t - 1] += leave
        if current == 0:
            return scores
        w = lookup(self.hashes, self.ids, current)
        if w < 0:
            value = (self.weight * self.oov_logp if mask != 0 else 0.0) + self.bonus
        else:
            chars = char_lm.spelled(tokens) + float(char_lm.log_probs(tokens)[space])
            lp = log_prob(self.arrays(), w, h1, h2, self.oov_logp)
            value = self.weight * lp - char_lm.weight * chars + self.bonus
        scores[space - 1] += np.float32(value)
        return scores

    def with_weight(self, weight: float | None, bonus: float | None = None) -> "WordLM":
        lm = self if weight is None else self._replace(weight=float(weight))
        return lm if bonus is None else lm._replace(bonus=float(bonus))

    # ------------------------------------------------------------ files

    def save(self, path: str | Path) -> None:
        meta = {"bos": self.bos, "symbols": list(self.symbols), "weight": self.weight,
                "bonus": self.bonus, "oov_logp": self.oov_logp}  # fmt: skip
        arrays = {f: getattr(self, f) for f in self._fields[:13]}
        with open(path, "wb") as f:  # np.savez would append ".npz" to other names
            np.savez(f, **arrays, words="\n".join(self.words), meta=json.dumps(meta))

    @classmethod
    def load(cls, path: str | Path) -> "WordLM":
        """ValueError naming the file if it is missing, unreadable or inconsistent."""
        try:
            with np.load(path) as npz:
                arrays = {f: npz[f] for f in cls._fields[:13]}
                words = tuple(str(npz["words"]).split("\n"))
                meta = json.loads(str(npz["meta"]))
        except FileNotFoundError:
            raise ValueError(f"{path}: no such word language model file") from None
        except Exception as e:
            raise ValueError(f"{path}: not a readable word language model ({e})") from e
        meta["symbols"] = tuple(meta["symbols"])
        lm = cls(**arrays, words=words, **meta)
        if not lm.consistent():
            raise ValueError(f"{path}: inconsistent word language model")
        return lm

    def consistent(self) -> bool:
        """Sizes, order and ranges that the searches rely on (they do not check bounds)."""
        V, sorted_ = len(self.u_prob), lambda a: bool((np.diff(a) >= 0).all())  # noqa: E731
        in_range = lambda a, n: len(a) == 0 or (a.min() >= 0 and a.max() < n)  # noqa: E731
        return (len(self.words) == V == len(self.u_next) - 1 == len(self.u_bo)
                and len(self.b_next) == len(self.b_word) + 1 == len(self.b_prob) + 1
                and len(self.t_word) == len(self.t_prob) and len(self.hashes) == len(self.ids)
                and self.u_next[0] == 0 and self.u_next[-1] == len(self.b_word)
                and self.b_next[0] == 0 and self.b_next[-1] == len(self.t_word)
                and sorted_(self.u_next) and sorted_(self.b_next) and sorted_(self.hashes)
                and in_range(self.b_word, V) and in_range(self.t_word, V)
                and in_range(self.ids, V) and 0 <= self.bos < V
                and len(self.p_hashes) == len(self.p_masks) > 0 and self.p_hashes[0] == 0
                and sorted_(self.p_hashes))  # fmt: skip

    @classmethod
    def from_sphinx(cls, path: str | Path, tokenizer, **options) -> "WordLM":
        """Read CMU Sphinx's binary trie LM (`sphinx_lm_convert`'s .lm.bin, order 3)."""
        buf = Path(path).read_bytes()
        if not buf.startswith(SPHINX_HEADER):
            raise ValueError(f"{path}: not a Sphinx trie language model")
        if buf[len(SPHINX_HEADER) : len(SPHINX_HEADER) + 1] != b"\x03":
            raise ValueError(f"{path}: only trigram Sphinx models are read")
        try:
            words, arrays = _read_sphinx(buf, len(SPHINX_HEADER) + 1)
        except (ValueError, IndexError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: truncated or inconsistent Sphinx trie ({e})") from e
        return cls.build(words, tokenizer, *arrays, **options)

    @classmethod
    def build(cls, words, tokenizer, u_prob, u_bo, u_next, b_word, b_prob, b_bo, b_next,
              t_word, t_prob, **options) -> "WordLM":  # fmt: skip
        """The model from its trie arrays, with the lookup of the words `tokenizer` spells
        (lower case; on a hash collision the more probable word wins)."""
        letters = set(tokenizer.symbols) - {" ", "<e>", "<unk>"}
        by_hash: dict[int, int] = {}
        for i, w in enumerate(words):
            if w and set(w) <= letters:
                h = word_hash(tokenizer.encode(w), -1)
                if h not in by_hash or u_prob[i] > u_prob[by_hash[h]]:
                    by_hash[h] = i
        hashes = np.array(sorted(by_hash), np.int64)
        starts: dict[int, int] = {0: IN_TREE}  # word_hash of a word's start -> its mask
        for i in by_hash.values():
            h = 0
            for t in tokenizer.encode(words[i]):
                starts[h] |= 1 << t
                h = (h * WORD_MUL + t) & WORD_MASK  # as `word_hash` goes on
                starts[h] = starts.get(h, 0) | IN_TREE
        p_hashes = np.array(sorted(starts), np.int64)
        f32 = lambda a: np.ascontiguousarray(a, np.float32)  # noqa: E731
        i32 = lambda a: np.ascontiguousarray(a, np.int32)  # noqa: E731
        lm = cls(hashes, np.array([by_hash[h] for h in hashes], np.int64), f32(u_prob),
                   f32(u_bo), i32(u_next), i32(b_word), f32(b_prob), f32(b_bo), i32(b_next),
                   i32(t_word), f32(t_prob), p_hashes,
                   np.array([starts[h] for h in p_hashes], np.int64), tuple(words),
                   list(words).index("<s>"),
                   tuple(tokenizer.symbols), **options)  # fmt: skip
        if not lm.consistent():
            raise ValueError("inconsistent n-gram trie")
        return lm

    @classmethod
    def from_arpa(cls, path: str | Path, tokenizer, **options) -> "WordLM":
        """Read a trigram (or bigram) ARPA file: log10 probabilities, backoff weights.
        Trigrams whose last two words are no bigram cannot be reached and are left out."""
        grams: list[dict] = [{}, {}, {}]
        n = 0
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        for lineno, line in enumerate(lines, 1):
            fields = line.split()
            if len(fields) == 1 and fields[0].startswith("\\") and fields[0].endswith("-grams:"):
                n = int(fields[0][1:-7])
                if n > 3:
                    raise ValueError(f"{path}:{lineno}: only models up to trigrams are read")
            elif fields == ["\\end\\"]:
                break
            elif n and fields:
                try:
                    bo = float(fields[1 + n]) if len(fields) > 1 + n else 0.0
                    grams[n - 1][tuple(fields[1 : 1 + n])] = (float(fields[0]) * LN10, bo * LN10)
                except (ValueError, IndexError):
                    raise ValueError(f"{path}:{lineno}: not a {n}-gram line: {line!r}") from None
        words = sorted(w for (w,) in grams[0])
        index = {w: i for i, w in enumerate(words)}
        missing = ({w for g in (*grams[1], *grams[2]) for w in g} | {"<s>"}) - index.keys()
        if missing:
            raise ValueError(f"{path}: words with no unigram: {sorted(missing)[:5]}")
        u = np.array([grams[0][(w,)] for w in words], np.float64).reshape(-1, 2)
        # the reversed trie: bigrams "h1 w" by (w, h1); trigrams "h2 h1 w" by (w, h1, h2)
        bi = sorted(((index[w], index[h1]), v) for (h1, w), v in grams[1].items())
        tri = sorted(((index[w], index[h1], index[h2]), v) for (h2, h1, w), v in grams[2].items()
                     if (h1, w) in grams[1])  # fmt: skip
        V = len(words)
        u_next = np.searchsorted([w for (w, _), _ in bi], np.arange(V + 1))
        keys3 = [w * V + h1 for (w, h1, _), _ in tri]
        b_next = np.searchsorted(keys3, [w * V + h1 for (w, h1), _ in bi] + [V * V])
        return cls.build(words, tokenizer, u[:, 0], u[:, 1], u_next,
                         [h1 for (_, h1), _ in bi], [v[0] for _, v in bi],
                         [v[1] for _, v in bi], b_next, [h2 for (_, _, h2), _ in tri],
                         [v[0] for _, v in tri], **options)  # fmt: skip


_I32, _F32 = np.zeros(1, np.int32), np.zeros(0, np.float32)
NO_WORD_LM = (_F32, _F32, _I32, _I32, _F32, _F32, _I32, _I32, _F32)  # arrays() of no model


def _read_sphinx(buf: bytes, pos: int) -> tuple[list[str], tuple]:
    """The words and the trie arrays (as `WordLM.build` takes them) of a Sphinx trie LM: the
    counts, 16-bit quantisation tables (bigram probabilities and backoff weights, trigram
    probabilities), the unigrams, the bit-packed bigram and trigram entries, the words."""
    n1, n2, n3 = (int(c) for c in np.frombuffer(buf, "<u4", 3, pos))
    pos += 12 + 4  # the counts, then a quantisation type that is always 1
    tables = np.frombuffer(buf, "<f4", 3 * QUANT_BINS, pos)
    pos += tables.nbytes
    b_probs, b_bos, t_probs = tables.reshape(3, QUANT_BINS) * SPHINX_LOG
    uni = np.frombuffer(buf, [("prob", "<f4"), ("bo", "<f4"), ("next", "<u4")], n1 + 1, pos)
    pos += uni.nbytes
    word_bits, next_bits = n1.bit_length(), n3.bit_length()
    b_bits, t_bits = word_bits + 32 + next_bits, word_bits + 16  # word, [bo, prob,] (next)
    b_at = pos
    pos += ((1 + n2) * b_bits + 7) // 8 + 8  # the allocation counts one more, and 8 bytes
    t_at = pos
    pos += ((1 + n3) * t_bits + 7) // 8 + 8
    n_chars = int(np.frombuffer(buf, "<i4", 1, pos)[0])
    words = buf[pos + 4 : pos + 4 + n_chars].decode("utf-8").split("\0")[:-1]
    if len(words) != n1 or pos + 4 + n_chars != len(buf):
        raise ValueError(f"{len(words)} words for {n1} unigrams, {len(buf) - pos} bytes left")
    mem = np.frombuffer(buf, np.uint8)
    u_next = uni["next"].astype(np.int64)
    kept2 = int(u_next[-1])  # bigrams kept (the header counts a few that were not)
    b_next = _bits(mem, b_at, b_bits, kept2 + 1, word_bits + 32, next_bits)
    kept3 = int(b_next[-1])
    if not (kept2 <= n2 and kept3 <= n3 and (np.diff(u_next) >= 0).all()
            and (np.diff(b_next) >= 0).all()):  # fmt: skip
        raise ValueError("trie pointers out of order")
    b_word, t_word = (
        _bits(mem, b_at, b_bits, kept2, 0, word_bits),
        _bits(mem, t_at, t_bits, kept3, 0, word_bits),
    )
    if max(b_word.max(initial=0), t_word.max(initial=0)) >= n1:
        raise ValueError("word ids out of range")
    return words, (
        uni["prob"][:-1] * SPHINX_LOG, uni["bo"][:-1] * SPHINX_LOG, u_next, b_word,
        b_probs[_bits(mem, b_at, b_bits, kept2, word_bits + 16, 16)],
        b_bos[_bits(mem, b_at, b_bits, kept2, word_bits, 16)], b_next, t_word,
        t_probs[_bits(mem, t_at, t_bits, kept3, word_bits, 16)],
    )  # fmt: skip


def _bits(mem: np.ndarray, start: int, stride: int, n: int, offset: int, width: int):
    """Field `offset`:`offset + width` (bits, little-endian) of n entries of `stride` bits
    packed from byte `start`: Sphinx's (and KenLM's) bit-packed trie arrays."""
    at = start * 8 + np.arange(n, dtype=np.int64) * stride + offset
    byte, shift = at >> 3, (at & 7).astype(np.uint64)
    value = np.zeros(n, np.uint64)
    for j in range((width + 7 + 7) // 8):
        value |= mem[byte + j].astype(np.uint64) << np.uint64(8 * j)
    return ((value >> shift) & np.uint64((1 << width) - 1)).astype(np.int64)


@nb.njit(cache=True)
def continuations(p_hashes, p_masks, h):
    """The mask of the word in progress (hash h; 0: none yet): bit t set if token t keeps it
    the start of a vocabulary word, bit 62 if it is one; 0 if it is not."""
    i = np.searchsorted(p_hashes, h)
    if i == p_hashes.shape[0] or p_hashes[i] != h:
        return 0
    return p_masks[i]


@nb.njit(cache=True)
def lookup(hashes, ids, h):
    """The id of the word with hash h, -1 if none (or h = 0, no word)."""
    i = np.searchsorted(hashes, h)
    if h == 0 or i == hashes.shape[0] or hashes[i] != h:
        return -1
    return ids[i]


@nb.njit(cache=True)
def _child(words, begin, end, w):
    """The index of w among the sorted words[begin:end], -1 if absent."""
    i = begin + np.searchsorted(words[begin:end], w)
    return i if i < end and words[i] == w else -1


@nb.njit(cache=True)
def log_prob(arrays, w, h1, h2, oov_logp):
    """Backoff log p(w | h2 h1): the trigram if kept, else the bigram plus the backoff weight
    of "h2 h1", else the unigram plus the backoff weights of "h1" and "h2 h1"."""
    u_prob, u_bo, u_next, b_word, b_prob, b_bo, b_next, t_word, t_prob = arrays
    if w < 0:
        return oov_logp
    if h1 < 0:
        return float(u_prob[w])
    context_bo = 0.0  # the backoff weight of "h2 h1", if h2 is known and that bigram kept
    if h2 >= 0:
        j = _child(b_word, u_next[h1], u_next[h1 + 1], h2)
        if j >= 0:
            context_bo = float(b_bo[j])
    j = _child(b_word, u_next[w], u_next[w + 1], h1)
    if j < 0:
        return float(u_prob[w]) + float(u_bo[h1]) + context_bo
    if h2 >= 0:
        k = _child(t_word, b_next[j], b_next[j + 1], h2)
        if k >= 0:
            return float(t_prob[k])
    return float(b_prob[j]) + context_bo
