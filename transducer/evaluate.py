"""Scoring a model on a manifest: WER, CER and real-time factor with the reference decoders."""

import time

import jiwer
import numpy as np
import torch

from transducer.audio import AudioError
from transducer.config import FeatureConfig
from transducer.data.manifest import read_utterance
from transducer.decode import Hypothesis, beam_search, greedy_search
from transducer.features import FeatureStats, fbank, online_cmn
from transducer.recognizer import Result


def features(samples: np.ndarray, stats: FeatureStats, cfg: FeatureConfig) -> torch.Tensor:
    """16 kHz samples (T,) -> normalised log-mel (frames, n_mels) as a torch tensor."""
    return torch.from_numpy(online_cmn(stats.normalize(fbank(samples, cfg)), cfg))


def decode(model, feats: torch.Tensor, beam: int = 0, W: int | None = None,
           lm=None) -> Hypothesis:  # fmt: skip
    """Greedy when beam <= 1, else block-synchronous beam search (fused with the character LM
    `lm`, if any)."""
    if beam > 1:
        return beam_search(model, feats, beam=beam, W=W, lm=lm)
    return greedy_search(model, feats, W=W)


def error_rates(refs: list[str], hyps: list[str]) -> dict:
    """Corpus-level WER and CER (edit distance over all words / characters)."""
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(refs, hyps)
    return {"wer": words.wer, "cer": chars.cer}


def error_rates_by(refs: list[str], hyps: list[str], keys: list[str]) -> dict:
    """{key: {"wer", "cer", "n_utts"}}: the error rates of each group of utterances with the
    same key (e.g. the TTS engine, "espeak" of the speaker "espeak/en-us+m3")."""
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return {
        key: {**error_rates([refs[i] for i in idx], [hyps[i] for i in idx]), "n_utts": len(idx)}
        for key, idx in sorted(groups.items())
    }


@torch.no_grad()
def evaluate(
    model,
    tokenizer,
    stats: FeatureStats,
    utts,
    features_cfg: FeatureConfig,
    beam: int = 0,
    W: int | None = None,
    lm=None,
) -> dict:
    """{"wer", "cer", "rtf", "n_utts", "audio_seconds", "unreadable"} over `utts`, plus the
    hypotheses (see `score`)."""
    model.eval()

    def decode_one(samples: np.ndarray) -> tuple[str, list[str]]:
        hyp = decode(model, features(samples, stats, features_cfg), beam, W, lm)
        return tokenizer.decode(hyp.tokens), [tokenizer.symbols[t] for t in hyp.tokens]

    return score(utts, decode_one)


def transcribe(recognizer, samples: np.ndarray):
    """One utterance through a streaming `Recognizer` (all audio at once): its segments joined
    into one final `Result` (the space between two segments timed and blocked at the second's
    first token)."""
    segments = [r for r in recognizer.transcribe(samples) if r.tokens]
    tokens, times, blocks = (), (), ()
    for r in segments:
        tokens += ((" ",) if tokens else ()) + r.tokens
        times += (r.timestamps[:1] if times else ()) + r.timestamps
        blocks += (r.blocks[:1] if blocks else ()) + r.blocks
    text = " ".join(r.text for r in segments)
    return Result(text, tokens, times, blocks, is_final=True, segment=0)


def evaluate_recognizer(recognizer, utts) -> dict:
    """Like `evaluate`, through a streaming `Recognizer` of any backend (torch, numba, onnx)."""

    def decode_one(samples: np.ndarray) -> tuple[str, list[str]]:
        result = transcribe(recognizer, samples)
        return result.text, list(result.tokens)

    return score(utts, decode_one)


def score(utts, decode_one) -> dict:
    """Decode each utterance with `decode_one(samples) -> (text, tokens)` and score them all.

    Returns {"wer", "cer", "rtf", "n_utts", "audio_seconds", "unreadable", "hypotheses",
    "tokens"}: "hypotheses" and "tokens" line up with `utts`, None where the audio could not
    be read; those utterances are listed in "unreadable" ({id: error}), left out of the rates
    and of "n_utts", and the others are scored all the same."""
    refs, hyps, tokens, seconds, elapsed, unreadable = [], [], [], 0.0, 0.0, {}
    for utt in utts:
        try:
            samples = read_utterance(utt)
        except AudioError as e:
            unreadable[utt.id] = str(e)
            hyps.append(None)
            tokens.append(None)
            continue
        start = time.perf_counter()
        text, symbols = decode_one(samples)
        elapsed += time.perf_counter() - start
        seconds += len(samples) / 16000
        refs.append(utt.text)
        hyps.append(text)
        tokens.append(symbols)
    if not refs:
        raise ValueError(f"nothing to score: {len(unreadable)} utterances, none readable")
    out = error_rates(refs, [h for h in hyps if h is not None])
    out.update(rtf=elapsed / max(seconds, 1e-9), n_utts=len(refs), audio_seconds=seconds)
    return {**out, "unreadable": unreadable, "hypotheses": hyps, "tokens": tokens}
