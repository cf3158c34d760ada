"""Triton Python-backend model that runs ``model.onnx`` (beside this file) with onnxruntime.

Copied as ``<repo>/<name>/1/model.py`` by ``export.repository`` for the Python-backend twin repository. It
executes every request of a dynamic batch in ONE onnxruntime call (requests are concatenated on axis 0 and
split back), so Triton's batching is real: ``execution_count`` counts these calls, ``inference_count`` rows.
It runs inside Triton's Python stub, so it imports only numpy, onnxruntime and triton_python_backend_utils.
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.inputs = [tensor["name"] for tensor in config["input"]]
        self.outputs = [tensor["name"] for tensor in config["output"]]
        self.batched = config.get("max_batch_size", 0) > 0
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("FIQA_TWIN_THREADS", "1"))
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        arrays = [
            {name: pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in self.inputs}
            for request in requests
        ]
        if self.batched and len(arrays) > 1:
            feed = {name: np.concatenate([item[name] for item in arrays]) for name in self.inputs}
        else:
            feed = arrays[0]
        try:
            if len(arrays) > 1 and not self.batched:
                raise pb_utils.TritonModelException("several requests in one execution of an unbatched model")
            results = self.session.run(self.outputs, feed)
        except Exception as exc:
            error = pb_utils.TritonError(f"onnxruntime: {exc}")
            return [pb_utils.InferenceResponse(output_tensors=[], error=error) for _ in requests]
        responses = []
        offset = 0
        for item in arrays:
            rows = next(iter(item.values())).shape[0] if self.batched else 0
            tensors = []
            for name, value in zip(self.outputs, results, strict=True):
                part = value[offset : offset + rows] if self.batched else value
                tensors.append(pb_utils.Tensor(name, np.ascontiguousarray(part)))
            offset += rows
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
