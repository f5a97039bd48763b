"""Which library modules a job runs, read from the source (overparam.codehash)."""

import ast

from overparam import codehash

from .conftest import ROOT

SCRIPTS = ROOT / "workflow" / "scripts"


def mods(script, exp=None):
    return {m.removeprefix("overparam.") for m in codehash.job_modules(str(SCRIPTS / script), exp)}


def test_a_job_runs_its_experiments_step_and_what_that_imports():
    trains = mods("run.py", "optimization_ease")
    assert {"train", "models", "steps", "experiments.optimization_ease.run"} <= trains
    assert "experiments.optimization_ease.figure" not in trains
    # a closed-form experiment runs none of the trainer's code
    solves = mods("run.py", "benign_overfitting")
    assert "train" not in solves and "experiments.benign_overfitting.run" in solves
    check = mods("check.py", "lottery_ticket")
    assert "experiments.lottery_ticket.claims" in check
    assert (
        not {"experiments.lottery_ticket.run", "experiments.lottery_ticket.figure", "train"} & check
    )
    figure = mods("figure.py", "random_labels")
    assert {"experiments.random_labels.figure", "plots"} <= figure
    assert "experiments.random_labels.run" not in figure
    # the jobs of no experiment: the script's own imports
    assert "report" in mods("claims.py") and "report" not in mods("manifest.py")
    assert all(
        h and len(h) == 12
        for h in codehash.job_modules(str(SCRIPTS / "run.py"), "flat_minima").values()
    )


def test_imports_in_type_checking_blocks_do_not_run():
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import train\nfrom . import tables\n"
    )
    assert codehash._imports([tree], "overparam.steps") == {"overparam", "overparam.tables"}


def test_a_helper_called_by_an_entry_function_counts():
    tree = ast.parse("def entry():\n    return helper()\n\ndef helper():\n    from .train import x\n\n"
                     "def other():\n    from . import report\n")  # fmt: skip
    found = codehash._imports(codehash._functions(tree, ["entry"]), "overparam.steps")
    assert found == {"overparam.train"}


def test_relative_imports_resolve_to_modules():
    node = ast.parse("from ..claims import Claim").body[0]
    assert codehash._resolve(node, "overparam.experiments.base") == ["overparam.claims"]
    node = ast.parse("from .. import CheckContext, get").body[0]
    assert codehash._resolve(node, "overparam.experiments.toy.claims") == ["overparam.experiments"]
    node = ast.parse("from . import claims").body[0]
    assert codehash._resolve(node, "overparam.experiments.lazy_training") == [
        "overparam.experiments.lazy_training", "overparam.experiments.lazy_training.claims"]  # fmt: skip
    assert "overparam.experiments.lazy_training.claims" in codehash.all_modules()
