"""`transducer bench`: its numbers exist and its files stay in a temporary folder of its own."""

import tempfile
from pathlib import Path

import pytest

import transducer.export.onnx_export
from transducer.bench import bench

pytestmark = pytest.mark.integration


def test_bench_writes_only_under_a_fresh_temporary_folder(tmp_path, monkeypatch):
    """It used fixed /tmp paths, which two users or two runs at once overwrite."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    written, original = [], transducer.export.onnx_export.export

    def recorded(model, out, **options):
        written.append(Path(out))
        return original(model, out, **options)

    monkeypatch.setattr(transducer.export.onnx_export, "export", recorded)
    result = bench(seconds=1.0, rounds=1)
    assert result["rtf_numba"] > 0 and result["rtf_onnx_int8"] > 0
    assert result["block_latency_ms_p99"] > 0 and result["decoder_speedup"] > 0
    (folder,) = written
    assert folder.parent.parent == tmp_path and folder.parent.name.startswith("transducer-bench")
    assert list(tmp_path.iterdir()) == []  # and it is removed afterwards
