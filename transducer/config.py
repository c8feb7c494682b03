"""Frozen configuration dataclasses, validated once at construction.

Override with `dataclasses.replace(cfg, field=value)`; serialise with `dataclasses.asdict`.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel filterbank settings; they match `torchaudio.compliance.kaldi.fbank`."""

    sample_rate: int = 16000  # Hz; all audio is resampled to this before features
    n_mels: int = 80  # mel bins
    frame_length_ms: float = 25.0  # analysis window
    frame_shift_ms: float = 10.0  # hop between frames
    preemphasis: float = 0.97  # Kaldi default, applied inside each frame
    low_freq: float = 20.0  # Hz, lower edge of the first mel bin (Kaldi default)
    high_freq: float = 0.0  # Hz; <= 0 means offset from Nyquist (Kaldi convention)
    # Kaldi scales float audio to the int16 range before the FFT; we do the same so the
    # epsilon floor of the log sits far below any real signal, including quiet noise.
    input_scale: float = 32768.0

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.n_mels < 4:
            raise ValueError(f"n_mels must be at least 4, got {self.n_mels}")
        if not 0 < self.frame_shift_ms <= self.frame_length_ms:
            raise ValueError(
                f"need 0 < frame_shift_ms <= frame_length_ms, got "
                f"{self.frame_shift_ms} and {self.frame_length_ms}"
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
