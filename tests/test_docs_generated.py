"""The README's generated claims blocks (docs/make_claims_docs.py) are what the committed
evidence gives, so no verdict in the README is typed by hand or stale."""

import importlib.util

import pandas as pd
import pytest

from .conftest import ROOT

spec = importlib.util.spec_from_file_location("mcd", ROOT / "docs" / "make_claims_docs.py")
mcd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mcd)


def test_generated_pages_are_regenerated_from_the_committed_evidence():
    pages = mcd.generated_pages(mcd.load_quick(), mcd.PAPER.read_text())
    assert mcd.README in pages
    for page, text in pages.items():
        assert page.read_text() == text, f"{page} is stale: run python docs/make_claims_docs.py"


def test_an_unknown_block_is_an_error():
    with pytest.raises(SystemExit, match="unknown generated block 'nope'"):
        mcd.replace_blocks("<!-- begin generated: nope -->\n<!-- end generated: nope -->", {})
    text = "a\n<!-- begin generated: x (y) -->\nold\n<!-- end generated: x -->\nb"
    assert mcd.replace_blocks(text, {"x": "new"}) == text.replace("old", "new")


def test_paper_verdicts_are_read_from_both_page_formats():
    old = (
        "| claim | value | interval | verdict | published | quick scale |\n|---|---|\n"
        "| `a.x` | 1 | [1, 1] | holds (confident) |  | 1: holds |\n"
        "| `a.y` | 2 | [1, 3] | DOES NOT HOLD |  | 1: holds |\n"
    )
    new = (
        "| claim | tier | value | interval | verdict | published | quick scale |\n|---|\n"
        "| `b.z` | sanity | 1 | [1, 1] | holds (not confident: no interval) | p | q |\n"
    )
    df = mcd.paper_verdicts(old + "\n" + new)
    assert df["claim"].tolist() == ["a.x", "a.y", "b.z"]
    assert df["holds"].tolist() == [True, False, True]
    assert df["confident"].tolist() == [True, False, False]
    assert df["tier"].isna().tolist() == [True, True, False] and df["tier"].iloc[2] == "sanity"


def test_tiers_come_from_the_same_claim_or_the_same_claim_of_another_network():
    quick = pd.DataFrame({
        "claim": ["l.mlp_rewind0.stop", "l.mlp_rewind100.stop", "b.fam.slope"],
        "tier": ["replication", "extension", "replication"],
    })  # fmt: skip
    paper = pd.DataFrame({
        "claim": ["l.lenet_rewind0.stop", "l.lenet_rewind100.stop", "b.fam.slope", "c.new"],
        "tier": [None, None, None, None],
    })  # fmt: skip
    got = mcd.with_tiers(paper, quick)["tier"].tolist()
    assert got == ["replication", "extension", "replication", "?"]


def test_tallies_say_when_a_sanity_check_fails():
    rows = pd.DataFrame({
        "claim": ["e.a", "e.b", "e.c"], "tier": ["sanity", "sanity", "replication"],
        "holds": [True, False, True], "confident": [True, False, False],
    })  # fmt: skip
    block = mcd.tallies_block(rows, rows)
    assert "| **1 of 2 fail** |" in block and "1 of 1 hold (0 confidently)" in block
