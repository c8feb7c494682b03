"""Data: JSONL manifests, importers, the synthetic speech corpus and training augmentation."""

from transducer.data.manifest import (
    ManifestError,
    Utterance,
    read_manifest,
    read_utterance,
    write_manifest,
)

__all__ = ["ManifestError", "Utterance", "read_manifest", "read_utterance", "write_manifest"]
