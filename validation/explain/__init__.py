"""Explainability for ONNX artifacts: exact TreeSHAP read from ONNX tree ensembles, model-agnostic SHAP otherwise."""

from validation.explain.api import Explanation, explain_onnx

__all__ = ["Explanation", "explain_onnx"]
