from overparam.experiments import RunContext, get


def run_jobs(name: str, cfg) -> dict:
    """{spec id: run table} of experiment ``name``'s specs (bundled or not: a bundle's table is
    its parts') under config section ``cfg``, run in this process on the CPU with one thread
    (the tiny configs of the experiments' tests)."""
    exp = get(name)
    ctx = RunContext(device="cpu", threads=1, log=lambda msg: None)
    return {job_id: exp.run(job, ctx) for job_id, job in exp.parts(cfg).items()}


def check_claims(exp, metrics, cfg, resamples: int = 100):
    """Experiment ``exp``'s claims on a (synthetic) metrics table, as a claims frame indexed by
    claim id (test scale, a fixed bootstrap)."""
    from overparam.claims import claims_frame
    from overparam.experiments import CheckContext

    ctx = CheckContext(scale="test", figure="f.png", resamples=resamples)
    return claims_frame(exp.check(metrics, cfg, ctx)).set_index("claim")


def holds_by_id(frame) -> dict:
    """{claim id within its experiment: holds} of a claims frame from ``check_claims``."""
    return {c.split(".", 1)[1]: bool(h) for c, h in frame["holds"].items()}
