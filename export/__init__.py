"""ONNX export and the torch-free onnxruntime recognizer (issue #5)."""
