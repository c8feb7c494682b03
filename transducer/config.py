"""Frozen configuration dataclasses, validated once at construction.

Override with `dataclasses.replace(cfg, field=value)` (a TrainConfig's keys of any group with
`cfg.with_keys(key=value)`); serialise with `dataclasses.asdict`.
"""

from dataclasses import asdict, dataclass


def lists_to_tuples(d: dict) -> dict:
    """Lists back to tuples (dataclass fields are tuples; they round-trip through JSON as lists)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel filterbank settings; they match `torchaudio.compliance.kaldi.fbank`."""

    # Hz. Fixed: every reader, stream and corpus resamples its audio to this rate
    # (`transducer.audio.SAMPLE_RATE`), so a model's features always see 16 kHz.
    sample_rate: int = 16000
    n_mels: int = 80  # mel bins
    frame_length_ms: float = 25.0  # analysis window
    frame_shift_ms: float = 10.0  # hop between frames
    preemphasis: float = 0.97  # Kaldi default, applied inside each frame
    low_freq: float = 20.0  # Hz, lower edge of the first mel bin (Kaldi default)
    high_freq: float = 0.0  # Hz; <= 0 means offset from Nyquist (Kaldi convention)
    # Kaldi scales float audio to the int16 range before the FFT; we do the same so the
    # epsilon floor of the log sits far below any real signal, including quiet noise.
    input_scale: float = 32768.0
    # Floor of the mel energies before the log, in int16-squared units: digital silence (TTS
    # pauses, zero padding) would otherwise sit at log(float32 eps) = -15.9, far below any
    # recorded noise, and dominate the global variance. 1.0 floors the log at 0, about where
    # one-LSB dither puts the low bins. Kaldi's own floor is float32 epsilon.
    mel_floor: float = 1.0
    # Online mean normalisation after the global one (`features.online_cmn`): each frame minus
    # the mean of the last `cmn_window` frames, with `cmn_prior` frames at the global mean
    # counted in. It takes out a voice's or a channel's own spectral tilt; 0 turns it off.
    cmn_window: int = 0
    cmn_prior: float = 0.0

    def __post_init__(self) -> None:
        if self.sample_rate != 16000:
            raise ValueError(
                f"sample_rate must be 16000 (audio of any rate is resampled to 16 kHz before "
                f"its features), got {self.sample_rate}"
            )
        if self.n_mels < 4:
            raise ValueError(f"n_mels must be at least 4, got {self.n_mels}")
        if not 0 < self.frame_shift_ms <= self.frame_length_ms:
            raise ValueError(
                f"need 0 < frame_shift_ms <= frame_length_ms, got "
                f"{self.frame_shift_ms} and {self.frame_length_ms}"
            )
        if not self.mel_floor > 0:
            raise ValueError(f"mel_floor must be positive, got {self.mel_floor}")
        if self.cmn_window < 0 or self.cmn_prior < 0:
            raise ValueError(
                f"cmn_window and cmn_prior must be >= 0, got {self.cmn_window}, {self.cmn_prior}"
            )
        if not 0.0 <= self.preemphasis <= 1.0:
            raise ValueError(f"preemphasis must be in [0, 1], got {self.preemphasis}")
        nyquist = self.sample_rate / 2
        high = self.high_freq if self.high_freq > 0 else nyquist + self.high_freq
        if not 0.0 <= self.low_freq < high <= nyquist:
            raise ValueError(
                f"need 0 <= low_freq < high_freq <= {nyquist} Hz, "
                f"got low_freq={self.low_freq}, high_freq={self.high_freq}"
            )

    @property
    def window_size(self) -> int:
        """Samples per analysis window (400 at 16 kHz)."""
        return int(self.sample_rate * self.frame_length_ms / 1000)

    @property
    def hop_size(self) -> int:
        """Samples between frame starts (160 at 16 kHz)."""
        return int(self.sample_rate * self.frame_shift_ms / 1000)

    @property
    def n_fft(self) -> int:
        """FFT size: the window rounded up to a power of two (512 at 16 kHz)."""
        return 1 << (self.window_size - 1).bit_length()

    @property
    def mel_high_freq(self) -> float:
        return self.high_freq if self.high_freq > 0 else self.sample_rate / 2 + self.high_freq


BLANK = 0  # id of <e>: the end-of-block symbol, blank of the full-sum loss, first decoder input
UNK = 1  # id of <unk>: what the tokenizers map unknown text to
ATTENTIONS = ("none", "dot", "mlp", "lstm")
MODES = ("fullsum", "paper")
BACKENDS = ("numba", "torch", "onnx")  # what runs a Recognizer's model (its doc)
BACKEND_NAMES = (*BACKENDS, "numba-int8", "onnx-int8")  # with int8 weights, for short


def backend_kind(backend: str, int8: bool = False) -> str:
    """A backend and a precision as the one name the loaders take: "numba", "torch", "onnx",
    or with int8 weights "numba-int8", "onnx-int8" (also accepted as `backend`)."""
    if backend not in BACKEND_NAMES:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend.endswith("-int8"):
        backend, int8 = backend.removesuffix("-int8"), True
    if int8 and backend == "torch":
        raise ValueError("int8 weights run on the numba and onnx backends, not torch")
    return f"{backend}-int8" if int8 else backend


# training's real channels (`transducer.data.channel.apply`)
CHANNELS = ("room", "mulaw", "alaw", "amr", "g722", "mp3", "opus", "clip")


# Keys of a model section that may differ between checkpoints of one model: a shipped one set
# its decoding width there, and checkpoints from before DecodingConfig their beam too.
DECODING_DEFAULTS = ("block_width", "beam")
TRAINING_RATES = ("dropout", "label_dropout")  # ModelConfig fields that only act in training


@dataclass(frozen=True)
class ModelConfig:
    """Sizes and structure of the Neural Transducer; saved inside every checkpoint."""

    vocab_size: int = 30  # tokens including <e> (id 0) and <unk> (id 1)
    mode: str = "fullsum"  # "fullsum": exact RNN-T-style loss; "paper": hard-EM on alignments
    n_mels: int = 80
    stack: int = 4  # feature frames stacked into one encoder frame: x4 subsampling, 40 ms
    d_model: int = 320  # encoder LSTM width
    conv_channels: int = 0  # convolutional front-end beside the stack's projection; 0 = none
    n_enc_layers: int = 3
    # The top n_res_layers of the n_enc_layers add their output, through a projection that
    # starts at zero, to their input: a model grown from a checkpoint with n_enc_layers -
    # n_res_layers layers (`train --init`) starts as that checkpoint's function.
    n_res_layers: int = 0
    d_dec: int = 256  # prediction network (fullsum) or transducer LSTM (paper) width
    n_dec_layers: int = 1  # prediction network layers (fullsum); paper mode must say 2
    # fullsum: 0 = an LSTM prediction network; k >= 1 = a stateless one that reads only the last
    # k labels (Ghodsi et al., 2020; icefall's stateless decoder), so it cannot memorise sentences.
    pred_context: int = 0
    d_joint: int = 256
    attention: str = "dot"  # "none" (last frame of the block), "dot", "mlp", "lstm"
    d_att: int = 128  # additive attention width ("mlp")
    d_att_lstm: int = 32  # the small LSTM of LSTM-attention
    lookback: int = 0  # also attend to this many previous blocks (Sainath et al., 2018)
    # W: encoder frames per block, in training unless train.block_widths says otherwise, and
    # in decoding unless the decoding config says otherwise (`DecodingConfig`).
    block_width: int = 8
    dropout: float = 0.1
    # Training only (fullsum): each prediction-network input label becomes `<unk>` with this
    # probability, so the decoder cannot lean on memorised sentences (word dropout of LMs).
    label_dropout: float = 0.0
    ctc_weight: float = 0.1  # auxiliary CTC loss on the encoder; 0 disables the head
    # Training only: a second CTC head on the encoder names espeak-ng's phonemes of the text
    # (`transducer.phonemes`), tying the encoder to sounds rather than spellings; 0: no head.
    phone_ctc_weight: float = 0.0
    max_symbols_per_block: int = 16  # decoding and alignment limit per block

    @classmethod
    def of(cls, d: dict) -> "ModelConfig":
        """A saved model section; the beam that sections from before `DecodingConfig` held is
        left out (`DecodingConfig.of` reads it)."""
        return cls(**lists_to_tuples({k: v for k, v in d.items() if k != "beam"}))

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {self.attention!r}")
        for name in (
            "vocab_size",
            "stack",
            "d_model",
            "n_enc_layers",
            "d_dec",
            "n_dec_layers",
            "d_joint",
            "block_width",
            "max_symbols_per_block",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.mode == "paper" and self.n_dec_layers != 2:
            raise ValueError(
                "paper mode has the paper's two transducer layers: "
                f"set n_dec_layers=2, got {self.n_dec_layers}"
            )
        if self.conv_channels < 0:
            raise ValueError(f"conv_channels must be >= 0, got {self.conv_channels}")
        if not 0 <= self.n_res_layers < self.n_enc_layers:
            raise ValueError(f"need 0 <= n_res_layers < n_enc_layers, got {self.n_res_layers}")
        if self.lookback < 0 or not 0 <= self.ctc_weight <= 1 or not 0 <= self.dropout < 1:
            raise ValueError("need lookback >= 0, 0 <= ctc_weight <= 1 and 0 <= dropout < 1")
        if not 0 <= self.phone_ctc_weight <= 1:
            raise ValueError(f"need 0 <= phone_ctc_weight <= 1, got {self.phone_ctc_weight}")
        if not 0 <= self.label_dropout < 1:
            raise ValueError(f"need 0 <= label_dropout < 1, got {self.label_dropout}")
        if self.pred_context < 0 or (self.mode == "paper" and self.pred_context):
            raise ValueError(f"pred_context (fullsum mode only) must be >= 0, got "
                             f"{self.pred_context} with mode {self.mode!r}")  # fmt: skip
        if self.mode == "paper" and self.label_dropout > 0:
            # Paper mode feeds `<e>` back too and trains on one alignment: not implemented there.
            raise ValueError(f"label_dropout is for fullsum mode, got {self.label_dropout} "
                             "with mode 'paper'")  # fmt: skip


@dataclass(frozen=True)
class DecodingConfig:
    """How a model decodes unless its caller says otherwise. Shipping sets it; the weights do
    not depend on it. A checkpoint keeps it as config["decoding"], an export folder as its
    "decoding" metadata, the shipped model as `pretrained/decoding.json`."""

    beam: int = 0  # beam width (0/1: greedy)
    block_width: int = 0  # W: encoder frames per block (0: the model's `block_width`)

    def __post_init__(self) -> None:
        if self.beam < 0 or self.block_width < 0:
            raise ValueError(f"beam and block_width must be >= 0, got {self.beam}, "
                             f"{self.block_width}")  # fmt: skip

    def given(self, beam: int | None = None, block_width: int | None = None) -> "DecodingConfig":
        """These settings with a caller's where given (None, and a block width of 0: these)."""
        return DecodingConfig(self.beam if beam is None else beam, block_width or self.block_width)

    @classmethod
    def of(cls, config: dict) -> "DecodingConfig":
        """A checkpoint's (or export's) decoding: its config's "decoding" section, or for one
        written before that existed, the beam that its "model" section held."""
        if "decoding" in config:
            return cls(**config["decoding"])
        return cls(beam=config.get("model", {}).get("beam", 0))


@dataclass(frozen=True)
class OptimConfig:
    """What a training step optimises and how: batches, learning rate, block widths."""

    max_steps: int = 20000
    batch_seconds: float = 160.0  # padded audio per batch
    lr: float = 1e-3  # peak learning rate (AdamW)
    warmup_steps: int = 500
    final_lr_ratio: float = 0.05  # cosine decay ends at lr * this
    weight_decay: float = 0.01
    grad_clip: float = 5.0
    # W drawn per batch; several give dynamic block training. () = the model's block_width.
    block_widths: tuple[int, ...] = ()
    # Steps that train the encoder alone with the CTC head before the transducer term joins:
    # the decoder otherwise learns a character LM first while the encoder stays on the blank
    # plateau for thousands of steps (cf. CTC pre-training of RNN-T encoders, Rao et al. 2017).
    ctc_pretrain_steps: int = 0
    alignment: str = "search"  # paper mode: "search" (the paper's DP) or "ctc"
    sorted_first_epoch: bool = True  # SortaGrad: the first epoch from short to long

    def __post_init__(self) -> None:
        if self.alignment not in ("search", "ctc"):
            raise ValueError(f"alignment must be 'search' or 'ctc', got {self.alignment!r}")
        if self.block_widths and min(self.block_widths) < 1:
            raise ValueError(f"block_widths must be positive, got {self.block_widths}")
        if self.max_steps < 1 or self.lr <= 0 or self.batch_seconds <= 0:
            raise ValueError("need max_steps >= 1, lr > 0 and batch_seconds > 0")


@dataclass(frozen=True)
class AugmentConfig:
    """What training does to its audio and features, new at every step."""

    spec_augment: bool = True
    # SpecAugment starts at this step: masking from the first step keeps a model trained from
    # scratch on the blank plateau far longer (measured on the 2-hour corpus: no progress in
    # 1000 steps with it, progress from ~550 without).
    spec_augment_from_step: int = 0
    speed_perturb: tuple[float, ...] = (0.9, 1.0, 1.1)  # () disables it
    freq_warp: float = 0.0  # VTLP: warp each utterance's bins by a factor in 1 +- this; 0: off
    # A random fixed filter per utterance (`augment.random_eq`): gains at eq_points points over
    # the mel range, each drawn in +-eq_db times a strength drawn per utterance in [0, 1); 0: off.
    eq_db: float = 0.0
    eq_points: int = 6
    # A formant warp per utterance (`augment.formant_warp`): formant_points control points over
    # the mel bins, each read up to formant_warp (< 0.5) of their spacing away times a strength
    # drawn per utterance in [0, 1); new points every formant_warp_frames frames (0: one warp
    # for the utterance); 0: off.
    formant_warp: float = 0.0
    formant_points: int = 5
    formant_warp_frames: int = 0
    # Fresh noise each step (`augment.add_noise`) for this share of a batch's utterances, at an
    # SNR (dB) drawn from noise_snr; 0: off.
    noise_prob: float = 0.0
    noise_snr: tuple[float, float] = (5.0, 25.0)
    # Noise that starts mid-utterance (`add_noise(onset=True)`) for this share, at an SNR drawn
    # from noise_onset_snr: faint noise after speech otherwise read as a final "s"; 0: off.
    noise_onset_prob: float = 0.0
    noise_onset_snr: tuple[float, float] = (15.0, 45.0)
    # A band limit (`augment.lowpass`) for this share, at a cutoff (Hz) drawn from lowpass_hz,
    # after the noise: so that band-limited real speech is not a class of its own; 0: off.
    lowpass_prob: float = 0.0
    lowpass_hz: tuple[float, float] = (3400.0, 7000.0)
    # A real channel (`channel.apply`: a recorded room, the telephone, a codec, clipping) for
    # this share, one of `channels` each, last of the waveform augmentations; "room" needs the
    # impulse responses in the folder `rooms` (`transducer data import rooms`); 0: off.
    channel_prob: float = 0.0
    channels: tuple[str, ...] = CHANNELS
    rooms: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.noise_prob <= 1 or len(self.noise_snr) != 2:
            raise ValueError(f"need 0 <= noise_prob <= 1 and noise_snr (lo, hi) dB, got "
                             f"{self.noise_prob}, {self.noise_snr}")  # fmt: skip
        if not 0 <= self.noise_onset_prob <= 1 or len(self.noise_onset_snr) != 2:
            raise ValueError(f"need 0 <= noise_onset_prob <= 1 and noise_onset_snr (lo, hi) dB, "
                             f"got {self.noise_onset_prob}, {self.noise_onset_snr}")  # fmt: skip
        if not 0 <= self.lowpass_prob <= 1 or len(self.lowpass_hz) != 2:
            raise ValueError(f"need 0 <= lowpass_prob <= 1 and lowpass_hz (lo, hi), got "
                             f"{self.lowpass_prob}, {self.lowpass_hz}")  # fmt: skip
        if (
            not 0 <= self.channel_prob <= 1
            or not self.channels
            or set(self.channels) - set(CHANNELS)
        ):
            raise ValueError(f"need 0 <= channel_prob <= 1 and channels from {CHANNELS}, got "
                             f"{self.channel_prob}, {self.channels}")  # fmt: skip
        if self.channel_prob and "room" in self.channels and not self.rooms:
            raise ValueError("the room channel needs train.rooms, a folder of impulse responses")
        if not 0 <= self.formant_warp < 0.5 or self.formant_points < 1:
            raise ValueError(f"need 0 <= formant_warp < 0.5 and formant_points >= 1, got "
                             f"{self.formant_warp}, {self.formant_points}")  # fmt: skip
        if self.formant_warp_frames < 0:
            raise ValueError(f"formant_warp_frames must be >= 0, got {self.formant_warp_frames}")
        if self.eq_points < 2:
            raise ValueError(f"eq_points must be at least 2, got {self.eq_points}")


DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "fp16", "auto")


@dataclass(frozen=True)
class RunConfig:
    """How a run goes about it: time, seed, logging, checkpoints, data loading."""

    max_minutes: float = 0.0  # wall-clock budget for this run; 0 = none
    seed: int = 0
    log_every: int = 20  # steps between metric rows
    eval_every: int = 500  # steps between dev evaluations and checkpoints
    eval_utts: int = 100  # dev utterances per evaluation (0: all)
    keep_last: int = 3  # step checkpoints kept besides best.pt
    max_bad_steps: int = 50  # non-finite losses in a row before training stops
    stats_utts: int = 1000  # training utterances for the feature mean/std
    num_workers: int = 1  # data loading processes
    # Keep each batch's filterbank features (one copy per speed factor) in memory after their
    # first use: a step then skips resampling and fbank (13 % of a small model's step, measured
    # with the normalisation cached too; augmentation and normalisation run at every step). The
    # features take 0.12 GB per hour of training audio and speed factor (100 frames x 80 float32
    # a second); a run's process grew by ~0.28 GB per hour and factor. Needs the noise off
    # (noise is added to the waveforms, new at every step).
    cache_features: bool = False
    device: str = "auto"  # "cpu", "cuda" (under torchrun: LOCAL_RANK's GPU) or "auto": cuda if any
    # "fp32", or autocast to "bf16" or "fp16" (with a gradient scaler); the losses stay fp32.
    # For GPUs: on a CPU without bf16/fp16 instructions they run, 12x slower (006). "auto": bf16
    # on a GPU that has it, else fp32.
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.device not in DEVICES or self.precision not in PRECISIONS:
            raise ValueError(f"need device in {DEVICES} and precision in {PRECISIONS}, got "
                             f"{self.device!r}, {self.precision!r}")  # fmt: skip


TRAIN_GROUPS = {"optim": OptimConfig, "augment": AugmentConfig, "run": RunConfig}


@dataclass(frozen=True)
class TrainConfig:
    """A training run's settings in three groups; saved inside every checkpoint. A config
    file's "train" section may name the groups ({"optim": {...}, ...}) or give their keys
    flat (every key belongs to one group): `TrainConfig.of`."""

    optim: OptimConfig = OptimConfig()
    augment: AugmentConfig = AugmentConfig()
    run: RunConfig = RunConfig()

    def __post_init__(self) -> None:
        if self.run.cache_features and (self.augment.noise_prob or self.augment.noise_onset_prob):
            raise ValueError("cache_features needs noise_prob and noise_onset_prob off: noise "
                             "is added to the waveforms, new at every step")  # fmt: skip

    @classmethod
    def of(cls, d: dict | None = None, **keys) -> "TrainConfig":
        """From a "train" section, grouped or flat (lists as tuples), and/or keyword keys of
        any group: TrainConfig.of(lr=3e-4, seed=2). ValueError names an unknown key."""
        d = {**(d or {}), **keys}
        groups: dict[str, dict] = {name: {} for name in TRAIN_GROUPS}
        for name, group in TRAIN_GROUPS.items():
            for key, value in dict(d.pop(name, None) or {}).items():
                if key not in group.__dataclass_fields__:
                    raise ValueError(f"TrainConfig's {name} has no key {key!r}")
                groups[name][key] = value
        for key, value in d.items():  # flat keys, after the groups: they replace theirs
            if train_group(key) is None:
                raise ValueError(f"TrainConfig has no key {key!r}")
            groups[train_group(key)][key] = value
        return cls(**{name: TRAIN_GROUPS[name](**lists_to_tuples(g)) for name, g in groups.items()})

    def with_keys(self, **keys) -> "TrainConfig":
        """This config with keys of any group replaced: cfg.with_keys(lr=1e-4, seed=3)."""
        return TrainConfig.of(asdict(self), **keys)


def train_group(key: str) -> str | None:
    """The group ("optim", "augment", "run") of a training key, None if none has it."""
    for name, group in TRAIN_GROUPS.items():
        if key in group.__dataclass_fields__:
            return name
    return None
