"""Pages and captions of the HTML report (``snakemake figures/all --report report.html``).

The claims step writes, next to the claims table, what ``--report`` shows: a page per
experiment with its claims, one page with every claim, the configuration as YAML, and the
figures' captions. Snakemake reads a caption from one file fixed when the workflow is parsed
and renders it as a Jinja template per figure, so :func:`captions_template` writes every
experiment's caption into one template that picks the figure's own by its ``exp`` wildcard.
Everything here is a function of the claims table, the experiments' ``caption.rst`` and the
config: building the report reads files the pipeline already wrote and runs no job.
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import yaml

from .claims import interval, tally, verdict

# verdict -> inline style of its cell (the report's own stylesheet does not know our classes)
_VERDICT_STYLE = {
    "holds (confident)": "background:#d9f2d9",
    "DOES NOT HOLD": "background:#f8d0d0;font-weight:bold",
}
_NOT_CONFIDENT_STYLE = "background:#fcefc7"
_CELL = "border:1px solid #bbb;padding:3px 6px;vertical-align:top;text-align:left"

# the columns of a claims table in the report: (header, function of a claims row)
_COLUMNS: list[tuple[str, Any]] = [
    ("claim", lambda r: r.claim),
    ("tier", lambda r: r.tier),
    ("statement", lambda r: r.statement),
    ("value", lambda r: f"{r.metric} = {_num(r.value)}"),
    ("95% interval", interval),
    ("needs", lambda r: f"{r.comparison} {r.threshold:.4g}"),
    ("verdict", verdict),
    ("source", lambda r: r.source),
    ("published", lambda r: r.published),
    ("deviations", lambda r: r.deviations),
    ("note", lambda r: r.note),
]

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;font-size:14px;margin:1em}}
table{{border-collapse:collapse}} pre{{background:#f4f4f4;padding:1em}}</style>
</head><body>
<h1>{title}</h1>
{body}
</body></html>
"""


def _num(v: float) -> str:
    return "NaN" if v is None or math.isnan(v) else f"{v:.4g}"


def title(experiment: str) -> str:
    """An experiment's name as a heading: 'benign_overfitting' -> 'Benign overfitting'."""
    return experiment.replace("_", " ").capitalize()


def _verdict_style(r) -> str:
    v = verdict(r)
    return _VERDICT_STYLE.get(v, _NOT_CONFIDENT_STYLE)


def claims_table(df: pd.DataFrame, columns: Iterable[str] | None = None) -> str:
    """The claims rows as an HTML table (every cell escaped), the verdict cell coloured:
    green holds confidently, yellow holds without confidence, red does not hold."""
    cols = [(h, f) for h, f in _COLUMNS if columns is None or h in set(columns)]
    head = "".join(f'<th style="{_CELL}">{h}</th>' for h, _ in cols)
    rows = []
    for r in df.itertuples(index=False):
        cells = []
        for h, f in cols:
            style = f"{_CELL};{_verdict_style(r)}" if h == "verdict" else _CELL
            cells.append(f'<td style="{style}">{html.escape(str(f(r)))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<table class="claims" style="border-collapse:collapse;font-size:90%">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
    )


def page(heading: str, body: str) -> str:
    """A standalone HTML page (the report shows HTML items in a frame)."""
    return _PAGE.format(title=html.escape(heading), body=body)


def experiment_page(experiment: str, df: pd.DataFrame, description: str = "") -> str:
    """The claims of one experiment, with its scale and tally, as an HTML page."""
    scale = _scale(df)
    intro = f"<p>Scale <code>{html.escape(scale)}</code>: {html.escape(tally(df))}.</p>\n"
    if description:
        intro += f"<p>{html.escape(' '.join(description.split()))}</p>\n"
    return page(f"{title(experiment)}: claims", intro + claims_table(df))


def all_claims_page(df: pd.DataFrame) -> str:
    """Every claim, one section per experiment (in the table's order), with the tallies."""
    scale = _scale(df)
    parts = [f"<p>Scale <code>{html.escape(scale)}</code>: {html.escape(tally(df))}.</p>"]
    parts.append("<ul>")
    for exp, d in df.groupby("experiment", sort=False):
        parts.append(f"<li>{html.escape(title(str(exp)))}: {html.escape(tally(d))}</li>")
    parts.append("</ul>")
    for exp, d in df.groupby("experiment", sort=False):
        parts.append(f"<h2>{html.escape(title(str(exp)))}</h2>")
        parts.append(claims_table(d))
    return page("All claims", "\n".join(parts))


def config_page(config: Mapping[str, Any]) -> str:
    """The configuration the results were computed with, as YAML: the global settings first,
    then the sections (the experiments), each in the given order."""
    ordered = sorted(config.items(), key=lambda kv: isinstance(kv[1], Mapping))
    text = yaml.safe_dump(dict(ordered), sort_keys=False, default_flow_style=None, width=100)
    body = (
        "<p>The configuration the results were computed with: the config file(s) merged "
        "with any <code>--config</code> overrides. The claims (threshold, tier, source, "
        "protocol) are defined in each experiment's <code>claims.yaml</code>; a threshold "
        "that differs by scale is in its section's <code>claim_thresholds</code>.</p>\n"
        f"<pre>{html.escape(text)}</pre>"
    )
    return page("Configuration", body)


def caption(description: str, df: pd.DataFrame, seeds: str, scale: str) -> str:
    """A figure's caption (reStructuredText): the experiment's description, how many seeds,
    and every claim the figure supports with its value, interval and verdict (a raw HTML
    table: statements contain characters reStructuredText would read as markup)."""
    table = claims_table(
        df, columns=("claim", "statement", "value", "95% interval", "needs", "verdict")
    )
    return (
        f"{description.strip()}\n\n"
        f"Scale ``{scale}``, from {seeds}: points and bands show the spread over seeds, and "
        "each claim's 95% interval comes from resampling those seeds (a percentile "
        "bootstrap).\n\n"
        f"**Claims this figure supports: {tally(df)}.**\n\n"
        ".. raw:: html\n\n" + textwrap.indent(table, "   ") + "\n"
    )


def verdicts_rst(df: pd.DataFrame) -> str:
    """The report's opening section (reStructuredText): the tally per tier, then every sanity
    check that fails (a bug), every replication and every extension that does not hold, with
    value and test (raw HTML: claim ids and comparisons hold characters reStructuredText
    reads as markup). Each claim's statement is on the claims pages."""
    from .claims import TIER_PLURALS

    out = ["Verdicts", "--------", "", f"Scale ``{_scale(df)}``: **{tally(df)}**.", ""]
    items = []
    for tier in ("sanity", "replication", "extension"):
        failed = df[(df["tier"] == tier) & ~df["holds"]]
        if not len(failed):
            continue
        head = (
            "Sanity checks that FAIL (bugs of the pipeline)"
            if tier == "sanity"
            else (f"{TIER_PLURALS[tier].capitalize()} that do not hold")
        )
        # compact, one line per tier: the claims page has every statement and metric
        rows = "; ".join(
            f"<code>{html.escape(r.claim)}</code> ({_num(r.value)}, needs "
            f"{html.escape(r.comparison)} {r.threshold:.4g})"
            for r in failed.itertuples(index=False)
        )
        items.append(f"<p><b>{head} ({len(failed)}):</b> {rows}.</p>")
    if not items:
        items.append("<p>Every claim holds.</p>")
    out += [".. raw:: html", "", *(f"   {i}" for i in items), ""]
    return "\n".join(out)


def _scale(df: pd.DataFrame) -> str:
    return ", ".join(sorted(set(df["scale"]))) or "?"


def landing_page(df: pd.DataFrame, template: str) -> str:
    """The report's workflow description (the Jinja/reStructuredText ``template``) with the
    verdicts inserted right after its title, before the pipeline's description."""
    lines = template.splitlines()
    # the title: its text line and the underline of '=' below it
    at = next(i + 2 for i in range(len(lines) - 1) if set(lines[i + 1]) == {"="})
    body = ["", _literal(verdicts_rst(df)), ""]
    return "\n".join(lines[:at] + body + lines[at:]) + "\n"


def _literal(text: str) -> str:
    """``text`` as Jinja template text that renders to itself (only '{' opens a tag)."""
    return text.replace("{", "{{ '{' }}")


def captions_template(captions: Mapping[str, str]) -> str:
    """One Jinja template holding every experiment's caption: rendered for the figure of
    experiment ``e`` (wildcard ``exp``), it gives ``captions[e]``."""
    lines = []
    for i, (exp, text) in enumerate(captions.items()):
        lines.append(f"{{% {'if' if i == 0 else 'elif'} snakemake.wildcards.exp == {exp!r} %}}")
        lines.append(_literal(text))
    if lines:
        lines.append("{% else %}")
    lines.append("No caption: this experiment was not part of the build that wrote this file.")
    if captions:
        lines.append("{% endif %}")
    return "\n".join(lines) + "\n"
