"""Parquet tables: the interface between pipeline steps.

Every table has a schema (column -> kind); it is validated when written and when read, and a
wrong table is an error that names the file and the column. Provenance (config hash, seeds,
git commit, package versions, device, wall seconds) travels in the parquet metadata.
Writes are atomic: a temp file in the same folder, then ``os.replace``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .io import atomic_path

PROVENANCE_KEY = b"overparam.provenance"

KINDS = {
    "int": lambda s: pd.api.types.is_integer_dtype(s.dtype),
    "float": lambda s: (
        pd.api.types.is_float_dtype(s.dtype) or pd.api.types.is_integer_dtype(s.dtype)
    ),
    "bool": lambda s: pd.api.types.is_bool_dtype(s.dtype),
    "str": lambda s: pd.api.types.is_string_dtype(s.dtype) or pd.api.types.is_object_dtype(s.dtype),
}


class TableError(ValueError):
    """A table does not match its schema, or cannot be read. ``path`` is the file when the
    error is about one (the workflow adds how to rebuild it)."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Schema:
    """Columns as name -> kind ('int', 'float', 'bool', 'str'). ``nullable`` lists the columns
    allowed to hold NaN/None (metrics of diverged runs, undefined quantities); all others must
    be complete. Extra columns are an error unless ``extra_ok``. ``doc`` gives each column's
    meaning in one line (units, how it is computed), shown to users who audit a table."""

    name: str
    columns: dict[str, str]
    nullable: frozenset[str] = field(default_factory=frozenset)
    extra_ok: bool = False
    doc: dict[str, str] = field(default_factory=dict)

    def validate(self, df: pd.DataFrame, where: str) -> None:
        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            raise TableError(
                f"{where}: table '{self.name}' is missing column(s) {missing}; "
                f"expected columns {list(self.columns)}"
            )
        extra = [c for c in df.columns if c not in self.columns]
        if extra and not self.extra_ok:
            raise TableError(f"{where}: table '{self.name}' has unexpected column(s) {extra}")
        for col, kind in self.columns.items():
            s = df[col]
            if kind not in KINDS:
                raise TableError(f"schema '{self.name}': unknown kind {kind!r} for column {col!r}")
            if len(s) and s.isna().all() and col in self.nullable:
                continue  # an all-NaN nullable column has no meaningful dtype
            if not KINDS[kind](s):
                raise TableError(
                    f"{where}: column '{col}' of table '{self.name}' should be {kind}, "
                    f"found dtype {s.dtype}"
                )
            if col not in self.nullable and s.isna().any():
                raise TableError(
                    f"{where}: column '{col}' of table '{self.name}' has "
                    f"{int(s.isna().sum())} missing value(s) but is not nullable"
                )


def write_table(df: pd.DataFrame, path, schema: Schema, provenance: dict | None = None) -> None:
    """Validate ``df`` against ``schema`` and write it atomically to ``path`` as parquet, with
    ``provenance`` (JSON-serialisable) in the file metadata."""
    path = Path(path)
    schema.validate(df, str(path))
    df = df[list(schema.columns) + [c for c in df.columns if c not in schema.columns]]
    try:
        table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    except (pa.ArrowException, ValueError, TypeError) as e:  # e.g. ints and strings in one column
        col = next((c for c in df.columns if _unstorable(df[c])), "?")
        raise TableError(
            f"{path}: cannot store column '{col}' of table '{schema.name}' as "
            f"parquet ({type(e).__name__}: {e})"
        ) from e
    meta = dict(table.schema.metadata or {})
    meta[PROVENANCE_KEY] = json.dumps(
        {"schema": schema.name, **(provenance or {})}, sort_keys=True, default=str
    ).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _unstorable(s: pd.Series) -> bool:
    try:
        pa.array(s, from_pandas=True)
        return False
    except (pa.ArrowException, ValueError, TypeError):
        return True


def read_table(path, schema: Schema | None = None) -> pd.DataFrame:
    """Read a parquet table; a missing, truncated or foreign file, or one that does not match
    ``schema``, raises TableError naming the file and the problem."""
    path = Path(path)
    if not path.exists():
        raise TableError(f"{path}: table file does not exist", path)
    try:
        df = pq.read_table(path).to_pandas()
    except Exception as e:
        raise TableError(
            f"{path}: not a readable parquet table ({type(e).__name__}: {e})", path
        ) from e
    if schema is not None:
        try:
            schema.validate(df, str(path))
        except TableError as e:
            raise TableError(str(e), path) from None
    return df


def read_provenance(path) -> dict:
    md = pq.read_schema(path).metadata or {}
    raw = md.get(PROVENANCE_KEY)
    return json.loads(raw) if raw else {}


# ----------------------------------------------------------------------------- provenance


def config_hash(cfg) -> str:
    """Stable short hash of a JSON-serialisable config (sorted keys)."""
    blob = json.dumps(cfg, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def git_commit(cwd=None) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        sha = out.stdout.strip()
        if not sha:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
        return sha + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in (
        "overparam",
        "torch",
        "numpy",
        "scipy",
        "pandas",
        "pyarrow",
        "snakemake",
        "mnist1d",
    ):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def provenance(
    cfg,
    seeds=None,
    device: str | list[str] = "cpu",
    wall_s: float | None = None,
    repo=None,
    **extra,
) -> dict:
    """What a table was made from: the config (and its hash), seeds, the commit of the checkout
    ``repo`` (default: the current directory's), the library that ran (its folder), package
    versions, device and wall time."""
    return {
        "config_hash": config_hash(cfg),
        "config": cfg,
        "seeds": list(seeds) if seeds is not None else None,
        "git_commit": git_commit(repo),
        "library": str(Path(__file__).resolve().parent),
        "versions": package_versions(),
        "device": device,
        "wall_s": wall_s,
        **extra,
    }
