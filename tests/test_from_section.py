"""``experiments.sections.from_section`` (``JobSpec.from_section``) and ``train.train_config``:
a spec or a TrainConfig from a config section, each value converted to its field's type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from overparam.data import MNIST1D
from overparam.experiments.base import JobSpec
from overparam.experiments.sections import MissingKey, from_section


@dataclass(frozen=True)
class Inner:
    a: int
    b: float = 0.5


@dataclass(frozen=True)
class Spec(JobSpec):
    n: int
    x: float
    name: str
    flag: bool
    sizes: tuple[int, ...]
    rates: tuple[float, ...]
    pair: tuple[int, float]
    grid: tuple[tuple[int, ...], ...]
    limit: int | None
    bandwidth: float | str
    lr: float | tuple[float, ...]
    data: MNIST1D
    inner: Inner | None
    extra: dict[str, Any]
    note: str = "default"

    @property
    def id(self) -> str:
        return self.name


SECTION = {
    "n": 3,
    "x": 2,
    "name": "s",
    "flag": True,
    "sizes": [1, 2],
    "rates": [1, 0.5],
    "pair": [4, 5],
    "grid": [[1, 2], [3]],
    "limit": None,
    "bandwidth": "median",
    "lr": 1,
    "data": {"num_samples": 100, "train_split": 1, "seed": 7},
    "inner": {"a": 2},
    "extra": {"k": [1]},
    "claims_setup": {"ignored": 1},  # not a field: ignored
}


def build(**changes):
    return Spec.from_section({**SECTION, **changes})


def test_each_value_has_its_fields_type():
    s = build()
    assert (s.n, s.x, s.name, s.flag) == (3, 2.0, "s", True)
    assert type(s.x) is float and type(s.n) is int
    assert s.sizes == (1, 2) and s.rates == (1.0, 0.5) and type(s.rates[0]) is float
    assert s.pair == (4, 5.0) and type(s.pair[1]) is float
    assert s.grid == ((1, 2), (3,))
    assert s.limit is None and s.bandwidth == "median" and s.note == "default"
    assert s.lr == 1.0 and type(s.lr) is float
    assert s.extra == {"k": [1]}


@dataclass(frozen=True)
class Either:
    v: int | float


def test_unions_take_the_member_the_value_is_or_converts_to():
    assert build(bandwidth=2).bandwidth == 2.0 and type(build(bandwidth=2).bandwidth) is float
    assert type(from_section(Either, {"v": 2.0}).v) is float  # a float stays one
    assert type(from_section(Either, {"v": 2}).v) is int
    assert build(lr=[1, 2]).lr == (1.0, 2.0)
    assert build(limit=4).limit == 4
    with pytest.raises(ValueError, match="'bandwidth'"):
        build(bandwidth=[1])


def test_nested_dataclasses_from_mappings():
    s = build()
    assert s.data == MNIST1D(num_samples=100, train_split=1.0, seed=7)
    assert type(s.data.train_split) is float
    assert s.inner == Inner(a=2, b=0.5)
    assert build(inner=None).inner is None
    given = MNIST1D(10, 0.5, 1)
    assert build(data=given).data is given  # an instance is kept as it is


def test_overrides_win_over_the_section_and_are_converted():
    s = Spec.from_section(SECTION, n=9, sizes=[5], name="t")
    assert (s.n, s.sizes, s.name) == (9, (5,), "t")
    without = {k: v for k, v in SECTION.items() if k != "flag"}
    assert Spec.from_section(without, flag=False).flag is False
    with pytest.raises(TypeError, match="no field"):
        Spec.from_section(SECTION, nn=1)


def test_a_missing_key_is_named():
    without = {k: v for k, v in SECTION.items() if k != "rates"}
    with pytest.raises(MissingKey, match="config key 'rates' is missing") as e:
        Spec.from_section(without)
    assert isinstance(e.value, KeyError)
    data = {k: v for k, v in SECTION["data"].items() if k != "seed"}
    with pytest.raises(KeyError, match="config key 'data.seed' is missing"):
        build(data=data)


def test_bools_and_numbers_do_not_pass_for_each_other():
    with pytest.raises(ValueError, match="'flag'"):
        build(flag=1)
    with pytest.raises(ValueError, match="'flag'"):
        build(flag="yes")
    with pytest.raises(ValueError, match="'n'"):
        build(n=True)
    with pytest.raises(ValueError, match="'x'"):
        build(x=False)
    with pytest.raises(ValueError, match=r"'sizes\[1\]'"):
        build(sizes=[1, True])
    with pytest.raises(ValueError, match="'limit'"):
        build(limit=True)


def test_values_that_do_not_convert_are_named():
    assert build(n=4.0).n == 4 and type(build(n=4.0).n) is int  # integral: an int
    with pytest.raises(ValueError, match="'n'"):
        build(n=2.5)
    with pytest.raises(ValueError, match="'name'"):
        build(name=3)
    with pytest.raises(ValueError, match="'sizes'"):
        build(sizes=3)
    with pytest.raises(ValueError, match="'pair'"):
        build(pair=[1, 2, 3])
    with pytest.raises(ValueError, match="'data'"):
        build(data=5)


def test_train_config_from_a_spec_and_overrides():
    from overparam.train import TrainConfig, train_config

    @dataclass(frozen=True)
    class Job(JobSpec):
        epochs: int
        batch_size: int
        lr: float
        momentum: float
        width: int  # not a TrainConfig field: ignored

    job = Job(epochs=3, batch_size=16, lr=0.1, momentum=0.9, width=8)
    want = TrainConfig(epochs=3, batch_size=16, lr=0.1, momentum=0.9, loss="mse", threads=2)
    assert train_config(job, loss="mse", threads=2) == want
    assert train_config({"epochs": 3, "batch_size": 16, "lr": 1}, lr=(1, 2)).lr == (1.0, 2.0)
    with pytest.raises(KeyError, match="'batch_size'"):
        train_config({"epochs": 3, "lr": 0.1})
