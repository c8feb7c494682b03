"""Streaming speech recognition with the Neural Transducer (Jaitly et al., 2016)."""

__version__ = "0.1.0"
