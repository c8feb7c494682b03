"""The character LM (Kneser-Ney distributions, back-off, files) and beam search fused with it."""

import json

import numpy as np
import pytest

from tests.test_fast_decoder import blocks, random_model
from tests.test_recognizer import stream_tokens
from transducer.cli import main
from transducer.decode import Hypothesis, Stepper, beam_block, beam_search
from transducer.decode.fast import FastDecoder
from transducer.evaluate import features
from transducer.lm import CharLM, train, word_hash
from transducer.recognizer import DEFAULT_LM, EndpointConfig, Recognizer
from transducer.text import RESERVED, CharTokenizer

TOK = CharTokenizer.english()
SENTENCES = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog ran",
             "the rat ate the oats", "a man can't stand a cat"]  # fmt: skip


def test_every_context_is_a_distribution():
    lm = train(SENTENCES, TOK, order=4, min_count=1)
    p = np.exp(lm.logp.astype(np.float64))
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert (p[:, TOK.unk_id] < 1e-20).all()  # never seen, never predicted
    assert (p[:, 2:] > 0).all()  # every character keeps some mass (uniform at the bottom)


def test_it_predicts_what_it_read():
    lm = train(SENTENCES, TOK, order=4, min_count=1)
    assert TOK.symbols[int(np.argmax(lm.log_probs(TOK.encode("the ca"))))] == "t"
    assert int(np.argmax(lm.log_probs(TOK.encode("the log")))) == 0  # the sentence ends
    seen = lm.bits_per_symbol([TOK.encode(s) for s in SENTENCES])
    backwards = lm.bits_per_symbol([TOK.encode(s[::-1]) for s in SENTENCES])
    assert seen < 1.5 < 3.0 < backwards


def test_context_is_the_last_order_minus_one_tokens():
    lm = train(SENTENCES, TOK, order=3, min_count=1)
    assert lm.context(TOK.encode("the cat")) == lm.context(TOK.encode("at"))
    assert lm.context([]) == 0  # the start of a segment: <e> padding
    assert train(SENTENCES, TOK, order=1).context(TOK.encode("the")) == 0


def test_rare_contexts_back_off():
    full = train(SENTENCES, TOK, order=4, min_count=1)
    pruned = train(SENTENCES, TOK, order=4, min_count=1000)  # keeps contexts of 0 and 1 token
    assert len(pruned.keys) < len(full.keys)
    ids = TOK.encode("the ca")
    assert np.array_equal(pruned.log_probs(ids), pruned.log_probs(ids[-1:]))
    assert not np.array_equal(full.log_probs(ids), full.log_probs(ids[-1:]))


def test_files_round_trip_and_bad_files(tmp_path):
    lm = train(SENTENCES, TOK, order=4, min_count=1, weight=0.3, bonus=0.5)
    lm.save(tmp_path / "lm.npz")
    back = CharLM.load(tmp_path / "lm.npz")
    assert (back.order, back.weight, back.bonus, back.symbols) == (4, 0.3, 0.5, lm.symbols)
    assert np.array_equal(back.keys, lm.keys)
    assert np.allclose(back.logp, lm.logp, rtol=1e-3, atol=1e-3)  # stored as float16
    with pytest.raises(ValueError, match="no such language model"):
        CharLM.load(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes((tmp_path / "lm.npz").read_bytes()[:300])
    with pytest.raises(ValueError, match=r"bad\.npz: not a readable language model"):
        CharLM.load(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="at most 32 symbols"):
        train(SENTENCES, CharTokenizer([*RESERVED, *map(chr, range(200, 240))]))


# The decoder tests' random models have 12 symbols: <e>, <unk>, space and nine letters.
SMALL = CharTokenizer([*RESERVED, " ", *"abcdefghi"])


def fused_searches(mode, attention, lm, other_lm=None) -> tuple[list[int], list[int]]:
    """Beam search with `lm` over six blocks of a random model, by the torch reference and by
    Numba (checked alike block by block), and by Numba with `other_lm`: the best tokens."""
    model = random_model(mode, attention, 0)
    fast, stepper = FastDecoder.from_model(model), Stepper(model)
    frames, mask = blocks(model, n_blocks=6, seed=2)
    K, W, beam = model.cfg.max_symbols_per_block, model.cfg.block_width, 3
    ref, ours = [Hypothesis(state=stepper.initial())], [Hypothesis(state=fast.initial())]
    other = [Hypothesis(state=fast.initial())]
    for b in range(len(frames)):
        f, m = frames[b : b + 1], mask[b : b + 1]
        ref = beam_block(stepper, ref, f, m, b, K, W, beam, 0, lm)
        ours = fast.beam_block(ours, f, m, b, K, W, beam, 0, lm)
        other = fast.beam_block(other, f, m, b, K, W, beam, 0, other_lm)
        assert [h.tokens for h in ours] == [h.tokens for h in ref]
        assert [h.score for h in ours] == pytest.approx([h.score for h in ref], abs=1e-4)
    return ours[0].tokens, other[0].tokens


@pytest.mark.parametrize("mode,attention", [("fullsum", "dot"), ("fullsum", "mlp"),
                                            ("paper", "lstm")])  # fmt: skip
def test_fused_beam_numba_equals_torch(mode, attention):
    """With an LM, the Numba beam search still gives the torch reference's tokens and scores,
    and the LM changes what it finds."""
    lm = train(["abc abc bad", "cab dab", "hig hig fed"], SMALL, order=3, min_count=1,
               weight=1.5, bonus=8.0)  # fmt: skip
    fused, plain = fused_searches(mode, attention, lm)
    assert len(fused) >= 3 and fused != plain
    model = random_model(mode, attention, 0)
    fast, (f, m) = FastDecoder.from_model(model), blocks(model, n_blocks=1, seed=2)
    K, W = model.cfg.max_symbols_per_block, model.cfg.block_width
    silent = fast.beam_block([Hypothesis(state=fast.initial())], f, m, 0, K, W, 3, 0,
                             lm._replace(weight=0.0, bonus=0.0))  # fmt: skip
    alone = fast.beam_block([Hypothesis(state=fast.initial())], f, m, 0, K, W, 3, 0)
    assert [(h.tokens, h.score) for h in silent] == [(h.tokens, h.score) for h in alone]


@pytest.mark.parametrize("mode,attention", [("fullsum", "dot"), ("paper", "lstm")])
def test_lexicon_beam_numba_equals_torch(mode, attention):
    """With a lexicon, both searches take the penalty from a space that ends an unknown word,
    alike; with a large one the best hypothesis ends no unknown word with a space, where
    without it it did."""
    lm = train(["abc abc bad", "cab dab", "hig hig fed"], SMALL, order=3, min_count=1,
               weight=1.5, bonus=8.0, words=["ace", "Bead"], oov_penalty=30.0)  # fmt: skip
    known = {"abc", "bad", "cab", "dab", "hig", "fed", "ace", "bead"}
    assert len(lm.words) == len(known)
    fused, plain = fused_searches(mode, attention, lm, lm._replace(oov_penalty=0.0))

    def ended(tokens):  # the words a space ends
        return {w for w in SMALL.decode(tokens).split(" ")[:-1] if w}

    assert ended(fused) <= known and not ended(plain) <= known


def test_lexicon_files_and_word_hashes(tmp_path):
    lm = train(SENTENCES, TOK, order=4, min_count=1, words=["Zebra", "naïve", "don't"])
    assert not lm.out_of_lexicon(TOK.encode("the zebra"))  # from the list, lower-cased
    assert not lm.out_of_lexicon(TOK.encode("a dog can't"))  # from the sentences
    assert lm.out_of_lexicon(TOK.encode("the cax")) and lm.out_of_lexicon(TOK.encode("naive"))
    assert not lm.out_of_lexicon(TOK.encode("the cax ")) and not lm.out_of_lexicon([])
    space = TOK.encode(" ")[0]
    assert word_hash(TOK.encode("the cat"), space) == word_hash(TOK.encode("cat"), space) != 0
    assert word_hash(TOK.encode("cat "), space) == 0 != word_hash(TOK.encode("cat"), space + 1)
    lm.save(tmp_path / "lm.npz")
    back = CharLM.load(tmp_path / "lm.npz")
    assert np.array_equal(back.words, lm.words) and back.oov_penalty == lm.oov_penalty == 2.0
    plain = train(SENTENCES, TOK, order=4, min_count=1)
    assert len(plain.words) == 0 and not plain.out_of_lexicon(TOK.encode("the cax"))
    with np.load(tmp_path / "lm.npz") as npz:  # an LM file from before lexicons loads as none
        old = {k: npz[k] for k in ("keys", "logp", "meta")}
    np.savez(tmp_path / "old.npz", **old)
    assert len(CharLM.load(tmp_path / "old.npz").words) == 0
    np.savez(tmp_path / "shuffled.npz", **old, words=lm.words[::-1].astype(np.uint32))
    with pytest.raises(ValueError, match=r"shuffled\.npz: .*lexicon not sorted"):
        CharLM.load(tmp_path / "shuffled.npz")


def test_lm_command_writes_a_lexicon(tmp_path, capsys):
    text, words = tmp_path / "text.txt", tmp_path / "words.txt"
    text.write_text("".join(f"The cat number {n} sat on the mat.\n\n" for n in range(300)))
    words.write_text("Zebra\nyak\n")
    main(["lm", "--out", str(tmp_path / "lm.npz"), "--text", str(text), "--order", "3",
          "--words", str(words), "--oov-penalty", "1.5"])  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    lm = CharLM.load(tmp_path / "lm.npz")
    assert summary["lexicon_hashes"] == len(lm.words) > 2 and lm.oov_penalty == 1.5
    assert not lm.out_of_lexicon(TOK.encode("a zebra")) and lm.out_of_lexicon(TOK.encode("a cot"))
    with pytest.raises(SystemExit):  # a missing word list is named
        main(["lm", "--out", str(tmp_path / "x.npz"), "--text", str(text), "--words", "nope.txt"])
    assert "nope.txt" in capsys.readouterr().err


def test_recognizer_lm_options(trained, tmp_path, capsys):
    paths, audio = trained
    lm = train(SENTENCES, TOK, order=4, min_count=1)
    lm.save(tmp_path / "lm.npz")
    whole = EndpointConfig(1e9, 1e9, 1e9)  # no endpoints: one segment, as offline
    rec = Recognizer(paths["fullsum"], beam=3, lm=tmp_path / "lm.npz", endpoint=whole)
    assert rec.lm.weight == lm.weight
    reference = Recognizer(paths["fullsum"], beam=3, endpoint=whole, backend="torch",
                           lm=tmp_path / "lm.npz")  # fmt: skip
    streamed = stream_tokens(rec, audio, chunks=(1600,))
    assert streamed == stream_tokens(reference, audio)
    hyp = beam_search(rec.model, features(audio, rec.stats, rec.features), 3, lm=rec.lm)
    assert streamed.tokens == tuple(rec.tokenizer.symbols[t] for t in hyp.tokens)
    assert Recognizer(paths["fullsum"], beam=3, lm=tmp_path / "lm.npz", lm_weight=0).lm is None
    bonus = Recognizer(paths["fullsum"], beam=3, lm=tmp_path / "lm.npz", lm_bonus=0.9).lm
    assert (bonus.weight, bonus.bonus) == (lm.weight, 0.9) and lm.bonus != 0.9
    manifest = paths["fullsum"].parents[1] / "train.jsonl"
    args = ["eval", "--model", str(paths["fullsum"]), "--manifest", str(manifest), "--beam", "3",
            "--json", "--lm", str(tmp_path / "lm.npz")]  # fmt: skip
    cer = {}
    for backend, bonus in [("offline", "0.9"), ("torch", "0.9"), ("offline", "20")]:
        main([*args, "--backend", backend, "--lm-bonus", bonus])
        cer[backend, bonus] = json.loads(capsys.readouterr().out)["cer"]
    assert cer["offline", "0.9"] == cer["torch", "0.9"] < cer["offline", "20"]  # the LM is used
    with pytest.raises(SystemExit, match="only if --lm"):
        main([*args[:-2], "--lm-bonus", "0.9", "--backend", "offline"])
    assert Recognizer(paths["fullsum"], beam=3).lm is None  # a named model: no LM unless asked
    train(["a bad cab"], SMALL, order=2).save(tmp_path / "small.npz")
    with pytest.raises(ValueError, match="symbols differ"):
        Recognizer(paths["fullsum"], lm=tmp_path / "small.npz")
    if DEFAULT_LM.exists():
        assert Recognizer().lm is not None and Recognizer(lm_weight=0.0).lm is None
