"""Training: overfitting in both modes, SIGKILL + resume, DDP, non-finite losses, schedule."""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict

import numpy as np
import pytest
import torch

from tests.helpers import WORDS, make_corpus, write_config
from transducer import checkpoint
from transducer.checkpoint import load_model
from transducer.cli import main
from transducer.config import OptimConfig, TrainConfig
from transducer.data.augment import random_eq
from transducer.data.dataset import BucketBatchSampler, collate
from transducer.data.manifest import read_manifest
from transducer.evaluate import error_rates_by, evaluate
from transducer.train import (
    Run,
    get_lr,
    load_config,
    resolve_device,
    resolve_precision,
    train,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    return make_corpus(folder, WORDS[:4])


@pytest.mark.parametrize(
    "mode,alignment,steps,pred_context",
    [("fullsum", "search", 300, 0), ("fullsum", "search", 300, 2), ("paper", "search", 600, 0),
     ("paper", "ctc", 300, 0)],
)  # fmt: skip
def test_tiny_model_overfits(toy, tmp_path, capsys, mode, alignment, steps, pred_context):
    model = {"mode": mode, "n_dec_layers": 1 if mode == "fullsum" else 2,
             "pred_context": pred_context}  # fmt: skip
    config = write_config(
        tmp_path / "c.json",
        model,
        {"alignment": alignment, "max_steps": steps, "eval_every": steps},
    )
    progress = train(config, toy, toy, tmp_path / "run", show_progress=False)
    assert progress.step == steps and progress.n_bad == 0
    model, tok, stats, features, _ = load_model(tmp_path / "run" / "best.pt")
    assert model.cfg.mode == mode
    for beam in (0, 4):  # greedy and beam search both read the memorised words
        result = evaluate(model, tok, stats, read_manifest(toy), features, beam=beam)
        assert result["cer"] == 0.0, (beam, result["hypotheses"])
    if mode == "fullsum":  # the eval command's JSON (numba runs LSTM prediction networks only)
        backend = ["--backend", "torch"] if pred_context else []
        main(["eval", "--model", str(tmp_path / "run" / "best.pt"), "--manifest", str(toy),
              "--json", *backend])  # fmt: skip
        printed = json.loads(capsys.readouterr().out)
        assert set(printed) == {"wer", "cer", "rtf", "n_utts", "audio_seconds", "unreadable"}
        assert printed["cer"] == 0.0 and printed["n_utts"] == 4
        main(["eval", "--model", str(tmp_path / "run" / "best.pt"), "--manifest", str(toy),
              "--json", "--by", "engine", *backend])  # fmt: skip
        by_engine = json.loads(capsys.readouterr().out)["by_engine"]
        assert by_engine == {"toy": {"wer": 0.0, "cer": 0.0, "n_utts": 4}}
    assert (tmp_path / "run" / "plots" / "emissions.png").stat().st_size > 1000
    assert (tmp_path / "run" / "plots" / "loss.png").stat().st_size > 1000


def test_eval_scores_past_unreadable_audio_and_refuses_nothing_to_score(trained, tmp_path, capsys):
    """An unreadable file or an offset past the end is reported and skipped, as `transcribe`
    does, and the exit status says so; an empty manifest is an error, not WER 0."""
    corpus = make_corpus(tmp_path, ["abc", "cab"])
    lines = corpus.read_text().splitlines()
    missing, past_end = json.loads(lines[0]), json.loads(lines[1])
    missing.update(id="missing", audio="nope.wav")
    past_end.update(id="past-end", offset=60.0)
    corpus.write_text("\n".join([lines[0], json.dumps(missing), json.dumps(past_end)]) + "\n")
    model = str(trained[0]["fullsum"])
    for backend in ("offline", "numba"):
        with pytest.raises(SystemExit):
            main(["eval", "--model", model, "--manifest", str(corpus), "--json",
                  "--backend", backend, "--by", "speaker"])  # fmt: skip
        out, err = capsys.readouterr()
        printed = json.loads(out.splitlines()[0])
        assert printed["n_utts"] == 1 and set(printed["unreadable"]) == {"missing", "past-end"}
        assert "nope.wav: no such audio file" in err and "offset 60 s is past the end" in err
        assert "2 of 3 utterances could not be read" in err
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(SystemExit):
        main(["eval", "--model", model, "--manifest", str(tmp_path / "empty.jsonl")])
    assert "empty.jsonl: no utterances to score" in capsys.readouterr().err


def test_error_rates_by_group():
    keys = ["espeak", "flite", "espeak", "flite"]
    refs, hyps = ["a b"] * 4, ["a b", "a", "a c", "a b"]
    by = error_rates_by(refs, hyps, keys)
    assert list(by) == ["espeak", "flite"]
    assert by["espeak"] == {"wer": 0.25, "cer": 1 / 6, "n_utts": 2}
    assert by["flite"] == {"wer": 0.25, "cer": 2 / 6, "n_utts": 2}


def _train_cmd(config, toy, out, *extra):
    return [
        sys.executable,
        "-m",
        "transducer.train",
        "--config",
        str(config),
        "--train",
        str(toy),
        "--dev",
        str(toy),
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]


def test_sigkill_then_resume_continues_exactly(toy, tmp_path):
    config = write_config(
        tmp_path / "c.json",
        train={"max_steps": 120, "eval_every": 10, "batch_seconds": 0.9, "keep_last": 2},
    )
    out = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(config, toy, out), start_new_session=True)
    deadline = time.time() + 120
    while not list(out.glob("step-000004*.pt")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = sorted(out.glob("step-*.pt"))
    assert saved and len(saved) <= 2  # keep_last
    for path in saved:  # every checkpoint on disk is whole
        ckpt = checkpoint.load(path)
        assert ckpt["progress"]["step"] == int(path.stem.split("-")[1])
    last = checkpoint.load(saved[-1])["progress"]
    assert last["step"] < 120 and last["epoch"] * 2 + last["batch_in_epoch"] == last["step"]

    done = subprocess.run(_train_cmd(config, toy, out, "--resume"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["step"] == 120
    steps = [int(line.split(",")[0]) for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == sorted(set(steps))  # no step logged twice, none missing at the seam
    # Resumed == uninterrupted: same data order, same random draws, same weights.
    train(config, toy, toy, tmp_path / "straight", show_progress=False)
    a = json.loads((out / "weights.json").read_text())["rank_checksums"]
    b = json.loads((tmp_path / "straight" / "weights.json").read_text())["rank_checksums"]
    assert a == pytest.approx(b, rel=1e-6)


def test_ddp_two_processes_end_identical(toy, tmp_path):
    config = write_config(
        tmp_path / "c.json", train={"max_steps": 20, "eval_every": 20, "batch_seconds": 0.9}
    )
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",  # a free port, not a fixed one that another run may hold
        "--nproc_per_node",
        "2",
        *_train_cmd(config, toy, tmp_path / "ddp")[1:],
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    sums = json.loads((tmp_path / "ddp" / "weights.json").read_text())["rank_checksums"]
    assert len(sums) == 2 and sums[0] == sums[1]
    assert json.loads(done.stdout.splitlines()[-1])["step"] == 20


@pytest.mark.parametrize("mode", ["fullsum", "paper"])
def test_training_on_the_device_path(toy, tmp_path, capsys, mode):
    """--device cpu runs the GPU's code path: the model, batches, losses and (paper mode)
    alignments on the device, autocast and the gradient scaler. bf16 and fp16 train (other
    numbers, all finite); checkpoints hold CPU tensors; a run resumes at another precision."""
    model = {"mode": mode, "n_dec_layers": 1 if mode == "fullsum" else 2}
    config = write_config(tmp_path / "c.json", model, {"max_steps": 2, "eval_every": 2})
    weights = {}
    for precision in ("fp32", "bf16", "fp16"):
        out = tmp_path / precision
        main(["train", "--config", str(config), "--train", str(toy), "--dev", str(toy), "--out",
              str(out), "--quiet", "--device", "cpu", "--precision", precision])  # fmt: skip
        ckpt = checkpoint.load(out / "step-0000002.pt")
        assert ckpt["config"]["train"]["run"]["precision"] == precision
        assert all(v.device.type == "cpu" and v.isfinite().all() for v in ckpt["model"].values())
        assert ("scale" in ckpt["scaler"]) == (precision == "fp16")  # the scaler resumes too
        weights[precision] = torch.cat([v.flatten() for v in ckpt["model"].values()])
    assert not torch.equal(weights["bf16"], weights["fp32"])  # autocast took effect
    assert not torch.equal(weights["fp16"], weights["fp32"])
    main(["train", "--config", str(config), "--train", str(toy), "--dev", str(toy), "--out",
          str(tmp_path / "fp16"), "--quiet", "--resume", "--precision", "fp32",
          "--set", "train.max_steps=3"])  # fmt: skip
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["step"] == 3


def test_devices_are_resolved_or_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA device is visible"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="device in"):
        TrainConfig.of(device="tpu")
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"  # autocast is slow on CPUs
    assert resolve_precision("fp16", torch.device("cpu")) == "fp16"


def test_cached_features_equal_fresh_ones(toy, tmp_path):
    train = {
        "cache_features": True,
        "speed_perturb": [0.9, 1.1],
        "spec_augment": True,
        "eq_db": 10.0,
        "formant_warp": 0.3,
        "formant_warp_frames": 20,
        "max_steps": 2,
    }
    run = Run(*load_config(write_config(tmp_path / "c.json", train=train))[:2], toy, toy,
              tmp_path / "run", show_progress=False)  # fmt: skip
    run.fit()
    assert run.feature_cache  # training filled it
    run.feature_cache.clear()
    loader = torch.utils.data.DataLoader(run.dataset, batch_sampler=run.sampler, collate_fn=collate)
    key, batch = tuple(next(iter(run.sampler))), next(iter(loader))

    def features(key, seed):
        torch.manual_seed(0)  # the same SpecAugment masks
        return run.batch_features(*batch[:2], np.random.default_rng(seed), step=10, key=key)

    fresh = features(None, 0)
    for _ in range(2):  # computed, then from the cache
        assert all(torch.equal(a, b) for a, b in zip(features(key, 0), fresh, strict=True))
    assert len(run.feature_cache) == 1
    ((feats, _),) = run.feature_cache.values()
    assert not torch.equal(feats, fresh[0])  # the filterbank is cached, not what follows it
    draw = [np.random.default_rng(s).integers(2) for s in range(20)]
    same_factor = draw.index(draw[0], 1)
    assert not torch.equal(features(key, same_factor)[0], fresh[0])  # new filters and warps
    assert len(run.feature_cache) == 1
    features(key, draw.index(1 - draw[0]))  # the other speed factor: a second entry
    assert len(run.feature_cache) == 2
    for noise in ({"noise_prob": 0.5}, {"noise_onset_prob": 0.5}):
        with pytest.raises(ValueError, match="cache_features needs noise_prob and noise_onset"):
            TrainConfig.of(cache_features=True, **noise)


def test_random_filters_change_each_utterance_and_keep_the_padding(toy, tmp_path, monkeypatch):
    train = {"eq_db": 12, "eq_points": 9, "speed_perturb": [], "spec_augment": False,
             "max_steps": 1}  # fmt: skip
    drawn = []  # the gains' shape of each call: one row per utterance, one column per point

    def record(feats, gains, log_floor):
        drawn.append(gains.shape)
        return random_eq(feats, gains, log_floor)

    monkeypatch.setattr("transducer.train.random_eq", record)
    run = Run(*load_config(write_config(tmp_path / "c.json", train=train))[:2], toy, toy,
              tmp_path / "run", show_progress=False)  # fmt: skip
    loader = torch.utils.data.DataLoader(run.dataset, batch_sampler=run.sampler, collate_fn=collate)
    waves, lens = next(iter(loader))[:2]
    lens = lens.clone()
    lens[0] //= 2  # the toy utterances are of one length: make padding

    def features():  # the same generator each time, so the same filters
        return run.batch_features(waves, lens, np.random.default_rng(0), step=0)

    filtered, feat_lens = features()
    again, _ = features()
    run.cfg = run.cfg.with_keys(eq_db=0.0)
    plain, _ = features()
    assert torch.equal(filtered, again)  # the filters come from the step's generator
    valid = torch.arange(plain.shape[1])[None] < feat_lens[:, None]
    shift = (filtered - plain)[valid]  # (frames, bins)
    assert (shift.abs().amax(dim=0) > 0.01).all()
    first, second = ((filtered - plain)[n, 1 : feat_lens[n] // 2].mean(0) for n in (0, 1))
    assert not torch.allclose(first, second, atol=0.01)  # each utterance its own filter
    assert (~valid).any() and (filtered[~valid] == 0).all()
    assert not torch.allclose(shift[:, 0], shift[:, -1])  # a curve over the bins, not a constant
    assert drawn == [(len(waves), 9)] * 2  # eq_points reaches the draw


def test_non_finite_losses_are_skipped_then_stop(toy, tmp_path, monkeypatch):
    model_cfg, train_cfg, _ = load_config(
        write_config(tmp_path / "c.json", train={"max_bad_steps": 3})
    )
    run = Run(model_cfg, train_cfg, toy, toy, tmp_path / "run", show_progress=False)
    loader = torch.utils.data.DataLoader(run.dataset, batch_sampler=run.sampler, collate_fn=collate)
    batch = next(iter(loader))
    before = [p.detach().clone() for p in run.model.parameters()]
    real_forward = run.model.forward
    monkeypatch.setattr(
        run.model, "forward", lambda *a, **k: (real_forward(*a, **k)[0] * float("nan"), {})
    )
    row = run.train_step(batch)
    assert row["skipped"] == 1 and run.progress.n_bad == 1
    assert all(torch.equal(a, b) for a, b in zip(before, run.model.parameters(), strict=True))
    run.train_step(batch)
    with pytest.raises(RuntimeError, match="3 non-finite losses in a row"):
        run.train_step(batch)


def test_lr_schedule():
    cfg = OptimConfig(max_steps=1000, warmup_steps=100, lr=1e-3, final_lr_ratio=0.1)
    assert get_lr(0, cfg) == pytest.approx(1e-5)
    assert get_lr(99, cfg) == pytest.approx(1e-3)
    assert get_lr(1000, cfg) == pytest.approx(1e-4)
    lrs = [get_lr(s, cfg) for s in range(100, 1001)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def test_bucket_sampler():
    durations = [1.0 + 0.1 * (i % 17) for i in range(100)]
    sampler = BucketBatchSampler(durations, max_seconds=10.0, seed=3)
    batches = sampler.epoch_batches()
    assert sorted(i for b in batches for i in b) == list(range(100))
    assert all(len(b) * max(durations[i] for i in b) <= 10.0 for b in batches)
    sampler.set_position(1)
    assert sampler.epoch_batches() != batches  # reshuffled each epoch
    sampler.set_position(0, start=5)
    assert list(sampler) == batches[5:]
    ranks = [BucketBatchSampler(durations, 10.0, 3, r, 2).epoch_batches() for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) and not {tuple(b) for b in ranks[0]} & {
        tuple(b) for b in ranks[1]
    }


def test_corrupt_checkpoint_is_named(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt: not a readable checkpoint"):
        load_model(bad)
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_model(tmp_path / "nope.pt")


def test_config_file_errors(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"modle": {}}))
    with pytest.raises(ValueError, match="unknown sections"):
        load_config(tmp_path / "c.json")
    (tmp_path / "c.json").write_text(json.dumps({"train": {"alignment": "viterbi"}}))
    with pytest.raises(ValueError, match="alignment"):
        load_config(tmp_path / "c.json")
    (tmp_path / "c.json").write_text(json.dumps({"train": {"eq_db": 12, "eq_points": 1}}))
    with pytest.raises(ValueError, match="eq_points must be at least 2, got 1"):
        load_config(tmp_path / "c.json")
    for bad in ({"formant_warp": 0.5}, {"formant_points": 0}, {"formant_warp_frames": -1}):
        (tmp_path / "c.json").write_text(json.dumps({"train": bad}))
        with pytest.raises(ValueError, match=next(iter(bad))):
            load_config(tmp_path / "c.json")


def test_train_config_groups_flat_or_named():
    """A "train" section may give keys flat or by group; a checkpoint's (grouped, lists for
    tuples) reads back equal; an unknown key is named."""
    flat = TrainConfig.of({"lr": 3e-4, "noise_prob": 0.5, "seed": 2, "block_widths": [4, 8]})
    grouped = TrainConfig.of({"optim": {"lr": 3e-4, "block_widths": [4, 8]},
                              "augment": {"noise_prob": 0.5}, "run": {"seed": 2}})  # fmt: skip
    assert flat == grouped == TrainConfig.of(json.loads(json.dumps(asdict(flat))))
    assert (flat.optim.lr, flat.augment.noise_prob, flat.run.seed) == (3e-4, 0.5, 2)
    with pytest.raises(ValueError, match="no key 'learning_rate'"):
        TrainConfig.of(learning_rate=1.0)
    with pytest.raises(ValueError, match="run has no key 'lr'"):
        TrainConfig.of({"run": {"lr": 1.0}})
    assert TrainConfig.of({"optim": {"lr": 1.0}}, lr=2.0).optim.lr == 2.0  # flat keys win


def test_settings_replace_config_keys(tmp_path):
    """`--set SECTION.KEY=VALUE`: VALUE as JSON where it parses, else a string; malformed
    settings and unknown keys are errors that name them."""
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"model": {"dropout": 0.1}, "train": {"lr": 0.001}}))
    sets = ["model.dropout=0.25", "train.spec_augment=false", "model.attention=mlp",
            "train.block_widths=[4, 8]"]  # fmt: skip
    model, train_cfg, _ = load_config(path, sets)
    assert (model.dropout, model.attention, train_cfg.optim.lr) == (0.25, "mlp", 0.001)
    assert train_cfg.augment.spec_augment is False and train_cfg.optim.block_widths == (4, 8)
    for bad, message in [("model.dropout", "expected SECTION.KEY=VALUE"),
                         ("dropout=0.2", "expected SECTION.KEY=VALUE"),
                         ("modle.dropout=0.2", "expected SECTION.KEY=VALUE"),
                         ("model.dropuot=0.2", "model has no key 'dropuot'")]:  # fmt: skip
        with pytest.raises(ValueError, match=message):
            load_config(path, [bad])


def test_the_features_section_reaches_the_checkpoint(toy, tmp_path):
    """`"features": {...}` in the config (online mean normalisation here) is what the run trains
    with and what its checkpoints carry for inference."""
    config = write_config(tmp_path / "c.json", train={"max_steps": 1, "eval_every": 1})
    d = json.loads(config.read_text())
    config.write_text(json.dumps({**d, "features": {"cmn_window": 30, "cmn_prior": 5.0}}))
    train(config, toy, toy, tmp_path / "r", show_progress=False)
    features = load_model(tmp_path / "r" / "best.pt")[3]
    assert (features.cmn_window, features.cmn_prior) == (30, 5.0)


def test_ctc_pretraining_then_init(toy, tmp_path):
    """CTC pre-training moves only the encoder and CTC head; `init` starts a new run there."""
    config = write_config(
        tmp_path / "c.json", train={"max_steps": 20, "eval_every": 20, "ctc_pretrain_steps": 20}
    )
    train(config, toy, toy, tmp_path / "pre", show_progress=False)
    fresh = Run(*load_config(config)[:2], toy, toy, tmp_path / "fresh", show_progress=False)
    pre = checkpoint.load(tmp_path / "pre" / "step-0000020.pt")
    assert not (tmp_path / "pre" / "dev.csv").exists()  # nothing to evaluate before the decoder
    for name, value in fresh.model.state_dict().items():  # same seed: same initial weights
        moved = not torch.equal(value, pre["model"][name])
        assert moved == name.startswith(("encoder.", "ctc.")), name
    rows = (tmp_path / "pre" / "metrics.csv").read_text().splitlines()
    assert all(row.split(",")[3] == "nan" for row in rows[1:])  # no transducer term
    run = Run(*load_config(config)[:2], toy, toy, tmp_path / "ft", show_progress=False,
              init=tmp_path / "pre" / "step-0000020.pt")  # fmt: skip
    assert all(torch.equal(v, pre["model"][k]) for k, v in run.model.state_dict().items())
    assert list(run.stats.mean) == pre["stats"]["mean"]


def test_ctc_pretraining_needs_the_ctc_head(toy, tmp_path):
    config = write_config(tmp_path / "c.json", {"ctc_weight": 0.0}, {"ctc_pretrain_steps": 5})
    with pytest.raises(ValueError, match="ctc_pretrain_steps needs the CTC head"):
        Run(*load_config(config)[:2], toy, toy, tmp_path / "run", show_progress=False)


def test_runinfo_separates_ctc_pretraining(tmp_path):
    from transducer.runinfo import summarize

    head = "step,transducer,loss_s,ctc,batch_seconds,step_seconds,audio_hours,hours_per_hour\n"
    rows = ["20,nan,0.0,3.0,30,0.2,0.01,540", "40,nan,0.0,2.9,30,0.2,0.02,540",
            "60,1.5,0.05,2.5,30,0.5,0.03,400", "80,1.4,0.05,2.4,30,0.5,0.04,360"]  # fmt: skip
    (tmp_path / "metrics.csv").write_text(head + "\n".join(rows) + "\n")
    (tmp_path / "dev.csv").write_text("step,cer,wer,n_utts\n60,0.5,0.9,10\n80,0.4,0.8,10\n")
    out = summarize(tmp_path)
    assert out["steps"] == 80 and out["pretrain_steps"] == 40  # rows are logged every 20 steps
    assert out["transducer_phase_hours_per_hour"] == 60.0  # 60 s of audio in 1 s
    assert out["loss_share"] == 0.1 and out["best_dev"]["cer"] == 0.4


@pytest.mark.parametrize(
    "damage,says",
    [
        (lambda c: c["config"].pop("model"), "config has no 'model' section"),
        (
            lambda c: c["config"]["model"].update(d_modle=8),
            r"unknown ModelConfig keys \['d_modle'\]",
        ),
        (lambda c: c["config"]["model"].update(mode="x"), "ModelConfig: mode must be one of"),
        (lambda c: c["config"]["features"].update(n_mel=80), "unknown FeatureConfig keys"),
        (
            lambda c: c["model"][next(iter(c["model"]))].view(-1).__setitem__(0, float("nan")),
            "has 1 NaN or Inf values",
        ),
        (lambda c: c["model"].pop(next(iter(c["model"]))), "weights do not fit"),
        (lambda c: c.update(format_version=2), "format_version 2; this transducer reads up to 1"),
    ],
)
def test_damaged_checkpoint_is_refused_by_name(tmp_path, damage, says):
    from transducer.config import FeatureConfig, ModelConfig
    from transducer.features import FeatureStats
    from transducer.model.transducer import NeuralTransducer
    from transducer.text import CharTokenizer

    stats = FeatureStats(tuple([0.0] * 80), tuple([1.0] * 80))
    model = NeuralTransducer(ModelConfig(d_model=8, n_enc_layers=1, d_dec=8, d_joint=8))
    ckpt = checkpoint.bundle(model, CharTokenizer.english(), stats, FeatureConfig())
    damage(ckpt)
    checkpoint.save_atomic(ckpt, tmp_path / "damaged.pt")
    with pytest.raises(ValueError, match="damaged.pt: .*" + says):
        load_model(tmp_path / "damaged.pt")


def test_checkpoint_without_mel_floor_keeps_kaldi_floor(tmp_path):
    from transducer.config import FeatureConfig, ModelConfig
    from transducer.features import EPSILON, FeatureStats
    from transducer.model.transducer import NeuralTransducer
    from transducer.text import CharTokenizer

    stats = FeatureStats(tuple([0.0] * 80), tuple([1.0] * 80))
    model = NeuralTransducer(ModelConfig(d_model=8, n_enc_layers=1, d_dec=8, d_joint=8))
    old = checkpoint.bundle(model, CharTokenizer.english(), stats, FeatureConfig())
    del old["config"]["features"]["mel_floor"]  # as written before the field existed
    del old["format_version"]  # likewise
    checkpoint.save_atomic(old, tmp_path / "old.pt")
    assert load_model(tmp_path / "old.pt")[3].mel_floor == EPSILON


def test_average_of_checkpoints(tmp_path):
    """`transducer average` writes the mean of the weights; checkpoints of different models
    are refused by name."""
    from transducer.config import FeatureConfig, ModelConfig
    from transducer.features import FeatureStats
    from transducer.model.transducer import NeuralTransducer
    from transducer.text import CharTokenizer

    stats = FeatureStats(tuple([0.0] * 80), tuple([1.0] * 80))
    cfg = ModelConfig(d_model=8, n_enc_layers=1, d_dec=8, d_joint=8)
    paths = []
    for seed in range(3):
        torch.manual_seed(seed)
        model = NeuralTransducer(cfg)
        paths.append(tmp_path / f"step-{seed}.pt")
        checkpoint.save_atomic(
            checkpoint.bundle(model, CharTokenizer.english(), stats, FeatureConfig()), paths[-1]
        )
    main(["average", *map(str, paths), "--out", str(tmp_path / "avg.pt")])
    averaged = load_model(tmp_path / "avg.pt").model
    weights = [checkpoint.load(p)["model"] for p in paths]
    for key, value in averaged.state_dict().items():
        torch.testing.assert_close(value, sum(w[key] for w in weights) / 3)
    other = NeuralTransducer(ModelConfig(d_model=16, n_enc_layers=1, d_dec=8, d_joint=8))
    checkpoint.save_atomic(
        checkpoint.bundle(other, CharTokenizer.english(), stats, FeatureConfig()),
        tmp_path / "other.pt",
    )
    with pytest.raises(ValueError, match="other.pt: its model config differs"):
        checkpoint.average([tmp_path / "other.pt", paths[0]])
    # A shipped model's decoding defaults differ from its run's, and a fine-tune's dropout may
    # differ from the model it started from; the last one's are kept.
    shipped = checkpoint.load(paths[0])
    shipped["config"]["model"] |= {"beam": 8, "block_width": 4, "dropout": 0.25}
    checkpoint.save_atomic(shipped, tmp_path / "shipped.pt")
    both = checkpoint.average([tmp_path / "shipped.pt", paths[1]])
    assert "beam" not in both["config"]["model"] and both["config"]["model"]["dropout"] == 0.1


def test_max_minutes_overrides_the_config(toy, tmp_path, capsys):
    config = write_config(tmp_path / "c.json", train={"max_steps": 100000, "eval_every": 100000})
    args = ["--train", str(toy), "--dev", str(toy), "--out", str(tmp_path / "r"), "--quiet"]
    main(["train", "--config", str(config), *args, "--max-minutes", "0.005"])
    assert 0 < json.loads(capsys.readouterr().out)["step"] < 1000


def test_seed_overrides_the_config(toy, tmp_path, capsys):
    """`--seed N` and `--set train.seed=N` train as the config with `"seed": N` would, and the
    run records N."""
    weights = {}
    for name, config_seed, flag in [("file7", 7, []), ("flag7", 3, ["--seed", "7"]),
                                    ("set7", 3, ["--set", "train.seed=7"]),
                                    ("file3", 3, [])]:  # fmt: skip
        config = write_config(
            tmp_path / f"{name}.json", train={"max_steps": 4, "eval_every": 4, "seed": config_seed}
        )
        out = tmp_path / name
        main(["train", "--config", str(config), "--train", str(toy), "--dev", str(toy),
              "--out", str(out), "--quiet", *flag])  # fmt: skip
        ckpt = checkpoint.load(out / "step-0000004.pt")
        seed = 7 if flag else config_seed
        assert ckpt["config"]["train"]["run"]["seed"] == seed
        assert json.loads((out / "config.json").read_text())["train"]["seed"] == seed
        weights[name] = torch.cat([w.flatten() for w in ckpt["model"].values()])
    capsys.readouterr()
    assert torch.equal(weights["flag7"], weights["file7"])
    assert torch.equal(weights["set7"], weights["file7"])
    assert not torch.equal(weights["flag7"], weights["file3"])


def test_several_training_manifests_are_one_training_set(toy, tmp_path, capsys):
    """`--train A.jsonl B.jsonl`: corpora in different folders train together."""
    config = write_config(tmp_path / "c.json", train={"max_steps": 1, "eval_every": 1})
    other = make_corpus(tmp_path / "other", WORDS[4:6])
    run = Run(*load_config(config)[:2], [toy, other], toy, tmp_path / "r", show_progress=False)
    assert len(run.utts) == len(read_manifest(toy)) + len(read_manifest(other))
    assert {u.text for u in read_manifest(other)} <= {u.text for u in run.utts}
    main(["train", "--config", str(config), "--train", str(toy), str(other), "--dev", str(toy),
          "--out", str(tmp_path / "cli"), "--quiet"])  # fmt: skip
    assert json.loads(capsys.readouterr().out)["step"] == 1


def test_init_adds_a_convolutional_front_end():
    """Weights without the front-end start a model with one as the same function."""
    from transducer.config import ModelConfig
    from transducer.model.transducer import NeuralTransducer
    from transducer.train import _load_init

    sizes = dict(d_model=16, n_enc_layers=1, d_dec=12, d_joint=10, dropout=0.0)
    plain = NeuralTransducer(ModelConfig(**sizes)).eval()
    conv = NeuralTransducer(ModelConfig(**sizes, conv_channels=4)).eval()
    _load_init(conv, plain.state_dict(), "plain.pt")
    feats, lens = torch.randn(2, 21, 80), torch.tensor([21, 17])
    torch.testing.assert_close(conv.encoder(feats, lens)[0], plain.encoder(feats, lens)[0])
    with pytest.raises(ValueError, match="do not fit"):  # the other way round: weights left over
        _load_init(plain, conv.state_dict(), "conv.pt")


def test_init_grows_residual_layers():
    """A stack grown by residual layers starts as the checkpoint's function and can learn:
    the new layers' zero projections get a gradient."""
    from transducer.config import ModelConfig
    from transducer.model.transducer import NeuralTransducer
    from transducer.train import _load_init

    sizes = dict(d_model=16, d_dec=12, d_joint=10, dropout=0.0, ctc_weight=0.3)
    plain = NeuralTransducer(ModelConfig(**sizes, n_enc_layers=2)).eval()
    grown = NeuralTransducer(ModelConfig(**sizes, n_enc_layers=4, n_res_layers=2)).eval()
    _load_init(grown, plain.state_dict(), "plain.pt")
    feats, lens = torch.randn(2, 21, 80), torch.tensor([21, 17])
    torch.testing.assert_close(grown.encoder(feats, lens)[0], plain.encoder(feats, lens)[0])
    targets, target_lens = torch.tensor([[2, 3, 4], [5, 6, 0]]), torch.tensor([3, 2])
    grown(feats, lens, targets, target_lens, W=2)[0].backward()
    assert all(float(r.proj.weight.grad.abs().sum()) > 0 for r in grown.encoder.res)
    with pytest.raises(ValueError, match="do not fit"):  # a plain layer cannot be grown
        _load_init(NeuralTransducer(ModelConfig(**sizes, n_enc_layers=3)), plain.state_dict(), "p")


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng not installed")
def test_phoneme_ctc_head_is_trained_from_the_text(toy, tmp_path):
    model_cfg, train_cfg, _ = load_config(
        write_config(tmp_path / "c.json", {"phone_ctc_weight": 0.5})
    )
    run = Run(model_cfg, train_cfg, toy, toy, tmp_path / "run", show_progress=False)
    loader = torch.utils.data.DataLoader(run.dataset, batch_sampler=run.sampler, collate_fn=collate)
    batch = next(iter(loader))
    assert len(batch) == 6 and batch[5].min() > 0  # phoneme targets and their lengths
    feats, feat_lens = run.batch_features(*batch[:2], np.random.default_rng(0), step=0)
    with pytest.raises(ValueError, match="phoneme targets"):
        run.model(feats, feat_lens, *batch[2:4])
    before = run.model.phone_ctc.weight.detach().clone()
    row = run.train_step(batch)
    assert row["phone_ctc"] > 0 and math.isfinite(row["loss"])
    assert not torch.equal(before, run.model.phone_ctc.weight)
