"""pyproject.toml holds the pins; the conda environment files are generated from it and the
lock file CI installs agrees with it."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pins(reqs):
    out = {}
    for r in reqs:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*==\s*([^\s;]+)\s*", r)
        assert m, f"requirement {r!r} is not pinned with =="
        out[m.group(1).lower()] = m.group(2)
    return out


def test_environment_files_are_generated_from_pyproject():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(ROOT / "tools" / "make_envs.py"), "--check"],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stdout
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    user = pins(proj["dependencies"] + proj["optional-dependencies"]["slurm"])
    assert pins([p for p in pip if not p.startswith("-e")]) == user and "-e ." in pip
    assert "python=3.11" in env["dependencies"]
    rules = yaml.safe_load((ROOT / "workflow" / "envs" / "overparam.yaml").read_text())
    rule_pip = next(d["pip"] for d in rules["dependencies"] if isinstance(d, dict))
    assert pins(rule_pip) == pins(proj["dependencies"])  # no test tools in the rules' env
    assert user["torch"] == "2.13.0"


def test_the_lock_file_agrees_with_every_pin():
    """requirements.lock (the full resolved set CI installs) has every pinned package of
    pyproject.toml at its pinned version (torch as its CPU build, 2.13.0+cpu)."""
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [ln for ln in (ROOT / "requirements.lock").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]  # fmt: skip
    lock = {k.replace("_", "-"): v.split("+")[0] for k, v in pins(lines).items()}
    everything = proj["dependencies"] + proj["optional-dependencies"]["test"]
    for name, v in pins(everything).items():
        assert lock.get(name.replace("_", "-")) == v, (name, v, lock.get(name))
    assert "snakemake[reports]==" in " ".join(proj["dependencies"])
    assert "pygments" in lock  # snakemake[reports]: `snakemake --report` after a plain install
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -r requirements.lock" in ci


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
