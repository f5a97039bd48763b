"""pyproject.toml and environment.yml must pin the same packages to the same versions."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pins(reqs):
    out = {}
    for r in reqs:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;]+)\s*", r)
        assert m, f"requirement {r!r} is not pinned with =="
        out[m.group(1).lower()] = m.group(2)
    return out


def test_pyproject_and_environment_agree():
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    py = pins(proj["dependencies"] + proj["optional-dependencies"]["test"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda = pins([p for p in pip if not p.startswith("-e")])
    assert py == conda
    assert "python=3.11" in env["dependencies"]
    assert py["torch"] == "2.13.0"  # the CPU build on this project's machines; see README


def test_installed_versions_match_pins():
    from importlib.metadata import version

    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for name, v in pins(proj["dependencies"]).items():
        assert version(name).split("+")[0] == v, name


def test_test_extra_brings_the_slurm_extra():
    """CI installs `.[test]` and runs tests/slurm: the test extra carries the slurm pins."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    slurm, test = pins(extras["slurm"]), pins(extras["test"])
    assert slurm and all(test.get(k) == v for k, v in slurm.items()), (slurm, test)


def test_license_file_matches_the_declared_license():
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / "LICENSE").read_text()
    assert proj["license"]["text"] == "MIT" and text.startswith("MIT License")
