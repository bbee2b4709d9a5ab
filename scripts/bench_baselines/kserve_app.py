"""Baseline for the serving benchmark: KServe's Python model server around one ONNX Runtime session (OIP v2).

Run with the benchmark's own venv (var/bench/venv-kserve): ``MODEL=... python kserve_app.py NAME PORT``.
"""

import os
import sys
import uuid

import numpy as np
import onnxruntime as ort
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer


class OnnxModel(Model):
    def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(os.environ["MODEL"], options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.ready = True
        return True

    def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        x = payload.inputs[0].as_numpy().astype(np.float32)
        last = self.session.run(None, {self.input_name: x})[-1].astype(np.float32)
        output = InferOutput(name="output", shape=list(last.shape), datatype="FP32")
        output.set_data_from_numpy(last, binary_data=False)
        return InferResponse(model_name=self.name, infer_outputs=[output], response_id=payload.id or str(uuid.uuid4()))


if __name__ == "__main__":
    model = OnnxModel(sys.argv[1])
    model.load()
    ModelServer(http_port=int(sys.argv[2]), grpc_port=int(sys.argv[2]) + 1, workers=1, enable_grpc=False,
                enable_docs_url=False).start([model])
