"""False-alarm and detection rates of the baseline verdict rule on this machine.

Real timing noise, not simulated: every "epoch" is a fixed amount of NumPy
matrix work (it uses the BLAS threads the way a CPU training step does), timed
with ``time.perf_counter``. Each trial times a baseline set and a current set
of ``--epochs`` epochs each (the size a suite measures), one after the other,
as a suite run after its baseline would. A slowdown is injected by really
doing proportionally more work in the current epochs (1.25 times the matrix
products for a 25% slowdown), never by multiplying the measured numbers.
Trials of the different slowdowns are interleaved so that a busy spell on the
machine hits every row alike.

Each pair of sets goes through ``pytest_cnnperf.baselines.compare`` at the
default tolerances (or ``--tolerance``). For contrast, the table also shows
how often a naive rule flags the pair: the ratio of the two means above the
same bound (one number against one number).

Usage: python benchmarks/verdict_rates.py [--trials 80] [--epochs 3]
           [--epoch-ms 40] [--tolerance 25%] [--threads 1] [--neighbour]

``--neighbour`` runs a busy-looping process on one core for the duration,
as a parallel test worker or another job on a shared machine would.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable

from pytest_cnnperf.baselines import (
    BaselineEntry,
    Figures,
    Provenance,
    ToleranceOverrides,
    Verdict,
    compare,
    resolve_tolerances,
)
from pytest_cnnperf.baselines.stats import relative_mad
from pytest_cnnperf.metrics import MetricRegistry, parse_relative

REGISTRY = MetricRegistry()

SLOWDOWNS = (0.0, 0.10, 0.25, 0.35, 0.50)


def make_workload(size: int = 192) -> Callable[[int], None]:
    """``work(units)`` does ``units`` chained float32 matrix products."""
    # Imported here, after main() has set the BLAS thread count, which the
    # BLAS library reads once when NumPy loads it.
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32) / np.float32(size)

    def work(units: int) -> None:
        x = a
        for _ in range(units):
            x = np.tanh(x @ b)

    return work


def calibrate(work: Callable[[int], None], epoch_ms: float) -> int:
    """Units of work that take about ``epoch_ms`` milliseconds."""
    work(20)  # warm caches and BLAS threads
    units = 20
    while True:
        started = time.perf_counter()
        work(units)
        elapsed = time.perf_counter() - started
        if elapsed > epoch_ms / 1000 / 4 or units > 1_000_000:
            return max(1, round(units * epoch_ms / 1000 / elapsed))
        units *= 2


def time_epochs(work: Callable[[int], None], units: int, count: int) -> tuple[float, ...]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        work(units)
        times.append(time.perf_counter() - started)
    return tuple(times)


def figures(epochs: tuple[float, ...]) -> Figures:
    return Figures(
        node_id="bench::epoch",
        model="matmul",
        dataset="none",
        batch_size=1,
        data_source="synthetic",
        samples={"epoch_seconds": epochs},
    )


def entry(epochs: tuple[float, ...]) -> BaselineEntry:
    return BaselineEntry(figures=figures(epochs), software={}, provenance=Provenance("", "", None))


def _spin() -> None:
    while True:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=80, help="trials per slowdown (80)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per sample set (3)")
    parser.add_argument("--epoch-ms", type=float, default=40.0, help="epoch length in ms (40)")
    parser.add_argument(
        "--tolerance", type=parse_relative, default=None, help="timing tolerance (25%%)"
    )
    parser.add_argument("--neighbour", action="store_true", help="busy-loop on one core")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS threads (1: a spinning BLAS thread pool on a shared 2-core machine "
        "measures the scheduler, not the work)",
    )
    args = parser.parse_args()
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    override = (
        None if args.tolerance is None else ToleranceOverrides({"epoch_seconds": args.tolerance})
    )
    tolerances = resolve_tolerances(REGISTRY, override)
    bound = 1 + tolerances.limits["epoch_seconds"]

    neighbour = None
    if args.neighbour:
        neighbour = multiprocessing.Process(target=_spin, daemon=True)
        neighbour.start()
    try:
        work = make_workload()
        units = calibrate(work, args.epoch_ms)
        verdicts: dict[float, Counter[Verdict]] = {s: Counter() for s in SLOWDOWNS}
        naive: Counter[float] = Counter()
        spreads: list[float] = []
        epoch_times: list[float] = []
        ratios_at_zero: list[float] = []
        started = time.perf_counter()
        for _ in range(args.trials):
            for slowdown in SLOWDOWNS:
                base = time_epochs(work, units, args.epochs)
                current = time_epochs(work, round(units * (1 + slowdown)), args.epochs)
                result = compare(
                    figures(current), entry(base), tolerances, REGISTRY, software_now={}
                )
                verdicts[slowdown][result.verdict] += 1
                if statistics.fmean(current) / statistics.fmean(base) > bound:
                    naive[slowdown] += 1
                spreads.append(relative_mad(base))
                epoch_times.extend(base)
                if slowdown == 0.0:
                    ratios_at_zero.append(statistics.median(current) / statistics.median(base))
        elapsed = time.perf_counter() - started
    finally:
        if neighbour is not None:
            neighbour.terminate()
            neighbour.join()

    print(
        f"{args.trials} trials per row, {args.epochs} epochs per set, {units} matrix products "
        f"per epoch (median epoch {statistics.median(epoch_times) * 1000:.0f} ms), "
        f"{args.threads} BLAS thread(s), {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}, neighbour={'on' if args.neighbour else 'off'}, "
        f"tolerance {tolerances.limits['epoch_seconds']:.0%}, {elapsed:.0f} s"
    )
    ordered = sorted(ratios_at_zero)
    print(
        f"noise: median relative MAD of a {args.epochs}-epoch set "
        f"{statistics.median(spreads):.1%}; median ratio at 0% slowdown, 5th-95th "
        f"percentile: {ordered[len(ordered) // 20]:.3f} to {ordered[-1 - len(ordered) // 20]:.3f}"
    )
    header = f"{'slowdown':>8} {'regressed':>10} {'unstable':>9} {'pass':>6} {'improved':>9}"
    print(f"{header} {'naive mean>' + format(bound, '.2f') + 'x':>16}")
    for slowdown in SLOWDOWNS:
        counts = verdicts[slowdown]
        total = sum(counts.values())

        def rate(verdict: Verdict, counts: Counter[Verdict] = counts, total: int = total) -> str:
            return f"{counts[verdict] / total:.1%}"

        print(
            f"{slowdown:>8.0%} {rate(Verdict.REGRESSED):>10} {rate(Verdict.UNSTABLE):>9} "
            f"{rate(Verdict.PASS):>6} {rate(Verdict.IMPROVED):>9} "
            f"{naive[slowdown] / total:>16.1%}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
