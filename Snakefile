# overparam: `snakemake figures/all` builds every figure, table and claim.
# This file includes the rules of workflow/rules/ and names the default target (here, not
# in an included file: Snakemake ignores default_target there, snakemake/snakemake#2773).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/experiments.smk"
include: "workflow/rules/claims.smk"


# the HTML report's opening page (`snakemake figures/all --report report.html`): the verdicts
# per tier and the failing claims, then the workflow's description (workflow/rules/common.smk)
report: landing_page()


rule all:
    default_target: True
    input:
        "figures/all",
        # strict: true in the config makes a run fail when a claim does not hold
        branch(config["strict"], then="results/claims.verified"),
