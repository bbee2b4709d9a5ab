"""One small adapter for each private API of another package that validation relies on (shap's compiled TreeSHAP
kernel has its adapter in ``kernels/shap_kernel.py``, shared with the host agent).

Each module names the versions it was written against, imports the private names in one place, and has a contract
test (``tests/validation/test_adapters.py``) that fails loudly, naming the package and version, on a release that
moved or changed them. ``pyproject.toml`` keeps those packages in a tight range.
"""
