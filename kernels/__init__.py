"""Compute kernels with no Django and no room in them, shared by the control plane and the host agent.

``onnx_trees`` reads tree ensembles out of ONNX graphs, ``treeshap`` computes exact TreeSHAP on them (validation
explains a version with it; the host agent explains a served decision with it), ``shap_kernel`` is the one adapter
to shap's private compiled kernel. Nothing here imports Django, the kernel or any room (import-linter checks it).
"""
