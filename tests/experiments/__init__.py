from overparam.experiments import RunContext, get


def run_jobs(name: str, cfg) -> dict:
    """{job id: run table} of experiment ``name``'s jobs under config section ``cfg``, run in
    this process on the CPU with one thread (the tiny configs of the experiments' tests)."""
    exp = get(name)
    ctx = RunContext(device="cpu", threads=1, log=lambda msg: None)
    return {job_id: exp.run(job, ctx) for job_id, job in exp.jobs(cfg).items()}
