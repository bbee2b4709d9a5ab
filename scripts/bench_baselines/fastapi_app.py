"""Baseline for the serving benchmark: a plain FastAPI + uvicorn service around one ONNX Runtime session.

No schema checks, no prediction log, no drift windows: the least a service can do. Run with the benchmark's own
venv (var/bench/venv-fastapi): ``MODEL=... python fastapi_app.py PORT``.
"""

import os
import sys

import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = ort.InferenceSession(os.environ["MODEL"], options, providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name
width = session.get_inputs()[0].shape[1]
names = [f"x{i}" for i in range(width)]
app = FastAPI()


class Body(BaseModel):
    features: dict[str, float] | None = None
    records: list[dict[str, float]] | None = None


@app.post("/predict")
def predict(body: Body):
    rows = body.records if body.records is not None else [body.features]
    x = np.array([[row[n] for n in names] for row in rows], dtype=np.float32)
    last = session.run(None, {input_name: x})[-1]
    scores = last[:, 1] if last.ndim == 2 and last.shape[1] == 2 else last.ravel()
    return {"predictions": [{"score": float(s)} for s in scores]}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
