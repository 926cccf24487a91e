"""The named seed ranges: disjoint, listed from their start, membership checked with clear errors."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfsup_perception.sim.seeds import (
    BENCHMARK,
    DEFAULT_BENCHMARK_WORLDS,
    DEMO,
    LEGACY_EVALUATION,
    RANGES,
    TRAINING,
    TUNING,
    SeedRange,
    range_of,
)


def test_ranges_are_the_decided_ones() -> None:
    assert (TRAINING.start, TRAINING.stop - 1) == (0, 9_999)
    assert (TUNING.start, TUNING.stop - 1) == (20_000, 20_999)
    assert (DEMO.start, DEMO.stop - 1) == (30_000, 30_999)
    assert (BENCHMARK.start, BENCHMARK.stop - 1) == (100_000, 100_999)
    assert DEFAULT_BENCHMARK_WORLDS == 20
    assert all(seed in TRAINING for seed in LEGACY_EVALUATION)


def test_ranges_are_disjoint() -> None:
    for a, b in itertools.combinations(RANGES, 2):
        assert not set(range(a.start, a.stop)) & set(range(b.start, b.stop)), (a.name, b.name)
    assert len({seeds.name for seeds in RANGES}) == len(RANGES)


@given(st.integers(min_value=0, max_value=200_000))
def test_every_seed_belongs_to_at_most_one_range(seed: int) -> None:
    owners = [seeds for seeds in RANGES if seed in seeds]
    assert len(owners) <= 1
    assert range_of(seed) == (owners[0] if owners else None)


def test_first_seeds_of_a_range() -> None:
    assert BENCHMARK.first(DEFAULT_BENCHMARK_WORLDS) == list(range(100_000, 100_020))
    assert TUNING.first(0) == []
    assert DEMO.first(len(DEMO))[-1] == 30_999
    with pytest.raises(ValueError, match=r'^count: the benchmark range has 1000 seeds, asked for 1001'):
        BENCHMARK.first(1001)
    with pytest.raises(ValueError, match=r'^count: '):
        TRAINING.first(-1)


def test_membership_and_require() -> None:
    assert 100_000 in BENCHMARK
    assert 100_999 in BENCHMARK
    assert 101_000 not in BENCHMARK
    assert 99_999 not in BENCHMARK
    assert True not in TRAINING
    assert 1.0 not in TRAINING
    assert BENCHMARK.require(100_007) == 100_007
    with pytest.raises(ValueError, match=r'^seed: 5 is not a benchmark seed \(100000\.\.100999\)'):
        BENCHMARK.require(5)


def test_a_bad_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r'^odd: seed range must satisfy'):
        SeedRange('odd', 10, 10)
