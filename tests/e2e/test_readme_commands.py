"""Every command of the README's code blocks runs: the install-and-test line is what CI runs,
the build line builds, `snakemake` lines plan without error (a dry run at .test scale, or at
the paper scale they name), and `overparam` lines succeed on the shared .test run. A renamed
flag or target breaks this test."""

import os
import re
import shlex
import subprocess
import sys

import pytest

from ..conftest import ROOT, TEST_CONFIG

pytestmark = pytest.mark.e2e


def readme_commands() -> list[str]:
    """Every command line of the README's ```bash blocks, comments stripped."""
    text = (ROOT / "README.md").read_text()
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = re.split(r"\s+#\s", line)[0].strip()
            if line:
                out.append(line)
    return out


COMMANDS = readme_commands()


def test_the_readme_has_its_commands():
    assert any(c.endswith("&& python -m pytest") for c in COMMANDS)
    assert any(c.endswith("&& snakemake figures/all") for c in COMMANDS)
    assert any(c.startswith("overparam ") for c in COMMANDS)


def test_the_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    for c in COMMANDS:
        if c.startswith("python3 -m venv") and c.endswith("python -m pytest"):
            assert c in ci


def _dry_run(cmd: str, wd) -> subprocess.CompletedProcess:
    """A README `snakemake` line as a dry run of this checkout's workflow in ``wd``: at .test
    scale, or with the config files it names (config/paper.yaml is an overlay, so over
    config/config.yaml); repository paths (profiles/, config/) taken from the checkout."""
    args = shlex.split(cmd)[1:]
    configs = [str(TEST_CONFIG)]
    if "--configfile" in args:
        i = args.index("--configfile")
        configs = [str(ROOT / "config/config.yaml"), str(ROOT / args[i + 1])]
        del args[i : i + 2]
    if "--profile" in args:
        i = args.index("--profile")
        args[i + 1] = str(ROOT / args[i + 1])
    full = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(wd),
            "--configfile", *configs, "-n", *args]  # fmt: skip
    return subprocess.run(full, capture_output=True, text=True, timeout=600)


SNAKEMAKE_LINES = [c.split("&&")[-1].strip() for c in COMMANDS if "snakemake " in c + " "]


@pytest.mark.parametrize("cmd", [c for c in SNAKEMAKE_LINES if c.startswith("snakemake")])
def test_each_snakemake_line_plans(cmd, pipeline_run, tmp_path):
    wd = tmp_path if "--configfile" in cmd else pipeline_run
    out = _dry_run(cmd, wd)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c.startswith("overparam ")])
def test_each_overparam_line_succeeds_on_a_run(cmd, pipeline_run):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-m", "overparam.cli", *shlex.split(cmd)[1:]],
                         cwd=pipeline_run, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    # `claims --failing` exits 3 when a replication fails (the .test run has some)
    assert out.returncode in ((0, 3) if "--failing" in cmd else (0,)), out.stderr
    assert out.stdout.strip()
