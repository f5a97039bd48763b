import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _fast_failing_slurm_conf() -> None:
    """Where the SLURM commands are installed but no cluster is configured (CI installs them
    for tests/slurm), every Snakemake start waits up to 10 s: the SLURM executor plugin runs
    ``scontrol show config`` when Snakemake loads its plugins. Processes the tests start get a
    SLURM_CONF whose controller is a closed local port, so that probe fails in milliseconds;
    tests/slurm gives its own processes the test cluster's SLURM_CONF."""
    if "SLURM_CONF" in os.environ or shutil.which("scontrol") is None:
        return
    conf = Path(tempfile.mkdtemp(prefix="overparam-no-slurm-")) / "slurm.conf"
    atexit.register(shutil.rmtree, conf.parent, ignore_errors=True)
    # MessageTimeout=1: without it scontrol retries the refused connection for 9 s
    conf.write_text(
        "ClusterName=none\nSlurmctldHost=localhost\nSlurmctldPort=9\nMessageTimeout=1\n"
    )
    os.environ["SLURM_CONF"] = str(conf)


_fast_failing_slurm_conf()
TEST_CONFIG = ROOT / ".test" / "config.yaml"
BASE_SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
# the shipped configs as the workflow reads them: each --configfile deep-merged over the
# Snakefile's configfile (config/config.yaml); config/paper.yaml is an overlay of it
SHIPPED = {
    "config/config.yaml": ("config/config.yaml",),
    "config/paper.yaml": ("config/config.yaml", "config/paper.yaml"),
    ".test/config.yaml": ("config/config.yaml", ".test/config.yaml"),
}


def shipped_config(name: str) -> dict:
    """The shipped config ``name`` (a key of SHIPPED) as Snakemake reads it, not validated."""
    from overparam.config import read_config

    return read_config(*(ROOT / p for p in SHIPPED[name]))


def validated(*paths: str) -> dict:
    """The config files ``paths`` (relative to the checkout, each an overlay of the ones
    before) as the workflow's planning reads them: merged, validated, each schema's defaults
    filled in (what ``Experiment.specs`` gets, a section of it)."""
    from overparam.config import read_config, validate

    return validate(read_config(*(ROOT / p for p in paths)), BASE_SCHEMA)


def with_defaults(name: str, section: dict) -> dict:
    """The config section ``section`` of experiment ``name`` (a hand-made one, not validated)
    with its schema's defaults filled in, in place, as ``config.validate`` fills them."""
    from overparam.config import _fill_defaults, load_schema

    schema = load_schema(BASE_SCHEMA, [name])
    _fill_defaults(section, schema["properties"][name], schema)
    return section


def snakemake(workdir, *args, check=True, timeout=900, configfile=TEST_CONFIG, repo=ROOT):
    """Run the workflow of checkout ``repo`` (subprocess) in ``workdir`` with the tiny test
    config."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(Path(repo) / "Snakefile"),
        "-d",
        str(workdir),
        "--configfile",
        str(configfile),
        "--cores",
        "2",
        *args,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({out.returncode}):\n"
            f"{out.stdout[-4000:]}\n{out.stderr[-6000:]}"
        )
    return out


def job_counts(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a (dry) run into {rule: count}."""
    counts, on = {}, False
    for line in output.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            on = True
            continue
        if on and len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
        elif on and counts and not line.strip():
            break
    return counts


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory):
    """One full `snakemake figures/all` on the .test config, shared by the e2e tests."""
    wd = tmp_path_factory.mktemp("pipeline")
    snakemake(wd, "figures/all")
    return wd
