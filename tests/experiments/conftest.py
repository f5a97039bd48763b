"""Every claims check that an experiment's tests run also checks its bootstrap batches: each
``CheckContext.estimates`` call with a batch first compares, on every distinct draw of the
bootstrap it is about to make, the batch's values with the per-draw value function's
(``overparam.batching.batch_mismatches``), so the existing claims tests' tables (those where
every claim holds and those where each fails) all test that the batches change nothing."""

import pytest

from overparam.batching import batch_mismatches
from overparam.experiments import base

BATCHES_SEEN: list[tuple[str, int | None]] = []  # (the value function, mismatches / None)


@pytest.fixture(autouse=True)
def batches_match_their_value_functions(monkeypatch):
    plain = base.CheckContext.estimates

    def estimates(self, values, runs, unit="seed", batch=None):
        if batch is not None and runs[unit].nunique() > 1 and self.resamples > 0:
            bad = batch_mismatches(
                values, batch, runs, unit=unit, resamples=self.resamples, seed=self.bootstrap_seed
            )
            BATCHES_SEEN.append((getattr(values, "__qualname__", str(values)), bad and len(bad)))
            assert not bad, f"the batch disagrees with {values} on (draw, key, values): {bad[:5]}"
        return plain(self, values, runs, unit, batch)

    monkeypatch.setattr(base.CheckContext, "estimates", estimates)
