"""Named ranges of world seeds: which worlds build models, which tune them, the demo's and the benchmark's.

Learned models are judged only on worlds that no model building touched, so the ranges are disjoint and
fixed. The photographic appearance family (:mod:`selfsup_perception.sim.photos`) is held out: only
:data:`BENCHMARK` worlds use it. The legacy evaluation worlds :data:`LEGACY_EVALUATION` (seeds 1000 and
1001, inside the training range) stay reportable for comparisons with older results.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SeedRange:
    """The seeds ``start`` .. ``stop - 1`` (like :class:`range`), named for messages and reports."""

    name: str
    start: int
    stop: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.stop:
            raise ValueError(f'{self.name}: seed range must satisfy 0 <= start < stop, got {self.start}..{self.stop}')

    def __contains__(self, seed: object) -> bool:
        """Whether ``seed`` (an int, not a bool) is one of this range's seeds."""
        return isinstance(seed, int) and not isinstance(seed, bool) and self.start <= seed < self.stop

    def __len__(self) -> int:
        return self.stop - self.start

    def first(self, count: int) -> list[int]:
        """The first ``count`` seeds of the range (ValueError naming ``count`` if it does not have that many)."""
        if not 0 <= count <= len(self):
            raise ValueError(f'count: the {self.name} range has {len(self)} seeds, asked for {count}')
        return list(range(self.start, self.start + count))

    def require(self, seed: int) -> int:
        """Return ``seed`` if it belongs to this range, else raise a ValueError naming it and the range."""
        if seed not in self:
            raise ValueError(f'seed: {seed!r} is not a {self.name} seed ({self.start}..{self.stop - 1})')
        return seed


#: Worlds the models are built (trained) on.
TRAINING = SeedRange('training', 0, 10_000)
#: Worlds for tuning and validation during model building.
TUNING = SeedRange('tuning', 20_000, 21_000)
#: Worlds the demo runs in.
DEMO = SeedRange('demo', 30_000, 31_000)
#: The unseen-world benchmark: never used to build or tune anything; the only worlds with photographs.
BENCHMARK = SeedRange('benchmark', 100_000, 101_000)
RANGES = (TRAINING, TUNING, DEMO, BENCHMARK)
#: How many benchmark worlds a benchmark uses unless told otherwise (the first ones of the range).
DEFAULT_BENCHMARK_WORLDS = 20
#: The evaluation worlds of earlier results (inside the training range), still reportable.
LEGACY_EVALUATION = (1000, 1001)


def range_of(seed: int) -> SeedRange | None:
    """The named range ``seed`` belongs to, or None."""
    return next((seeds for seeds in RANGES if seed in seeds), None)
