"""Every refusal a reader can see goes through gettext: a new English-only refusal fails here.

Scans the product's source for ``raise <DomainError or a subclass>(message, ...)`` and for the message argument of
``PermissionDenied``/``Conflict``/``DomainError`` built elsewhere; the message must be a gettext call (``_()``,
``gettext``, ``ngettext``...) or built from one with ``%``. Messages in a variable are traced to their assignment
in the same function when they can be; anything else is listed.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "governance", "registry", "validation", "serving")
REFUSALS = {"DomainError", "PermissionDenied", "Conflict", "ArtifactRejected", "SchemaError", "LedgerError"}
GETTEXT = {"_", "gettext", "gettext_lazy", "ngettext", "pgettext", "npgettext", "ngettext_lazy"}
SKIP_PARTS = {"migrations", "management", "agent", "demo"}


def _is_translated(node: ast.AST, assigned: dict[str, ast.AST]) -> bool:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in GETTEXT:
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return _is_translated(node.left, assigned)
    if isinstance(node, ast.IfExp):
        return _is_translated(node.body, assigned) and _is_translated(node.orelse, assigned)
    if isinstance(node, ast.Name):
        value = assigned.get(node.id)
        return value is None or _is_translated(value, assigned)  # a parameter: its caller is checked instead
    if isinstance(node, ast.Constant) and node.value is None:
        return True  # the class's own (translated) default
    return not isinstance(node, ast.Constant | ast.JoinedStr)


def _refusals(tree: ast.AST):
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        assigned = {t.id: n.value for n in ast.walk(func) if isinstance(n, ast.Assign)
                    for t in n.targets if isinstance(t, ast.Name)}
        for node in ast.walk(func):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in REFUSALS):
                continue
            message = node.args[0] if node.args else next(
                (k.value for k in node.keywords if k.arg == "message"), None)
            if message is not None and not _is_translated(message, assigned):
                yield node.lineno, ast.unparse(message)[:90]


def test_every_refusal_is_translated():
    untranslated = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if SKIP_PARTS & set(path.relative_to(ROOT).parts):
                continue
            for line, text in _refusals(ast.parse(path.read_text(), str(path))):
                untranslated.append(f"{path.relative_to(ROOT)}:{line}: {text}")
    assert untranslated == [], "refusals without gettext:\n" + "\n".join(untranslated)


def test_the_scan_catches_an_english_only_refusal():
    source = '''
def refuse(version):
    raise DomainError(f"v{version} cannot move.", code="x")
def refuse_too(version):
    message = "Nope."
    raise Conflict(message)
def fine(version):
    raise DomainError(_("v%(n)s cannot move.") % {"n": version}, code="x")
'''
    assert [line for line, _ in _refusals(ast.parse(source))] == [3, 6]
