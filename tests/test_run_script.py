"""workflow/scripts/run.py sets the OpenMP wait policy before torch can be imported."""

from __future__ import annotations

import ast
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "workflow" / "scripts" / "run.py"


def test_passive_wait_policy_is_set_before_any_import_of_the_library():
    tree = ast.parse(RUN.read_text())
    setdefault = imports = None
    for i, node in enumerate(tree.body):
        src = ast.unparse(node)
        if setdefault is None and src == "os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')":
            setdefault = i
        if imports is None and isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in ("overparam", "torch", "numpy"):
                imports = i
    assert setdefault is not None and imports is not None
    assert setdefault < imports
    # nothing before it pulls in torch (only the standard library)
    for node in tree.body[:setdefault]:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            assert all(n in ("os", "sys", "pathlib") for n in names)
