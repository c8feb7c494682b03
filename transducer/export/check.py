"""The export's self-check: PyTorch against onnxruntime on the same inputs.

- encoder.onnx over chained blocks (states carried from block to block): max |difference|;
- decoder.onnx + joiner.onnx: a greedy search driven by the two graphs, on the encoder frames of
  real audio, against the torch search: max |difference| of the log-probabilities, same tokens;
- the runtime (`OnnxRecognizer`) against the torch `Recognizer` on real audio: same tokens.
"""

from pathlib import Path

import numpy as np
import torch

from transducer.audio import read_audio
from transducer.checkpoint import load_model
from transducer.config import BLANK
from transducer.decode.search import encode_blocks
from transducer.evaluate import features
from transducer.export.runtime import GRAPHS, load_export, open_session
from transducer.recognizer import SAMPLE, EndpointConfig, Recognizer


def check_encoder(model, session, n_blocks: int = 6, seed: int = 0) -> float:
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, n_blocks * cfg.stack * cfg.block_width, cfg.n_mels, generator=g)
    with torch.no_grad():
        ref, _ = model.encoder.encode_chunk(x)
    shape = (cfg.n_enc_layers, 1, cfg.d_model)
    h, c = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    step, out = cfg.stack * cfg.block_width, []
    for b in range(n_blocks):
        chunk = x[:, b * step : (b + 1) * step].numpy()
        frames, h, c = session.run(None, {"x": chunk, "cached_h": h, "cached_c": c})
        out.append(frames[0])
    return float(np.abs(np.concatenate(out) - ref[0].numpy()).max())


def onnx_greedy(model, sessions, blocks, mask) -> tuple[list[int], list[np.ndarray]]:
    """Greedy search with decoder.onnx and joiner.onnx (as a sherpa-style runtime would)."""
    cfg = model.cfg
    dec, join = sessions["decoder"], sessions["joiner"]
    K, H, D, Ha = cfg.max_symbols_per_block, cfg.d_dec, cfg.d_model, cfg.d_att_lstm
    tokens, all_logp = [], []
    if cfg.mode == "fullsum":
        m = cfg.n_dec_layers
        state = [np.zeros((m, 1, H), np.float32), np.zeros((m, 1, H), np.float32)]
        y = np.array([BLANK])
        query, *state = dec.run(None, {"y": y, "cached_h": state[0], "cached_c": state[1]})
        for b in range(len(blocks)):
            f, mk = blocks[b : b + 1], mask[b : b + 1]
            for k in range(K + 1):
                logp, _ = join.run(None, {"query": query, "frames": f, "mask": mk})
                all_logp.append(logp[0])
                y = int(logp[0].argmax()) if k < K else BLANK
                if y == BLANK:
                    break
                tokens.append(y)
                query, *state = dec.run(
                    None, {"y": np.array([y]), "cached_h": state[0], "cached_c": state[1]}
                )
        return tokens, all_logp
    zeros = lambda n: np.zeros((1, n), np.float32)  # noqa: E731
    context, h1, c1, h2, c2, ah, ac = (
        zeros(D),
        zeros(H),
        zeros(H),
        zeros(H),
        zeros(H),
        zeros(Ha),
        zeros(Ha),
    )
    y = BLANK
    for b in range(len(blocks)):
        f, mk = blocks[b : b + 1], mask[b : b + 1]
        for k in range(K + 1):
            query, h1, c1 = dec.run(None, {"y": np.array([y]), "cached_context": context,
                                           "cached_h1": h1, "cached_c1": c1})  # fmt: skip
            inputs = {"query": query, "frames": f, "mask": mk, "new_block": np.array([y == BLANK])}
            inputs.update(cached_h2=h2, cached_c2=c2, cached_att_h=ah, cached_att_c=ac)
            logp, _, context, h2, c2, ah, ac = join.run(None, inputs)
            all_logp.append(logp[0])
            y = int(logp[0].argmax()) if k < K else BLANK
            if y == BLANK:
                break
            tokens.append(y)
    return tokens, all_logp


class _Recording:
    """A `Stepper` that keeps every step's log-probabilities (row 0)."""

    def __init__(self, stepper):
        self.stepper, self.log_probs = stepper, []

    def step(self, *args):
        logp, state, weights = self.stepper.step(*args)
        self.log_probs.append(logp[0].numpy())
        return logp, state, weights


def torch_greedy(model, blocks, mask) -> tuple[list[int], list[np.ndarray]]:
    """The reference greedy search over the same blocks, with its log-probabilities."""
    from transducer.decode.search import Hypothesis, Stepper, greedy_block

    stepper, cfg = Stepper(model), model.cfg
    recording, hyp = _Recording(stepper), Hypothesis(state=stepper.initial())
    for b in range(len(blocks)):
        f, m = torch.from_numpy(blocks[b : b + 1]), torch.from_numpy(mask[b : b + 1])
        hyp = greedy_block(recording, hyp, f, m, b, cfg.max_symbols_per_block, cfg.block_width,
                           cfg.lookback)  # fmt: skip
    return hyp.tokens, recording.log_probs


def check(model_path: str | Path, folder: str | Path, audio: str | Path = SAMPLE,
          manifest: str | Path | None = None) -> dict:  # fmt: skip
    """The report; with `manifest`, also how many of its utterances give identical tokens."""
    model, _, stats, feature_cfg, _ = load_model(model_path)
    load_export(folder)  # the runtime's own checks of files and metadata
    sessions = {g: open_session(Path(folder) / f"{g}.onnx") for g in GRAPHS}
    samples = read_audio(audio)
    report = {"encoder_max_abs_diff": check_encoder(model, sessions["encoder"])}
    blocks, mask = encode_blocks(model, features(samples, stats, feature_cfg))
    blocks, mask = blocks.numpy(), mask.numpy()
    onnx_tokens, onnx_logp = onnx_greedy(model, sessions, blocks, mask)
    ref_tokens, ref_logp = torch_greedy(model, blocks, mask)
    n = min(len(onnx_logp), len(ref_logp))
    report["decoder_joiner_max_abs_diff"] = float(
        max(np.abs(a - b).max() for a, b in zip(onnx_logp[:n], ref_logp[:n], strict=True))
    )
    report["decoder_joiner_tokens_equal"] = onnx_tokens == ref_tokens
    results = {}
    runs = {"torch": ("torch", model_path), "onnx": ("onnx", folder),
            "numba": ("numba", model_path), "numba-folder": ("numba", folder)}  # fmt: skip
    for name, (backend, target) in runs.items():
        rec = Recognizer(target, endpoint=EndpointConfig(1e9, 1e9, 1e9), backend=backend)
        (results[name],) = rec.transcribe(samples)  # one segment: no endpoints
    report["runtime_tokens_equal"] = results["onnx"].tokens == results["torch"].tokens
    # the folder's Numba encoder (encoder_weights.npz) against the checkpoint's: exactly equal
    report["numba_folder_tokens_equal"] = results["numba-folder"] == results["numba"]
    report["n_tokens"] = len(results["torch"].tokens)
    if manifest is not None:  # token-exactness over a whole manifest
        from transducer.data.manifest import read_manifest
        from transducer.evaluate import evaluate_recognizer

        utts, never = read_manifest(manifest), EndpointConfig(1e9, 1e9, 1e9)
        runs = {
            b: evaluate_recognizer(Recognizer(t, endpoint=never, backend=b), utts)
            for b, t in (("torch", model_path), ("onnx", folder))
        }
        pairs = zip(runs["onnx"]["tokens"], runs["torch"]["tokens"], strict=True)
        report["manifest"] = {"path": str(manifest), "n_utts": len(utts),
                              "n_tokens_equal": sum(a == b for a, b in pairs)}  # fmt: skip
        for backend, run in runs.items():
            report["manifest"].update({f"{backend}_wer": run["wer"], f"{backend}_cer": run["cer"]})
    report["audio"] = str(audio)
    report["ok"] = bool(
        report["runtime_tokens_equal"] and report["decoder_joiner_tokens_equal"]
        and report["numba_folder_tokens_equal"] and report["encoder_max_abs_diff"] < 1e-3
    )  # fmt: skip
    return report
