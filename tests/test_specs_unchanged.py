"""Every job of every experiment, planned from the shipped configs, has the parameters it had
when ``tests/fixtures/spec_hashes.json`` was written: the same ids and the same
``tables.config_hash`` of its ``params()`` (what the resume keys and provenance record) and
of its ``rule_params()`` (what Snakemake tracks), and the same ``repr`` (field types too: an
int where a float was would change nothing in the hash of 1 vs 1.0 only by luck).

A change to the planning that is meant to change the jobs regenerates the fixture
(``python -m tests.test_specs_unchanged``) in the same commit, so the diff shows which jobs
changed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from .conftest import BASE_SCHEMA, SHIPPED, shipped_config

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "spec_hashes.json"


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def planned(name: str) -> dict:
    """{experiment: {"parts": {id: [params hash, repr hash]}, "jobs": {id: [params hash,
    rule_params hash, repr hash]}, "jobs_unbundled": [ids], "seeds": seed_summary}} of the
    shipped config ``name`` (a key of conftest.SHIPPED), validated as the workflow does."""
    from overparam import experiments, tables
    from overparam.config import validate

    cfg = validate(shipped_config(name), BASE_SCHEMA)
    out = {}
    for exp in experiments.names():
        e, section = experiments.get(exp), cfg[exp]
        out[exp] = {
            "parts": {
                i: [tables.config_hash(s.params()), _short(repr(s))]
                for i, s in e.parts(section).items()
            },
            "jobs": {
                i: [
                    tables.config_hash(j.params()),
                    tables.config_hash(j.rule_params()),
                    _short(repr(j)),
                ]
                for i, j in e.jobs(section, bundles=True).items()
            },
            "jobs_unbundled": list(e.jobs(section, bundles=False)),
            "seeds": e.seed_summary(section),
        }
    return out


def everything() -> dict:
    return {name: planned(name) for name in SHIPPED}


def test_fixture_covers_every_shipped_config_and_experiment():
    from overparam import experiments

    want = json.loads(FIXTURE.read_text())
    assert sorted(want) == sorted(SHIPPED)
    for name in SHIPPED:
        assert sorted(want[name]) == experiments.names(), name


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_specs_unchanged(name):
    want = json.loads(FIXTURE.read_text())[name]
    got = planned(name)
    for exp in want:
        assert got[exp] == want[exp], f"{name}: {exp}'s jobs differ from {FIXTURE.name}"


if __name__ == "__main__":
    FIXTURE.write_text(json.dumps(everything(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE}")
