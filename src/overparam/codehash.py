"""Which library code a job executes, and its hash, read from the source (no import).

The workflow gives every job a parameter per library module the job runs (``module=hash``), so
that editing a module re-runs exactly the jobs that execute it, and ``snakemake -n`` names the
module in its reason (``before: 'overparam.train=1a2b..' now: 'overparam.train=3c4d..'``).

A job's modules are found from its entry points: a module and the functions of it the job
calls (``steps.run_job``; an experiment's ``__init__`` and the method the step calls; the
sibling module the step imports by name, e.g. ``experiments/<x>/run.py``). From an entry
point, every import at module level counts, and the imports inside the named functions; every
module reached that way counts with all its imports (module level and inside any function:
conservative, so a lazy import is never missed). Importing ``a.b.c`` also runs the packages
``a`` and ``a.b``: their module-level imports count too. The hash is of the file's bytes, so a
comment-only edit re-runs too (harmless); a dependency is never missed for a static import.
Imports by a computed name (``importlib.import_module(f".{module}")``) are what the entry
points name explicitly.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "overparam"
ROOT = Path(__file__).resolve().parent  # src/overparam


def module_path(name: str) -> Path | None:
    """The file of the library module ``name`` (a package: its ``__init__.py``), or None."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    rel = Path(*name.split(".")[1:])
    for p in (ROOT / rel / "__init__.py", (ROOT / rel).with_suffix(".py")):
        if p.is_file():
            return p
    return None


def _is_package(name: str) -> bool:
    p = module_path(name)
    return p is not None and p.name == "__init__.py"


def _resolve(node: ast.ImportFrom | ast.Import, module: str) -> list[str]:
    """The library modules an import statement of ``module`` loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if module_path(a.name)]
    if node.level:
        base = module.split(".") if _is_package(module) else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not module_path(target):
        return []
    out = [target]
    for a in node.names:  # `from . import x` loads the submodule x where there is one
        if module_path(f"{target}.{a.name}"):
            out.append(f"{target}.{a.name}")
    return out


@functools.cache
def _tree(name: str) -> ast.Module:
    path = module_path(name)
    assert path is not None, name
    return ast.parse(path.read_text(), filename=str(path))


def _type_checking(node: ast.AST) -> bool:
    """An ``if TYPE_CHECKING:`` block (its imports never run)."""
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _walk(node: ast.AST):
    """``ast.walk`` without the bodies of ``if TYPE_CHECKING:`` blocks."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        if _type_checking(n):
            todo += n.orelse  # type: ignore[attr-defined]
            continue
        todo += list(ast.iter_child_nodes(n))


def _imports(nodes: Iterable[ast.AST], module: str) -> set[str]:
    out: set[str] = set()
    for n in nodes:
        for sub in _walk(n):
            if isinstance(sub, ast.Import | ast.ImportFrom):
                out.update(_resolve(sub, module))
    return out


def _top_level(tree: ast.Module) -> list[ast.AST]:
    """The statements that run on import: all but function bodies (class bodies run, their
    methods do not)."""
    out: list[ast.AST] = []
    for n in tree.body:
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(n, ast.ClassDef):
            out += [b for b in n.body if not isinstance(b, ast.FunctionDef | ast.AsyncFunctionDef)]
            out += n.decorator_list + n.bases
            continue
        out.append(n)
    return out


def _functions(tree: ast.Module, names: Iterable[str]) -> list[ast.AST]:
    """The definitions (module functions or methods) named ``names``, and, transitively, the
    functions of the same module they call by name (so a helper's lazy import counts)."""
    defs: dict[str, list[ast.AST]] = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef):
            defs.setdefault(n.name, []).append(n)
    out: list[ast.AST] = []
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        for d in defs[name]:
            out.append(d)
            for sub in ast.walk(d):
                if isinstance(sub, ast.Call):
                    f = sub.func
                    called = (
                        f.id
                        if isinstance(f, ast.Name)
                        else (
                            f.attr
                            if isinstance(f, ast.Attribute)
                            and isinstance(f.value, ast.Name)
                            and f.value.id in ("self", "cls")
                            else None
                        )
                    )
                    if called:
                        todo.append(called)
    return out


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def closure(entries: Iterable[tuple[str, tuple[str, ...] | None]]) -> set[str]:
    """The library modules a job runs: ``entries`` are (module, functions it calls; None: the
    whole module) pairs."""
    full: set[str] = set()  # counted with every import
    top: set[str] = set()  # packages only run as a parent: their import-time imports
    todo: list[tuple[str, bool]] = []
    for name, funcs in entries:
        if not module_path(name):
            continue
        tree = _tree(name)
        top.add(name)
        direct = _imports(_top_level(tree), name)
        direct |= _imports(_functions(tree, funcs) if funcs is not None else [tree], name)
        todo += [(m, True) for m in direct] + [(m, False) for m in _parents(name)]
    while todo:
        name, everything = todo.pop()
        if name in full or (not everything and name in top) or not module_path(name):
            continue
        (full if everything else top).add(name)
        tree = _tree(name)
        found = _imports([tree] if everything else _top_level(tree), name)
        todo += [(m, True) for m in found] + [(m, False) for m in _parents(name)]
    return full | top


@functools.cache
def file_hash(path: str) -> str:
    """The first 12 hex digits of the SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def module_hashes(modules: Iterable[str]) -> dict[str, str]:
    """{module: hash of its source} for library modules."""
    out = {}
    for m in sorted(modules):
        p = module_path(m)
        if p is not None:
            out[m] = file_hash(str(p))
    return out


# The experiment method each step function of overparam.steps calls, and the sibling module of
# the experiment's folder that method imports by a computed name (Experiment._sibling).
STEP_METHODS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "run_job": (("run",), "run"),
    "aggregate": (("aggregate",), None),
    "figure": (("plot",), "figure"),
    "check": (("check", "definitions"), "claims"),
}


@functools.cache
def job_modules(script: str, experiment: str | None = None) -> dict[str, str]:
    """{module: hash} of the library code a job of the workflow script ``script`` runs (for
    the experiment ``experiment``, where the job belongs to one): the functions the script
    imports from the library, and the experiment's methods and sibling module they call."""
    tree = ast.parse(Path(script).read_text(), filename=script)
    entries: list[tuple[str, tuple[str, ...] | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
            names = tuple(a.name for a in node.names)
            entries.append((str(node.module), names))
            for name in names:
                if experiment and name in STEP_METHODS:
                    methods, sibling = STEP_METHODS[name]
                    pkg = f"{PACKAGE}.experiments.{experiment}"
                    entries.append((pkg, methods))
                    if sibling:
                        entries.append((f"{pkg}.{sibling}", None))
    return module_hashes(closure(entries))


@functools.cache
def all_modules() -> list[str]:
    """Every module of the library, by name."""
    out = []
    for p in sorted(ROOT.rglob("*.py")):
        rel = p.relative_to(ROOT).with_suffix("")
        parts = [PACKAGE, *rel.parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join(parts))
    return out
