"""The Numba CPU decoder: greedy and block-synchronous beam search for both model modes.

The same searches as `transducer.decode.search`, token for token, as `@njit(cache=True)` kernels
on float32 NumPy weights packed once from the model (`pack`). Three savings make a step cheap:
- the embedding is folded into the first LSTM layer: `embed @ W_ih.T + b` is a (V, 4H) table,
  so feeding a symbol back costs one row lookup instead of a matrix product;
- per block, everything that depends only on the frames is computed once (the joint's frame
  projection `frames @ Wc.T`, MLP attention's keys), not once per step;
- full-sum: the hypotheses of a beam step together (`_steps`), each weight one matrix product
  over their rows, so it is read once per step, not once per hypothesis.

A hypothesis's decoder state is one flat float32 vector (layout in `state_size`), so a beam is a
(R, S) matrix, and the searches keep their own arrays; Python only sees whole blocks.

Matrices are read as float32 or half bits (`kernels.halve`); the encoder's kernels are in
`numba_encoder`.
"""

from typing import NamedTuple

import numba as nb
import numpy as np

from transducer.config import BLANK
from transducer.decode.hypothesis import Hypothesis
from transducer.decode.kernels import F32, _a, _empty, _gemm, _gemv, _lstm_update, _tanh, halve
from transducer.lm import BITS, NO_WORDS, WORD_MASK, WORD_MUL, lm_row, word_hash
from transducer.wordlm import NO_WORD_LM, continuations, log_prob, lookup

NEG_INF = -1e4  # masked attention scores, as transducer.model.attention
ATT_NONE, ATT_DOT, ATT_MLP, ATT_LSTM, ATT_STEP_LSTM = range(5)


class Weights(NamedTuple):
    """Everything a decoder step reads, as contiguous float32 arrays (empty where unused)."""

    paper: bool
    att: int  # ATT_*
    scale: float  # dot-score scale
    n_layers: int  # prediction-network layers (full-sum); 2 in paper mode
    H: int  # decoder width
    D: int  # encoder width
    Ha: int  # LSTM-attention width
    emb_gates: np.ndarray  # (V, 4H): embedding through the first layer's W_ih, plus biases
    w_hh: np.ndarray  # (layers, 4H, H)
    w_ih_up: np.ndarray  # (layers - 1, 4H, H) full-sum upper layers; paper: cell2's query part
    b_up: np.ndarray  # (layers - 1, 4H)
    w_ctx1: np.ndarray  # (4H, D) paper: cell1's context input
    w_ctx2: np.ndarray  # (4H, D) paper: cell2's context input
    aq: np.ndarray  # (Dq, H) attention query projection (dot: Dq = D; mlp: Dq = A)
    aq_b: np.ndarray  # (Dq,)
    ak: np.ndarray  # (A, D) MLP keys
    av: np.ndarray  # (A,) MLP scorer
    al_ih: np.ndarray  # (4Ha, in) LSTM attention (in: 1 path-independent, L stateful)
    al_hh: np.ndarray  # (4Ha, Ha)
    al_b: np.ndarray  # (4Ha,)
    al_out: np.ndarray  # (out, Ha)
    al_out_b: np.ndarray  # (out,)
    jq: np.ndarray  # (J, H) joint query part (full-sum)
    jq_b: np.ndarray  # (J,)
    jc: np.ndarray  # (J, D) joint context part
    wo: np.ndarray  # (V, J) full-sum, (V, H) paper
    bo: np.ndarray  # (V,)


def require_lstm_prediction(cfg) -> None:
    """The kernels (and the ONNX graphs) know the LSTM prediction network only."""
    if cfg.pred_context:
        raise ValueError("the Numba decoder and the ONNX export run an LSTM prediction network "
                         f"only; this model's is stateless (pred_context {cfg.pred_context}): "
                         "decode it with the torch backend")  # fmt: skip


def pack(model) -> Weights:
    """Float32 NumPy weights of a `NeuralTransducer`'s decoder, in the kernels' layout."""
    dec, cfg = model.decoder, model.cfg
    require_lstm_prediction(cfg)
    paper = cfg.mode == "paper"
    H, D = cfg.d_dec, cfg.d_model
    att = dec.attention
    kind = {"none": ATT_NONE, "dot": ATT_DOT, "mlp": ATT_MLP, "lstm": ATT_LSTM}[cfg.attention]
    if paper and kind == ATT_LSTM:
        kind = ATT_STEP_LSTM  # paper mode uses the paper's stateful LSTM-attention
    w = dict(paper=paper, att=kind, scale=float(D**-0.5), H=H, D=D, Ha=cfg.d_att_lstm)
    emb = _a(dec.embed.weight)
    if paper:
        w_ih1 = _a(dec.cell1.weight_ih)  # input [embed; context]
        w_ih2 = _a(dec.cell2.weight_ih)  # input [context; query]
        b1 = _a(dec.cell1.bias_ih + dec.cell1.bias_hh)
        w.update(
            n_layers=2,
            emb_gates=np.ascontiguousarray(emb @ w_ih1[:, :H].T + b1),
            w_hh=np.stack([_a(dec.cell1.weight_hh), _a(dec.cell2.weight_hh)]),
            w_ih_up=np.ascontiguousarray(w_ih2[None, :, D:]),
            b_up=_a(dec.cell2.bias_ih + dec.cell2.bias_hh)[None],
            w_ctx1=np.ascontiguousarray(w_ih1[:, H:]),
            w_ctx2=np.ascontiguousarray(w_ih2[:, :D]),
            jq=_empty(0, 0), jq_b=_empty(0), jc=_empty(0, 0),
            wo=_a(dec.out.weight), bo=_a(dec.out.bias),
        )  # fmt: skip
    else:
        lstm, n = dec.lstm, dec.lstm.num_layers
        b0 = _a(lstm.bias_ih_l0 + lstm.bias_hh_l0)
        w.update(
            n_layers=n,
            emb_gates=np.ascontiguousarray(emb @ _a(lstm.weight_ih_l0).T + b0),
            w_hh=np.stack([_a(getattr(lstm, f"weight_hh_l{k}")) for k in range(n)]),
            w_ih_up=np.stack([_a(getattr(lstm, f"weight_ih_l{k}")) for k in range(1, n)])
            if n > 1 else _empty(0, 4 * H, H),
            b_up=np.stack([_a(getattr(lstm, f"bias_ih_l{k}") + getattr(lstm, f"bias_hh_l{k}"))
                           for k in range(1, n)]) if n > 1 else _empty(0, 4 * H),
            w_ctx1=_empty(0, 0), w_ctx2=_empty(0, 0),
            jq=_a(dec.joint.q.weight), jq_b=_a(dec.joint.q.bias), jc=_a(dec.joint.c.weight),
            wo=_a(dec.joint.out.weight), bo=_a(dec.joint.out.bias),
        )  # fmt: skip
    w.update(aq=_empty(0, 0), aq_b=_empty(0), ak=_empty(0, 0), av=_empty(0))
    w.update(al_ih=_empty(0, 0), al_hh=_empty(0, 0), al_b=_empty(0))
    w.update(al_out=_empty(0, 0), al_out_b=_empty(0))
    dot = att.dot if kind in (ATT_LSTM, ATT_STEP_LSTM) else att
    if kind in (ATT_DOT, ATT_LSTM, ATT_STEP_LSTM):
        w.update(aq=_a(dot.q.weight), aq_b=_empty(D))
    if kind == ATT_MLP:
        w.update(aq=_a(att.q.weight), aq_b=_a(att.q.bias), ak=_a(att.k.weight),
                 av=_a(att.v.weight)[0])  # fmt: skip
    if kind == ATT_LSTM:
        w.update(al_ih=_a(att.lstm.weight_ih_l0), al_hh=_a(att.lstm.weight_hh_l0),
                 al_b=_a(att.lstm.bias_ih_l0 + att.lstm.bias_hh_l0),
                 al_out=_a(att.out.weight), al_out_b=_a(att.out.bias))  # fmt: skip
    if kind == ATT_STEP_LSTM:
        w.update(al_ih=_a(att.cell.weight_ih), al_hh=_a(att.cell.weight_hh),
                 al_b=_a(att.cell.bias_ih + att.cell.bias_hh),
                 al_out=_a(att.out.weight), al_out_b=_a(att.out.bias))  # fmt: skip
    return Weights(**w)


def state_size(w: Weights) -> int:
    """Full-sum: [h (layers*H), c (layers*H), q (H)]; paper: [h1, c1, h2, c2, context (D),
    att_h (Ha), att_c (Ha)]."""
    if w.paper:
        return 4 * w.H + w.D + 2 * w.Ha
    return 2 * w.n_layers * w.H + w.H


def initial_state(w: Weights) -> np.ndarray:
    """The state before the first symbol. Full-sum: the prediction network has read `<e>`."""
    s = np.zeros((1, state_size(w)), F32)
    if not w.paper:
        _advance(w, s, np.array([BLANK]))
    return s[0]


@nb.njit(cache=True)
def _advance(w, s, ys):
    """Full-sum: row r of the states s (R, S) reads label ys[r] (in place). Each weight is one
    product over all R rows (`_gemm`): read once per beam, not once per hypothesis."""
    H, n, R = w.H, w.n_layers, s.shape[0]
    gates = w.emb_gates[ys]
    for layer in range(n):
        h = np.ascontiguousarray(s[:, layer * H : (layer + 1) * H])
        c = np.ascontiguousarray(s[:, (n + layer) * H : (n + layer + 1) * H])
        if layer > 0:
            below = np.ascontiguousarray(s[:, (layer - 1) * H : layer * H])
            gates = _rows(w.b_up[layer - 1], R)
            _gemm(w.w_ih_up[layer - 1], below, gates)
        _gemm(w.w_hh[layer], h, gates)
        for r in range(R):
            _lstm_update(gates[r], h[r], c[r])
        s[:, layer * H : (layer + 1) * H] = h
        s[:, (n + layer) * H : (n + layer + 1) * H] = c
    s[:, 2 * n * H :] = s[:, (n - 1) * H : n * H]  # the query is the top layer's output


@nb.njit(cache=True)
def _rows(v, R):
    """R copies of the vector v as an (R, len(v)) matrix (biases to accumulate products on)."""
    out = np.empty((R, v.shape[0]), np.float32)
    for r in range(R):
        out[r] = v
    return out


@nb.njit(cache=True)
def _log_softmax(logits, out):
    m = logits.max()
    total = np.float32(0.0)
    for v in range(logits.shape[0]):
        total += np.exp(logits[v] - m)
    lse = m + np.log(total)
    for v in range(logits.shape[0]):
        out[v] = logits[v] - lse


@nb.njit(cache=True)
def _masked_softmax(scores, mask, out):
    for k in range(scores.shape[0]):
        if not mask[k]:
            scores[k] = NEG_INF
    m = scores.max()
    total = np.float32(0.0)
    for k in range(scores.shape[0]):
        out[k] = np.exp(scores[k] - m)
        total += out[k]
    for k in range(scores.shape[0]):
        out[k] /= total


@nb.njit(cache=True)
def _attend(w, qa, frames, keys, mask, att_state, new_block, weights):
    """Attention weights (L,) over the block for the projected query qa (`aq @ query + aq_b`,
    which the caller computes for all its rows at once); att_state (2*Ha,) is the stateful
    LSTM-attention's memory (updated in place; reset at a block start)."""
    L = frames.shape[0]
    scores = np.zeros(L, np.float32)
    if w.att == ATT_NONE:  # the last valid frame
        last = -1
        for k in range(L):
            if mask[k]:
                last = k
        for k in range(L):
            weights[k] = np.float32(1.0) if k == last else np.float32(0.0)
        return
    if w.att == ATT_MLP:
        A = qa.shape[0]
        for k in range(L):
            acc = np.float32(0.0)
            for a in range(A):
                acc += w.av[a] * _tanh(qa[a] + keys[k, a])
            scores[k] = acc
        _masked_softmax(scores, mask, weights)
        return
    _gemv(frames, qa, scores, False)
    for k in range(L):
        scores[k] *= np.float32(w.scale)
    if w.att == ATT_LSTM:  # a small LSTM reads the L scores in order; residual on the scores
        Ha = w.Ha
        h = np.zeros(Ha, np.float32)
        c = np.zeros(Ha, np.float32)
        raw = scores.copy()
        for k in range(L):
            gates = w.al_b.copy()
            for g in range(4 * Ha):
                gates[g] += w.al_ih[g, 0] * raw[k]
            _gemv(w.al_hh, h, gates, True)
            _lstm_update(gates, h, c)
            acc = w.al_out_b[0]
            for a in range(Ha):
                acc += w.al_out[0, a] * h[a]
            scores[k] = raw[k] + acc
    elif w.att == ATT_STEP_LSTM:  # the paper's form: memory across the steps of one block
        Ha = w.Ha
        if new_block:
            att_state[:] = 0.0
        h = att_state[:Ha]
        c = att_state[Ha:]
        gates = w.al_b.copy()
        _gemv(w.al_ih, scores, gates, True)
        _gemv(w.al_hh, h, gates, True)
        _lstm_update(gates, h, c)
        _gemv(w.al_out, h, scores, True)
        for k in range(L):
            scores[k] += w.al_out_b[k]
    _masked_softmax(scores, mask, weights)


@nb.njit(cache=True)
def _paper_step(w, y_prev, frames, keys, mask, s, logp, weights):
    """Paper mode, one hypothesis: reads y_prev, updates state s in place, writes logp (V,)
    and weights (L,)."""
    L = frames.shape[0]
    H, D = w.H, w.D
    h1, c1 = s[:H], s[H : 2 * H]
    h2, c2 = s[2 * H : 3 * H], s[3 * H : 4 * H]
    ctx = s[4 * H : 4 * H + D]
    gates = w.emb_gates[y_prev].copy()
    _gemv(w.w_ctx1, ctx, gates, True)
    _gemv(w.w_hh[0], h1, gates, True)
    _lstm_update(gates, h1, c1)
    qa = w.aq_b.copy()
    _gemv(w.aq, h1, qa, True)
    _attend(w, qa, frames, keys, mask, s[4 * H + D :], y_prev == 0, weights)
    for d in range(D):
        acc = np.float32(0.0)
        for k in range(L):
            acc += weights[k] * frames[k, d]
        ctx[d] = acc
    gates = w.b_up[0].copy()
    _gemv(w.w_ctx2, ctx, gates, True)
    _gemv(w.w_ih_up[0], h1, gates, True)
    _gemv(w.w_hh[1], h2, gates, True)
    _lstm_update(gates, h2, c2)
    logits = w.bo.copy()
    _gemv(w.wo, h2, logits, True)
    _log_softmax(logits, logp)


@nb.njit(cache=True)
def _steps(w, s, ys, frames, keys, fj, mask, s_out, logp, weights):
    """One decoder step for each of R hypotheses: reads states s (R, S) and previous labels
    ys (R,), writes s_out (R, S), logp (R, V) and the attention weights (R, L). Full-sum:
    the R rows share each weight's load (`_gemm`); the attention, the joint's tanh and the
    log-softmax run row by row."""
    s_out[:] = s
    R, L = s.shape[0], frames.shape[0]
    if w.paper:
        for r in range(R):
            _paper_step(w, ys[r], frames, keys, mask, s_out[r], logp[r], weights[r])
        return
    moved = np.nonzero(ys != BLANK)[0]
    if moved.shape[0] > 0:
        rows = s_out[moved]
        _advance(w, rows, ys[moved])
        for i in range(moved.shape[0]):
            s_out[moved[i]] = rows[i]
    q = np.ascontiguousarray(s_out[:, 2 * w.n_layers * w.H :])
    qa = _rows(w.aq_b, R)
    _gemm(w.aq, q, qa)
    z = _rows(w.jq_b, R)
    _gemm(w.jq, q, z)
    for r in range(R):
        _attend(w, qa[r], frames, keys, mask, s_out[r, :0], False, weights[r])
        for j in range(z.shape[1]):  # Wc (sum_k w_k f_k) = sum_k w_k (Wc f_k): fj precomputed
            acc = np.float32(0.0)
            for k in range(L):
                acc += weights[r, k] * fj[k, j]
            z[r, j] = _tanh(z[r, j] + acc)
    logits = _rows(w.bo, R)
    _gemm(w.wo, z, logits)
    for r in range(R):
        _log_softmax(logits[r], logp[r])


@nb.njit(cache=True)
def _block_inputs(w, frames):
    """Per-block precomputation: MLP keys (L, A) and the joint's frame projection (L, J)."""
    L = frames.shape[0]
    keys = np.zeros((L, w.ak.shape[0]), np.float32)
    fj = np.zeros((L, w.jc.shape[0]), np.float32)
    for k in range(L):
        _gemv(w.ak, frames[k], keys[k], False)
        _gemv(w.jc, frames[k], fj[k], False)
    return keys, fj


@nb.njit(cache=True)
def _greedy_block(w, s, frames, mask, K, first_frame, last_frame):
    """Greedy decoding of one block from state s (after `<e>`).

    Returns tokens (n,), frames (n,), the score added and the state after `<e>`."""
    keys, fj = _block_inputs(w, frames)
    V = w.bo.shape[0]
    tokens = np.zeros(K, np.int64)
    where = np.zeros(K, np.int64)
    logp = np.zeros((1, V), np.float32)
    weights = np.zeros((1, frames.shape[0]), np.float32)
    cur, nxt = s.copy().reshape(1, -1), s.copy().reshape(1, -1)
    y, n, score = np.zeros(1, np.int64), 0, 0.0
    for k in range(K + 1):
        _steps(w, cur, y, frames, keys, fj, mask, nxt, logp, weights)
        cur, nxt = nxt, cur
        y[0] = np.argmax(logp[0]) if k < K else 0
        score += float(logp[0, y[0]])
        if y[0] == 0:
            break
        frame = max(first_frame + int(np.argmax(weights[0])), last_frame)
        tokens[n], where[n], last_frame = y[0], frame, frame
        n += 1
    return tokens[:n], where[:n], score, cur[0]


@nb.njit(cache=True)
def _beam_block(w, states, scores, y_prev, last_frames, frames, mask, K, beam, first_frame,
                lm_keys, lm_logp, lm_order, lm_weight, lm_bonus, contexts,
                words, oov_penalty, space, word_hashes,
                w_arrays, w_hashes, w_ids, p_hashes, p_masks, w_weight, w_bonus, w_oov,
                hist1, hist2, spelled):  # fmt: skip
    """One block of block-synchronous beam search over R input hypotheses (see
    `search.beam_block`, which this reproduces step for step, ties included). With a
    character LM (`transducer.lm`; lm_keys empty: none) labels are ranked and scored by
    log p + lm_weight * log p_lm + lm_bonus, and `contexts` are the input rows' LM contexts;
    with a lexicon (`words`, sorted hashes; empty: none) the label `space` scores
    `oov_penalty` less where the row's last word (`word_hashes`, `lm.word_hash`) is not in it;
    with a word LM (`transducer.wordlm`; w_hashes empty: none) labels add what
    `WordLM.label_scores` gives, from the rows' word histories (hist2, hist1), the starts of
    its words (p_hashes, p_masks) and the character LM's log p of the word's letters so far
    (`spelled`), which move on with every label.

    Returns, for each finished hypothesis (best first): the input row it extends, its new
    tokens (n, K) with counts, their frames, its score and state."""
    keys, fj = _block_inputs(w, frames)
    V, S = w.bo.shape[0], states.shape[1]
    n_top = min(beam, V - 1)
    use_lm = lm_keys.shape[0] > 0
    lam, bonus = np.float32(lm_weight), np.float32(lm_bonus)
    context_mask = (1 << (BITS * (lm_order - 1))) - 1
    a_ctx, a_word = contexts.copy(), word_hashes.copy()
    use_words = w_hashes.shape[0] > 0
    a_h1, a_h2, a_spelled = hist1.copy(), hist2.copy(), spelled.copy()
    leave = np.float32(w_weight * w_oov)
    penalty = np.float32(oov_penalty)
    label = np.zeros(V - 1, np.float32)  # the labels' scores at one step
    # active hypotheses: parent row, new tokens, their frames, count, score, state, y_prev
    a_par = np.arange(states.shape[0])
    a_tok = np.zeros((states.shape[0], K), np.int64)
    a_frm = np.zeros((states.shape[0], K), np.int64)
    a_n = np.zeros(states.shape[0], np.int64)
    a_score, a_state, a_y = scores.copy(), states.copy(), y_prev.copy()
    a_last = last_frames.copy()
    f_par = np.zeros(0, np.int64)
    f_tok = np.zeros((0, K), np.int64)
    f_frm = np.zeros((0, K), np.int64)
    f_n = np.zeros(0, np.int64)
    f_score = np.zeros(0, np.float64)
    f_state = np.zeros((0, S), np.float32)
    for k in range(K + 1):
        R = a_par.shape[0]
        if R == 0:
            break
        new_states = np.zeros((R, S), np.float32)
        logp = np.zeros((R, V), np.float32)
        weights = np.zeros((R, frames.shape[0]), np.float32)
        _steps(w, a_state, a_y, frames, keys, fj, mask, new_states, logp, weights)
        n_ext = 0 if k == K else R * n_top
        e_row = np.zeros(n_ext, np.int64)
        e_y = np.zeros(n_ext, np.int64)
        e_score = np.zeros(n_ext, np.float64)
        e_frame = np.zeros(n_ext, np.int64)
        e_spelled = np.zeros(n_ext, np.float64)  # a_spelled after each extension
        g_score = np.zeros(R, np.float64)
        for r in range(R):
            g_score[r] = a_score[r] + float(logp[r, 0])
            if k == K:
                continue
            frame = max(first_frame + int(np.argmax(weights[r])), a_last[r])
            label[:] = logp[r, 1:]
            row = 0
            if use_lm:
                row = lm_row(lm_keys, a_ctx[r], lm_order)
                label += lam * lm_logp[row, 1:] + bonus
                if words.shape[0] > 0 and a_word[r] != 0:
                    i = np.searchsorted(words, a_word[r])
                    if i == words.shape[0] or words[i] != a_word[r]:
                        label[space - 1] -= penalty
                starts = continuations(p_hashes, p_masks, a_word[r]) if use_words else 0
                if starts != 0:  # letters that leave the words' starts pay now
                    for t in range(1, V):
                        if t != space and not (starts >> t) & 1:
                            label[t - 1] += leave
                if use_words and a_word[r] != 0:
                    wid = lookup(w_hashes, w_ids, a_word[r])
                    if wid < 0:
                        value = (w_weight * w_oov if starts != 0 else 0.0) + w_bonus
                    else:
                        chars = a_spelled[r] + float(lm_logp[row, space])
                        lp = log_prob(w_arrays, wid, a_h1[r], a_h2[r], w_oov)
                        value = w_weight * lp - lm_weight * chars + w_bonus
                    label[space - 1] += np.float32(value)
            order = np.argsort(-label, kind="mergesort")[:n_top]
            for t in range(n_top):
                e = r * n_top + t
                e_row[e], e_y[e], e_frame[e] = r, order[t] + 1, frame
                e_score[e] = a_score[r] + float(label[order[t]])
                if use_words:
                    y = order[t] + 1
                    e_spelled[e] = 0.0 if y == space else a_spelled[r] + float(lm_logp[row, y])
        # finished: the old ones, then these R ended blocks; stable sort, keep `beam`
        all_score = np.concatenate((f_score, g_score))
        keep = np.argsort(-all_score, kind="mergesort")[:beam]
        f_par = np.concatenate((f_par, a_par))[keep]
        f_tok = np.concatenate((f_tok, a_tok))[keep]
        f_frm = np.concatenate((f_frm, a_frm))[keep]
        f_n = np.concatenate((f_n, a_n))[keep]
        f_state = np.concatenate((f_state, new_states))[keep]
        f_score = all_score[keep]
        # active: the extensions (row e_row[e] plus label e_y[e]), stable sort, keep `beam`
        keep = np.argsort(-e_score, kind="mergesort")[:beam]
        rows, na = e_row[keep], keep.shape[0]
        a_par, a_tok, a_frm, a_state = a_par[rows], a_tok[rows], a_frm[rows], new_states[rows]
        for i in range(na):
            a_tok[i, a_n[rows[i]]], a_frm[i, a_n[rows[i]]] = e_y[keep[i]], e_frame[keep[i]]
        a_n, a_y, a_last, a_score = a_n[rows] + 1, e_y[keep], e_frame[keep], e_score[keep]
        a_ctx = ((a_ctx[rows] << BITS) | a_y) & context_mask
        ends = (a_y == space) & (a_word[rows] != 0)  # a word ended: the history moves on
        a_h2 = np.where(ends, a_h1[rows], a_h2[rows])
        a_h1 = a_h1[rows]
        for i in range(na):
            if ends[i]:
                a_h1[i] = lookup(w_hashes, w_ids, a_word[rows[i]]) if use_words else -1
        a_word = np.where(a_y == space, 0, (a_word[rows] * WORD_MUL + a_y) & WORD_MASK)
        a_spelled = e_spelled[keep]
        if f_score.shape[0] == beam and na > 0 and a_score[0] < f_score[-1]:
            break  # no active hypothesis can beat the finished ones: scores only fall (with
            # an LM bonus they may rise a little, and this becomes a pruning rule)
    return f_par, f_tok, f_frm, f_n, f_score, f_state


# ------------------------------------------------------------------------------ Python side


# the matrices read only by _gemv and _gemm
DECODER_MATRICES = ("w_hh", "w_ih_up", "w_ctx1", "w_ctx2", "aq", "ak", "al_hh", "jq", "jc", "wo")


class FastDecoder:
    """Numba searches with the torch reference's interface (`search.greedy_block`,
    `search.beam_block`); hypotheses carry their state as a float32 vector."""

    def __init__(self, w: Weights, block_frames: int = 8, half: bool = True):
        """half: keep the matrices as half bits where that is lossless (`halve`)."""
        self.w = w._replace(**halve({k: getattr(w, k) for k in DECODER_MATRICES})) if half else w
        self._warm_up(block_frames)

    @classmethod
    def from_model(cls, model) -> "FastDecoder":
        return cls(pack(model), (model.cfg.lookback + 1) * model.cfg.block_width)

    def _warm_up(self, L: int) -> None:
        """Compile (or load from the cache) every kernel now, not on the first block."""
        frames, mask = np.zeros((1, L, self.w.D), F32), np.ones((1, L), bool)
        hyp = Hypothesis(state=self.initial())
        self.greedy_block(hyp, frames, mask, 0, 2, L)
        self.beam_block([hyp], frames, mask, 0, 2, L, 2)

    def initial(self) -> np.ndarray:
        return initial_state(self.w)

    def greedy_block(self, hyp: Hypothesis, frames, mask, b: int, K: int, W: int,
                     lookback: int = 0) -> Hypothesis:  # fmt: skip
        """frames (1, L, D) and mask (1, L) as torch tensors or arrays; see search.greedy_block."""
        f, m = _block_arrays(frames, mask)
        last = hyp.frames[-1] if hyp.frames else -1
        tokens, where, score, state = _greedy_block(
            self.w, hyp.state, f, m, K, (b - lookback) * W, last
        )
        n = len(tokens)
        return Hypothesis(hyp.tokens + tokens.tolist(), hyp.blocks + [b] * n,
                          hyp.frames + where.tolist(), hyp.score + score, state)  # fmt: skip

    def beam_block(self, hyps: list[Hypothesis], frames, mask, b: int, K: int, W: int,
                   beam: int, lookback: int = 0, lm=None) -> list[Hypothesis]:  # fmt: skip
        """lm: a `transducer.lm.CharLM` for shallow fusion, or None."""
        f, m = _block_arrays(frames, mask)
        states = np.stack([h.state for h in hyps])
        scores = np.array([h.score for h in hyps], np.float64)
        y_prev = np.array([h.y_prev for h in hyps], np.int64)
        last = np.array([h.frames[-1] if h.frames else -1 for h in hyps], np.int64)
        none = np.zeros(len(hyps), np.int64)
        fusion = (NO_WORDS, np.zeros((0, self.w.bo.shape[0]), F32), 1, 0.0, 0.0, none)
        lexicon = (NO_WORDS, 0.0, -1, none)
        word_lm = (NO_WORD_LM, NO_WORDS, NO_WORDS, NO_WORDS, NO_WORDS, 0.0, 0.0, 0.0, none,
                   none, np.zeros(len(hyps)))  # fmt: skip
        if lm is not None:
            contexts = np.array([lm.context(h.tokens) for h in hyps], np.int64)
            fusion = (lm.keys, lm.logp, lm.order, lm.weight, lm.bonus, contexts)
        if lm is not None and len(lm.words) and lm.word_lm is None:
            hashes = np.array([word_hash(h.tokens, lm.space) for h in hyps], np.int64)
            lexicon = (lm.words, lm.oov_penalty, lm.space, hashes)
        if lm is not None and lm.word_lm is not None:
            wl = lm.word_lm
            h2, h1, hashes = np.array([wl.history(h.tokens, lm.space) for h in hyps], np.int64).T
            lexicon = (lm.words, lm.oov_penalty, lm.space, np.ascontiguousarray(hashes))
            spelled = np.array([lm.spelled(h.tokens) for h in hyps], np.float64)
            word_lm = (wl.arrays(), wl.hashes, wl.ids, wl.p_hashes, wl.p_masks, wl.weight,
                       wl.bonus, wl.oov_logp,
                       np.ascontiguousarray(h1), np.ascontiguousarray(h2), spelled)  # fmt: skip
        first = (b - lookback) * W
        par, tok, frm, cnt, score, state = _beam_block(
            self.w,
            states,
            scores,
            y_prev,
            last,
            f,
            m,
            K,
            beam,
            first,
            *fusion,
            *lexicon,
            *word_lm,
        )
        out = []
        for i in range(len(par)):
            h, n = hyps[par[i]], int(cnt[i])
            tokens, where = h.tokens + tok[i, :n].tolist(), h.frames + frm[i, :n].tolist()
            out.append(Hypothesis(tokens, h.blocks + [b] * n, where, float(score[i]), state[i]))
        return out


def _block_arrays(frames, mask) -> tuple[np.ndarray, np.ndarray]:
    """frames (1, L, D) and mask (1, L), NumPy or torch -> contiguous (L, D) and (L,)."""
    if hasattr(frames, "detach"):  # a torch tensor
        frames, mask = frames.detach().numpy(), mask.numpy()
    return np.ascontiguousarray(frames[0], dtype=F32), np.ascontiguousarray(mask[0])
