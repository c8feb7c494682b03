"""ONNX export (`onnx_export`, needs torch) and the torch-free runtime: `runtime` checks and
loads an export folder, `OnnxRecognizer` runs it (onnxruntime encoder, Numba decoder)."""

from pathlib import Path

from transducer.export.runtime import has_fp32_graphs
from transducer.recognizer import EndpointConfig, Recognizer


class OnnxRecognizer(Recognizer):
    """`Recognizer` on an export folder: onnxruntime encoder, Numba decoder, no torch.
    int8: the int8 graphs; by default the fp32 ones where the folder has them, else int8."""

    def __init__(self, folder: str | Path, beam: int | None = None,
                 block_width: int | None = None, endpoint: EndpointConfig = EndpointConfig(),
                 int8: bool | None = None):  # fmt: skip
        int8 = not has_fp32_graphs(folder) if int8 is None else int8
        super().__init__(folder, beam, block_width, endpoint, "onnx-int8" if int8 else "onnx")
