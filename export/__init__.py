"""Model export: model cards -> Triton model repository; torch -> ONNX; ONNX -> TensorRT engines.

Nothing here is imported by the gateway; torch and TensorRT are imported only by the steps that need them.
"""
