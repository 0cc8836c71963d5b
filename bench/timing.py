"""The benchmark's one measuring loop, shared by every in-process measurement (inprocess, gatewayscript,
invoke, hotpath): fixed-count ``perf_counter`` loops, every contender once per round in an order that rotates
from round to round, one sample per round and contender as wall time and as this thread's CPU time.

Ratios and differences are taken per round and then their median, so that load which slows one round slows
both sides of what is compared.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds per operation, one sample per round, as wall time (``perf_counter``) and as this thread's
    CPU time (``thread_time``, which other programs taking the CPU do not inflate); rounds are paired
    across contenders by index."""

    samples: tuple[float, ...]
    cpu_samples: tuple[float, ...]

    @property
    def seconds(self) -> float:
        return statistics.median(self.samples)

    @property
    def per_second(self) -> float:
        return 1.0 / self.seconds

    @property
    def microseconds(self) -> float:
        return self.seconds * 1e6

    @property
    def cpu_microseconds(self) -> float:
        return statistics.median(self.cpu_samples) * 1e6

    def speed_ratio(self, other: Timing) -> float:
        """How many times faster this is than ``other`` in wall time: the median of the per-round ratios."""
        return statistics.median(a / b for a, b in zip(other.samples, self.samples, strict=True))

    def cpu_speed_ratio(self, other: Timing) -> float:
        """The same in CPU time."""
        return statistics.median(a / b for a, b in zip(other.cpu_samples, self.cpu_samples, strict=True))

    def added_microseconds(self, other: Timing) -> float:
        """How much longer this takes than ``other`` per operation in wall time: the median of the per-round
        differences, in microseconds."""
        return statistics.median(a - b for a, b in zip(self.samples, other.samples, strict=True)) * 1e6

    def added_cpu_microseconds(self, other: Timing) -> float:
        """The same in CPU time."""
        return statistics.median(a - b for a, b in zip(self.cpu_samples, other.cpu_samples, strict=True)) * 1e6


def per_call(operation: Callable[[], object], count: int) -> tuple[float, float]:
    """Wall and CPU seconds per call of ``operation`` over ``count`` calls."""
    start, start_cpu = time.perf_counter(), time.thread_time()
    for _ in range(count):
        operation()
    return (time.perf_counter() - start) / count, (time.thread_time() - start_cpu) / count


def interleaved(operations: Mapping[str, Callable[[], object]], count: int, rounds: int) -> dict[str, Timing]:
    """Seconds per call of each operation, per round, after one warm-up loop each (caches, lazy imports).
    Every round runs every contender, in an order that rotates from round to round (with two, they
    alternate), so that drift and neighbours hit all of them alike."""
    for operation in operations.values():
        per_call(operation, count)
    names = list(operations)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            seconds, cpu_seconds = per_call(operations[name], count)
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
    return {name: Timing(tuple(wall[name]), tuple(cpu[name])) for name in names}


@dataclass(frozen=True)
class AddedCost:
    """What one contender adds to a baseline per operation, in microseconds: the medians of both, and the
    median of the per-round differences as wall time and as this thread's CPU time, against a target."""

    baseline_us: float
    measured_us: float
    added_us: float
    added_cpu_us: float
    target_us: float

    @classmethod
    def between(cls, *, baseline: Timing, measured: Timing, target_us: float) -> AddedCost:
        """The cost ``measured`` adds to ``baseline``, rounds paired by index (as ``interleaved`` returns them)."""
        return cls(
            baseline_us=baseline.microseconds,
            measured_us=measured.microseconds,
            added_us=measured.added_microseconds(baseline),
            added_cpu_us=measured.added_cpu_microseconds(baseline),
            target_us=target_us,
        )

    def verdict(self, microseconds: float) -> str:
        return "PASS" if microseconds <= self.target_us else "ABOVE"

    def report(self, *, heading: str, baseline: str, measured: str, unit: str, added: str) -> list[str]:
        """The printed report: ``heading``, the two medians labelled ``baseline`` and ``measured`` (per
        ``unit``, e.g. "call"), then the added cost as ``added`` (its wall and CPU figures) with the verdict."""
        width = max(len(baseline), len(measured))
        target = f"target <= {self.target_us:.0f} µs"
        return [
            f"\n{heading}",
            f"  {baseline.ljust(width)} {self.baseline_us:9.1f} µs/{unit}",
            f"  {measured.ljust(width)} {self.measured_us:9.1f} µs/{unit}",
            *(
                f"  {added}, {label} {value:7.1f} µs  {target}  {self.verdict(value)}"
                for label, value in (("wall", self.added_us), ("CPU ", self.added_cpu_us))
            ),
        ]
