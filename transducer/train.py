"""Training: `transducer train --config CFG --train M --dev M --out RUN [--resume]`.

Also `torchrun --nproc_per_node N -m transducer.train ...` for DDP (gloo on CPU, NCCL on GPU);
only rank 0 writes checkpoints, metrics and plots.

`--device` puts the model, the batches' features and targets, the losses and the alignments on
a device (CUDA or the CPU: one code path); `--precision bf16|fp16` (auto: bf16 on a GPU that
has it) runs the model under autocast (fp16 with a gradient scaler; the transducer and CTC
losses in fp32). Waveform augmentation (speed, noise, band limits, channels) runs on the CPU in
the training process; the filterbank, the feature warps and filters, normalisation and
SpecAugment on the device. Checkpoints hold CPU tensors, so a run may resume on another device.

Randomness (block width, speed factor, SpecAugment masks, dropout) is drawn from generators
seeded by (seed, step), so a resumed run draws exactly what the uninterrupted run would have.
"""

import argparse
import contextlib
import copy
import csv
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from transducer import checkpoint
from transducer.config import (
    DEVICES,
    PRECISIONS,
    FeatureConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    lists_to_tuples,
    train_group,
)
from transducer.data import channel
from transducer.data.augment import (
    SpecAugment,
    add_channels,
    add_noise,
    formant_warp,
    freq_warp,
    lowpass,
    random_eq,
    speed_perturb,
)
from transducer.data.dataset import BucketBatchSampler, SpeechDataset, collate
from transducer.data.manifest import read_manifest, read_utterance
from transducer.evaluate import evaluate
from transducer.features import FeatureStats, StatsAccumulator, fbank, fbank_torch, online_cmn
from transducer.model.transducer import NeuralTransducer
from transducer.phonemes import phonemize
from transducer.runinfo import read_csv
from transducer.text import CharTokenizer


def get_lr(step: int, cfg: OptimConfig) -> float:
    """Linear warm-up to cfg.lr, then cosine decay to cfg.lr * final_lr_ratio at max_steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    floor = cfg.lr * cfg.final_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0  # batches of `epoch` already trained on (this rank)
    audio_seconds: float = 0.0  # trained on, all ranks
    train_seconds: float = 0.0  # wall-clock spent in training steps
    bad_in_row: int = 0
    n_bad: int = 0
    best_cer: float = float("inf")


# ------------------------------------------------------------------ set-up


def resolve_device(name: str) -> torch.device:
    """The device named "cpu", "cuda" or "auto" (cuda when one is visible); under torchrun a
    CUDA process takes the GPU of its LOCAL_RANK."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("device 'cuda': no CUDA device is visible (use --device cpu)")
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    torch.cuda.set_device(device)
    return device


def init_distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world_size); starts the process group under torchrun: NCCL for CUDA, else gloo."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


AMP_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(name: str, device: torch.device) -> str:
    """The precision named, "auto" as bf16 on a GPU that has it, else fp32 (autocast on a CPU
    is slow: docs/experiments/006)."""
    if name != "auto":
        return name
    return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"


def compute_stats(utts, n: int, cfg: FeatureConfig) -> FeatureStats:
    """Feature mean/std from an evenly spread subset of n training utterances."""
    pick = utts[:: max(1, len(utts) // n)][:n] if n else utts
    acc = StatsAccumulator(cfg.n_mels)
    for utt in pick:
        acc.add(fbank(read_utterance(utt), cfg))
    return acc.result()


def _broadcast(obj, rank: int, world: int):
    if world == 1:
        return obj
    box = [obj if rank == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def newest_checkpoint(out: Path) -> Path | None:
    steps = sorted(out.glob("step-*.pt"))
    return steps[-1] if steps else None


def _load_init(model, weights: dict, path) -> None:
    """Load `--init` weights. A convolutional front-end or residual layers the checkpoint
    lacks keep their initialisation, whose output is zero: the model starts as the checkpoint's
    function; so may a new phoneme CTC head, which only adds a training loss."""
    missing, unexpected = model.load_state_dict(weights, strict=False)
    new = ("encoder.conv.", "encoder.res.", "phone_ctc.")
    wrong = unexpected + [k for k in missing if not k.startswith(new)]
    if wrong:
        raise ValueError(f"{path}: weights do not fit this model's config: {wrong[:5]}")


class Run:
    """Everything a training run holds: model, optimiser, data, progress, logs."""

    def __init__(
        self,
        model_cfg: ModelConfig,
        cfg: TrainConfig,
        train_manifest,
        dev_manifest,
        out: str | Path,
        resume: bool = False,
        show_progress: bool = True,
        init: str | Path | None = None,
        features: FeatureConfig = FeatureConfig(),
    ):
        self.device = resolve_device(cfg.run.device)
        self.rank, self.world = init_distributed(self.device)
        self.precision = resolve_precision(cfg.run.precision, self.device)
        self.amp_dtype = AMP_DTYPES[self.precision]
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.cfg, self.out, self.show = cfg, Path(out), show_progress and self.rank == 0
        self.features = features
        self.tokenizer = CharTokenizer.english()
        model_cfg = replace(model_cfg, vocab_size=len(self.tokenizer))
        manifests = [train_manifest] if isinstance(train_manifest, str | Path) else train_manifest
        self.utts = [utt for path in manifests for utt in read_manifest(path)]
        self.dev = read_manifest(dev_manifest)
        if cfg.optim.ctc_pretrain_steps and not model_cfg.ctc_weight:
            raise ValueError("ctc_pretrain_steps needs the CTC head: set model ctc_weight > 0")
        torch.manual_seed(cfg.run.seed)
        self.model = NeuralTransducer(model_cfg).to(self.device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay
        )
        self.progress = Progress()
        self.stats = None
        if resume and (path := newest_checkpoint(self.out)) is not None:
            self._restore(path)
        elif init is not None:  # a new run that starts from another run's weights and stats
            ckpt = checkpoint.load(init)
            _load_init(self.model, ckpt["model"], init)
            self.stats = FeatureStats(tuple(ckpt["stats"]["mean"]), tuple(ckpt["stats"]["std"]))
        if self.stats is None:
            stats = (
                compute_stats(self.utts, cfg.run.stats_utts, self.features)
                if self.rank == 0
                else None
            )
            self.stats = _broadcast(stats, self.rank, self.world)
        self.mean = torch.tensor(self.stats.mean, dtype=torch.float32, device=self.device)
        self.std = torch.tensor(self.stats.std, dtype=torch.float32, device=self.device)
        self.net = self.model
        if self.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=cfg.optim.ctc_pretrain_steps > 0,
            )
        self.spec_augment = SpecAugment()
        use_rooms = cfg.augment.channel_prob and "room" in cfg.augment.channels
        self.rooms = channel.load_rooms(cfg.augment.rooms) if use_rooms else []
        self.feature_cache = {}  # (utterance indices, speed factor) -> features, frame counts
        self.sampler = BucketBatchSampler(
            [u.duration for u in self.utts],
            cfg.optim.batch_seconds,
            cfg.run.seed,
            self.rank,
            self.world,
            cfg.optim.sorted_first_epoch,
        )
        phones = None
        if model_cfg.phone_ctc_weight > 0:
            phones = phonemize([u.text for u in self.utts])
        self.dataset = SpeechDataset(self.utts, self.tokenizer, phones)
        self.tensorboard = None
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "plots").mkdir(exist_ok=True)
            self.tensorboard = _tensorboard(self.out / "tensorboard")

    def _restore(self, path: Path) -> None:
        ckpt = checkpoint.load(path)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])  # to the parameters' device
        if "scaler" in ckpt:
            self.scaler.load_state_dict(ckpt["scaler"])
        self.progress = Progress(**ckpt["progress"])
        self.stats = FeatureStats(tuple(ckpt["stats"]["mean"]), tuple(ckpt["stats"]["std"]))
        if self.rank == 0:  # rows logged after this checkpoint will be logged again
            for name in ("metrics.csv", "dev.csv"):
                _truncate_csv(self.out / name, self.progress.step)

    # -------------------------------------------------------------- one step

    def batch_features(self, waves, wave_lens, rng: np.random.Generator, step: int, key=None):
        """Waveforms -> normalised, augmented features (N, T, F) and frame counts. `key` names
        the batch (its utterance indices) for `cache_features`, which keeps the filterbank
        features: the warps, filters and masks drawn after it are new at every step."""
        factors = self.cfg.augment.speed_perturb
        factor = float(factors[rng.integers(len(factors))]) if factors else 1.0
        if self.cfg.run.cache_features and key is not None:
            if (key, factor) not in self.feature_cache:
                self.feature_cache[key, factor] = self._fbank(waves, wave_lens, factor, rng)
            feats, feat_lens = self.feature_cache[key, factor]
        else:
            feats, feat_lens = self._fbank(waves, wave_lens, factor, rng)
        feats = self._augment_and_normalise(feats, feat_lens, rng)
        if self.cfg.augment.spec_augment and step >= self.cfg.augment.spec_augment_from_step:
            feats = self.spec_augment.train()(feats)
        return feats, feat_lens

    def _fbank(self, waves, wave_lens, factor: float, rng: np.random.Generator):
        """Speed perturbation, noise and the filterbank features of one batch."""
        waves, wave_lens = speed_perturb(waves, wave_lens, factor, self.features.sample_rate)
        cfg = self.cfg.augment
        if cfg.noise_prob:
            waves = add_noise(waves, wave_lens, cfg.noise_prob, cfg.noise_snr, rng)
        if cfg.noise_onset_prob:
            waves = add_noise(waves, wave_lens, cfg.noise_onset_prob, cfg.noise_onset_snr, rng,
                              onset=True)  # fmt: skip
        if cfg.lowpass_prob:
            waves = lowpass(waves, wave_lens, cfg.lowpass_prob, cfg.lowpass_hz, rng,
                            self.features.sample_rate)  # fmt: skip
        if cfg.channel_prob:
            waves = add_channels(waves, wave_lens, cfg.channel_prob, cfg.channels, rng, self.rooms)
        return fbank_torch(self._to_device(waves), self._to_device(wave_lens), self.features)

    def _augment_and_normalise(self, feats, feat_lens, rng: np.random.Generator):
        """VTLP, random filters, formant warps and normalisation of one batch's features."""
        cfg = self.cfg.augment
        if cfg.freq_warp:
            alphas = 1 + cfg.freq_warp * (2 * rng.random(len(feats)) - 1)
            feats = freq_warp(feats, torch.from_numpy(alphas).to(feats))
        if cfg.eq_db:
            peak_db = cfg.eq_db * rng.random((len(feats), 1))  # a strength per utterance
            gains = peak_db * (2 * rng.random((len(feats), cfg.eq_points)) - 1)
            feats = random_eq(feats, gains, math.log(self.features.mel_floor))
        if cfg.formant_warp:
            every = cfg.formant_warp_frames
            anchors = -(-feats.shape[1] // every) + 1 if every else 1
            strength = cfg.formant_warp * rng.random((len(feats), 1, 1))
            shifts = strength * (2 * rng.random((len(feats), anchors, cfg.formant_points)) - 1)
            feats = formant_warp(feats, shifts, every)
        valid = (torch.arange(feats.shape[1], device=feats.device) < feat_lens[:, None])[..., None]
        feats = (feats - self.mean) / self.std
        if self.features.cmn_window:  # its cumulative sums in float64 on the CPU
            feats = torch.from_numpy(online_cmn(feats.cpu().numpy(), self.features)).to(feats)
        return feats * valid  # padding stays 0 (causal cmn)

    def train_step(self, batch, key=None) -> dict:
        step = self.progress.step
        rng = np.random.default_rng([self.cfg.run.seed, step])
        torch.manual_seed(self.cfg.run.seed * 1_000_003 + step)  # dropout, masks
        waves, wave_lens, targets, target_lens, *phones = batch
        started = time.perf_counter()
        lr = get_lr(step, self.cfg.optim)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        feats, feat_lens = self.batch_features(waves, wave_lens, rng, step, key)
        widths = self.cfg.optim.block_widths or (self.model.cfg.block_width,)
        W = int(widths[rng.integers(len(widths))])
        targets, target_lens = self._to_device(targets), self._to_device(target_lens)
        self.net.train()
        with self._autocast():
            loss, parts = self.net(
                feats, feat_lens, targets, target_lens, W=W, alignment=self.cfg.optim.alignment,
                ctc_only=step < self.cfg.optim.ctc_pretrain_steps,
                phones=tuple(map(self._to_device, phones)) or None,
            )  # fmt: skip
        loss = loss.float()
        if not self._all_finite(loss):
            return self._bad_step(parts)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()  # fp16: scaled, so small gradients stay finite
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(
            self.model.parameters(), self.cfg.optim.grad_clip
        )
        self.scaler.step(self.optimizer)  # fp16: skipped where the gradients are not finite
        self.scaler.update()
        seconds = float(wave_lens.sum()) / self.features.sample_rate * self.world
        elapsed = time.perf_counter() - started
        self.progress.audio_seconds += seconds
        self.progress.train_seconds += elapsed
        self.progress.bad_in_row = 0
        return {
            "loss": float(loss.detach()),
            **parts,
            "lr": lr,
            "grad_norm": float(grad_norm),
            "W": W,
            "batch_seconds": seconds,
            "step_seconds": elapsed,
        }

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, non_blocking=True)  # from pinned memory where on a GPU

    def _autocast(self) -> contextlib.ExitStack:
        """Autocast to bf16 or fp16 (fp32: nothing). On the CPU without oneDNN, whose LSTM
        has no such kernel on CPUs without those instructions: the LSTMs then run in fp32."""
        stack = contextlib.ExitStack()
        if self.amp_dtype is not None:
            stack.enter_context(torch.autocast(self.device.type, dtype=self.amp_dtype))
            if self.device.type == "cpu":
                stack.enter_context(torch.backends.mkldnn.flags(enabled=False))
        return stack

    def _all_finite(self, loss: torch.Tensor) -> bool:
        """True when every rank's loss is finite (ranks must agree, or DDP would hang)."""
        ok = torch.tensor([float(torch.isfinite(loss.detach()).all())], device=self.device)
        if self.world > 1:
            dist.all_reduce(ok, op=dist.ReduceOp.MIN)
        return bool(ok.item())

    def _bad_step(self, parts: dict) -> dict:
        self.optimizer.zero_grad(set_to_none=True)
        self.progress.bad_in_row += 1
        self.progress.n_bad += 1
        if self.progress.bad_in_row >= self.cfg.run.max_bad_steps:
            raise RuntimeError(
                f"{self.progress.bad_in_row} non-finite losses in a row at step "
                f"{self.progress.step} (last: {parts}); lower the learning rate or check the data"
            )
        return {"loss": float("nan"), **parts, "skipped": 1}

    # -------------------------------------------------------------- the loop

    def fit(self) -> Progress:
        cfg, p = self.cfg, self.progress
        deadline = time.time() + cfg.run.max_minutes * 60 if cfg.run.max_minutes else float("inf")
        bar = tqdm(total=cfg.optim.max_steps, initial=p.step, disable=not self.show, unit="step")
        while p.step < cfg.optim.max_steps and time.time() < deadline:
            self.sampler.set_position(p.epoch, p.batch_in_epoch)
            loader = torch.utils.data.DataLoader(
                self.dataset,
                batch_sampler=self.sampler,
                collate_fn=collate,
                num_workers=cfg.run.num_workers,
                persistent_workers=False,
                pin_memory=self.device.type == "cuda",
            )
            for indices, batch in zip(self.sampler, loader, strict=True):  # the same batches
                row = self.train_step(batch, key=tuple(indices))
                p.step, p.batch_in_epoch = p.step + 1, p.batch_in_epoch + 1
                self._log(row, bar)
                if p.step % cfg.run.eval_every == 0:
                    self.evaluate_and_save()
                if p.step >= cfg.optim.max_steps or time.time() >= deadline:
                    break
            else:
                p.epoch, p.batch_in_epoch = p.epoch + 1, 0
        if p.step % cfg.run.eval_every:  # the last steps since an evaluation
            self.evaluate_and_save()
        bar.close()
        self._write_weight_checksums()
        return p

    def _log(self, row: dict, bar) -> None:
        p = self.progress
        hours_per_hour = p.audio_seconds / max(p.train_seconds, 1e-9)
        if self.show:
            bar.update(1)
            bar.set_postfix(
                loss=f"{row['loss']:.3f}", lr=f"{row['lr']:.2e}", h_per_h=f"{hours_per_hour:.1f}"
            )
        if self.rank == 0 and (p.step % self.cfg.run.log_every == 0 or p.step == 1):
            row = {
                "step": p.step,
                "epoch": p.epoch,
                **row,
                "audio_hours": p.audio_seconds / 3600,
                "hours_per_hour": hours_per_hour,
            }
            _append_csv(self.out / "metrics.csv", row)
            if self.tensorboard is not None:
                for key, value in row.items():
                    self.tensorboard.add_scalar(f"train/{key}", value, p.step)

    def evaluate_and_save(self) -> None:
        """Rank 0: a step checkpoint (keep the last N); after CTC pre-training also dev
        CER/WER, plots and best.pt."""
        if self.rank == 0:  # checkpoints and the dev decoding on the CPU
            on_cpu = self.model if self.device.type == "cpu" else copy.deepcopy(self.model).cpu()
            bundle = checkpoint.bundle(on_cpu, self.tokenizer, self.stats, self.features, self.cfg)
            if self.progress.step > self.cfg.optim.ctc_pretrain_steps:  # else no decoder yet
                self._evaluate(bundle, on_cpu)
            self._save_step(bundle)
        if self.world > 1:
            dist.barrier()

    def _evaluate(self, bundle: dict, model: NeuralTransducer) -> None:
        """Dev CER/WER to dev.csv (and TensorBoard), best.pt, plots."""
        p = self.progress
        dev = (
            self.dev[:: max(1, len(self.dev) // self.cfg.run.eval_utts)]
            if self.cfg.run.eval_utts
            else self.dev
        )
        result = evaluate(model, self.tokenizer, self.stats, dev, self.features)
        if self.tensorboard is not None:
            self.tensorboard.add_scalar("dev/cer", result["cer"], p.step)
            self.tensorboard.add_scalar("dev/wer", result["wer"], p.step)
        _append_csv(
            self.out / "dev.csv",
            {"step": p.step, "cer": result["cer"], "wer": result["wer"], "n_utts": len(dev)},
        )
        if result["cer"] <= p.best_cer:
            p.best_cer = result["cer"]
            checkpoint.save_atomic(bundle, self.out / "best.pt")  # weights only
        _plots(self, model, dev[0])

    def _save_step(self, bundle: dict) -> None:
        """The resumable step checkpoint; only the last `keep_last` are kept."""
        p = self.progress
        state = {**bundle, "optimizer": self.optimizer.state_dict(), "progress": asdict(p),
                 "scaler": self.scaler.state_dict()}  # fmt: skip
        checkpoint.save_atomic(state, self.out / f"step-{p.step:07d}.pt")
        for old in sorted(self.out.glob("step-*.pt"))[: -self.cfg.run.keep_last]:
            old.unlink()

    def _write_weight_checksums(self) -> None:
        """Every rank's parameter checksum in RUN/weights.json: DDP ranks must agree."""
        checksum = float(sum(p.detach().double().abs().sum() for p in self.model.parameters()))
        sums = [checksum]
        if self.world > 1:
            sums = [None] * self.world
            dist.all_gather_object(sums, checksum)
        if self.rank == 0:
            (self.out / "weights.json").write_text(json.dumps({"rank_checksums": sums}))


def _tensorboard(folder: Path):
    """A SummaryWriter when the tensorboard package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(folder))


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row), extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


def _truncate_csv(path: Path, last_step: int) -> None:
    rows = [r for r in read_csv(path) if int(r["step"]) <= last_step]
    if path.exists():
        path.unlink()
    for row in rows:
        _append_csv(path, row)


def _plots(run: Run, model: NeuralTransducer, utt) -> None:
    """Loss curves and, for one dev utterance, block-by-block emissions and attention."""
    try:
        from transducer import plots
    except ImportError:  # matplotlib is optional at run time
        return
    plots.loss_curves(run.out / "metrics.csv", run.out / "dev.csv", run.out / "plots" / "loss.png")
    plots.emissions(
        model, run.tokenizer, run.stats, run.features, utt, run.out / "plots" / "emissions.png"
    )


SECTIONS = {"model": ModelConfig, "train": TrainConfig, "features": FeatureConfig}


def fields_of(cls) -> set[str]:
    return {f.name for f in fields(cls)}


def config_dict(path: str | Path, settings: Sequence[str] = ()) -> dict:
    """A config file's dict with `settings` applied: "SECTION.KEY=VALUE", VALUE read as JSON
    where it parses (`train.lr=1e-4`, `train.spec_augment=true`), else as a string."""
    d = json.loads(Path(path).read_text())
    for setting in settings:
        name, equals, text = setting.partition("=")
        section, dot, key = name.partition(".")
        if not (equals and dot) or section not in SECTIONS:
            raise ValueError(f"setting {setting!r}: expected SECTION.KEY=VALUE, SECTION one of "
                             f"{', '.join(SECTIONS)}")  # fmt: skip
        known = train_group(key) if section == "train" else key in fields_of(SECTIONS[section])
        if not known:
            raise ValueError(f"setting {setting!r}: {section} has no key {key!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        d[section] = {**d.get(section, {}), key: value}
    return d


def load_config(
    path: str | Path, settings: Sequence[str] = ()
) -> tuple[ModelConfig, TrainConfig, FeatureConfig]:
    """A JSON file {"model": {...}, "train": {...}, "features": {...}}; missing sections and keys
    keep their defaults. `settings`: see `config_dict`."""
    return parse_config(config_dict(path, settings), path)


def parse_config(d: dict, path: str | Path) -> tuple[ModelConfig, TrainConfig, FeatureConfig]:
    """The three configs of a dict read by `config_dict` from `path` (named in errors)."""
    unknown = set(d) - set(SECTIONS)
    if unknown:
        raise ValueError(
            f"{path}: unknown sections {sorted(unknown)}; expected 'model', 'train', 'features'"
        )
    model = ModelConfig(**lists_to_tuples(d.get("model", {})))
    features = FeatureConfig(**d.get("features", {}))
    return model, TrainConfig.of(d.get("train", {})), features


def train(
    config: str | Path,
    train_manifest,
    dev_manifest,
    out,
    resume: bool = False,
    show_progress: bool = True,
    init: str | Path | None = None,
    max_minutes: float | None = None,
    seed: int | None = None,
    settings: Sequence[str] = (),
    device: str | None = None,
    precision: str | None = None,
) -> Progress:
    """Train from a config file; importable entry point of `transducer train`.

    `train_manifest`: one manifest or a list of them, read as one training set.

    `init`: a checkpoint whose weights and feature statistics a new run starts from (curriculum
    stages, fine-tuning); ignored when `resume` finds a checkpoint of this run.
    `max_minutes`: this invocation's wall-clock budget instead of the config's (a run that spans
    several sessions resumes with --resume each time).
    `seed`: the config's `train.seed` replaced, so that stages which differ only in their seed
    share one config file; `settings` ("SECTION.KEY=VALUE", `config_dict`) replace any key,
    so that experiments which differ in a few keys share one too. `device`, `precision`:
    the config's replaced (a run may resume on another device). The run folder's
    config.json records the config as trained.
    """
    given = {"seed": seed, "device": device, "precision": precision}
    settings = [*settings, *(f"train.{k}={v}" for k, v in given.items() if v is not None)]
    d = config_dict(config, settings)
    model_cfg, train_cfg, features = parse_config(d, config)
    if max_minutes is not None:
        train_cfg = train_cfg.with_keys(max_minutes=max_minutes)
    run = Run(model_cfg, train_cfg, train_manifest, dev_manifest, out, resume, show_progress, init,
              features)  # fmt: skip
    if run.rank == 0:
        Path(out, "config.json").write_text(json.dumps(d))
    return run.fit()


def run_from_args(args: argparse.Namespace) -> None:
    """`transducer train` and `python -m transducer.train`: train, then print a JSON summary."""
    progress = train(
        args.config,
        args.train,
        args.dev,
        args.out,
        args.resume,
        not args.quiet,
        args.init,
        args.max_minutes,
        args.seed,
        args.set,
        args.device,
        args.precision,
    )
    if int(os.environ.get("RANK", "0")) == 0:
        summary = {
            "step": progress.step,
            "best_cer": progress.best_cer,
            "audio_hours": round(progress.audio_seconds / 3600, 4),
        }
        print(json.dumps(summary))
    if dist.is_initialized():
        # Ranks leave together. Without this barrier rank 0 sometimes aborted after training,
        # in gloo's shutdown ("terminate called without an active exception"): 4 of 55
        # two-process runs of the DDP test here; with it, none of 60.
        dist.barrier()
        dist.destroy_process_group()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, help="JSON: {'model': {...}, 'train': {...}, 'features': {...}}"
    )
    parser.add_argument("--train", required=True, nargs="+", help="training manifests (.jsonl)")
    parser.add_argument("--dev", required=True, help="dev manifest (.jsonl)")
    parser.add_argument("--out", required=True, help="run folder: checkpoints, metrics, plots")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--init", help="start from this checkpoint's weights (not its optimiser)")
    parser.add_argument("--max-minutes", type=float, help="wall-clock budget of this invocation")
    parser.add_argument("--seed", type=int, help="replaces the config's train.seed")
    parser.add_argument(
        "--device", choices=DEVICES, help="replaces train.device (default auto: cuda when visible)"
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="replaces train.precision (default fp32; bf16, fp16: autocast; auto: bf16 on a GPU)",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="replaces a config key, e.g. model.dropout=0.25; repeatable",
    )  # fmt: skip


def main(argv: list[str] | None = None, prog: str = "python -m transducer.train") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    add_arguments(parser)
    run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    main()
