"""Where the time of a LeNet-5 step on PyTorch's CPU goes when no operator runs.

Method: LeNet-5 at the CPU suite's set-up (MNIST 28x28x1, 8,000 images carved
from the test split, batch 128, its recipe), compiled as ``training.fit``
does on PyTorch and trained one epoch; then ``--steps`` steps run under
``torch.profiler`` exactly as ``backends.torch.profile_window`` runs its
profiled steps (the same batches, ranges and profiler options). The events
are attributed by ``torchprofile`` (coverage, "launch", "between ops"), and
the instants of each step on its thread when no operator ran are split by
the outermost named range they fall in: a layer's call, the loss, the
metrics, the optimizer, the input fetch (charged to the input pipeline, so
not in "between ops"), or none (the train step's own Python: Keras' layer
``__call__`` around each ``call``, the model's graph walk, ``zero_grad``,
and the autograd engine between backward nodes). Reported: the median over
the steps of each, in milliseconds.

Usage: PYTHONPATH=. python benchmarks/torch_between_ops.py [--steps 10]
           [--data-dir ../shared/datasets]
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from pytest_cnnperf import backends, layers, profiling, torchprofile

REPO_ROOT = Path(__file__).resolve().parents[1]
BATCH = 128
Interval = tuple[float, float]


def union(intervals: list[Interval], lo: float, hi: float) -> list[Interval]:
    """The union of ``intervals`` clipped to ``[lo, hi)``, as sorted disjoint intervals."""
    clipped = sorted((max(a, lo), min(b, hi)) for a, b in intervals if b > lo and a < hi)
    merged: list[list[float]] = []
    for a, b in clipped:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def length(intervals: list[Interval]) -> float:
    return sum(b - a for a, b in intervals)


def kind(name: str, scopes: profiling.ModelScopes) -> str | None:
    """Which group a named range belongs to (None: the step range itself, or not ours)."""
    if name.startswith(f"{scopes.model}/"):
        return "inside layer calls"
    if name in (profiling.LOSS_SCOPE,):
        return "inside the loss"
    if name == profiling.METRICS_SCOPE:
        return "inside the metrics"
    if name == scopes.optimizer or name.startswith(
        (torchprofile.UPDATES_RANGE, profiling.UPDATE_SCOPE)
    ):
        return "inside the optimizer"
    if name == torchprofile.INPUT_RANGE:
        return "inside the input fetch (input pipeline)"
    return None


def idle_by_range(events: list[Any], scopes: profiling.ModelScopes) -> dict[str, list[float]]:
    """Per step (in order), the microseconds no operator ran, by the outermost range around."""
    (thread,) = {e.thread for e in events if e.annotation and e.name == torchprofile.STEP_MARKER}
    mine = [e for e in events if e.thread == thread]
    operators = [(e.start_us, e.end_us) for e in mine if not e.annotation]
    steps = sorted(
        (e.start_us, e.end_us) for e in mine if e.annotation and e.name == torchprofile.STEP_MARKER
    )
    found: dict[str, list[float]] = defaultdict(list)
    for lo, hi in steps:
        busy = union(operators, lo, hi)
        named = sorted(
            (e for e in mine if e.annotation and lo <= e.start_us and e.end_us <= hi),
            key=lambda e: (e.start_us, -e.end_us),
        )
        outermost: list[Any] = []
        for event in named:
            if kind(event.name, scopes) is None:
                continue
            if outermost and event.end_us <= outermost[-1].end_us:
                continue
            outermost.append(event)
        idle = (hi - lo) - length(busy)
        per: dict[str, float] = defaultdict(float)
        for event in outermost:
            span = event.end_us - event.start_us
            group = kind(event.name, scopes)
            assert group is not None
            per[group] += span - length(union(busy, event.start_us, event.end_us))
        per["outside every range (the train step's own Python)"] = idle - sum(per.values())
        per["no operator running, all"] = idle
        per["step"] = hi - lo
        for group, value in per.items():
            found[group].append(value)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--data-dir", default=str(REPO_ROOT / ".." / "shared" / "datasets"))
    args = parser.parse_args()
    backends.select("torch", "--backend")
    from pytest_cnnperf.backends import torch as torch_backend
    from pytest_cnnperf.backends.imports import import_keras
    from pytest_cnnperf.datasets import load, prepare
    from pytest_cnnperf.models import build, recipe

    print(f"load average at start: {os.getloadavg()}")
    keras = import_keras()
    torch = torch_backend.import_torch()
    backend = backends.current()
    placement = backend.devices.pin(gpu=False, requested=None, worker_id=None)
    ds = load("mnist", data_dir=args.data_dir, split="test", train_size=8000, test_size=2000)
    print(f"data: {ds.source} {ds.name}, {len(ds.x_train)} training images ({ds.origin})")
    keras.utils.set_random_seed(0)
    plan = recipe("lenet5")
    with backend.devices.scope(placement.device_name):
        model = build("lenet5", input_shape=(28, 28, 1), num_classes=10)
        model.compile(
            optimizer=plan.make_optimizer(plan.learning_rate),
            loss=plan.make_loss(),
            metrics=["accuracy"],
        )
        prepared = prepare(ds, input_shape=(28, 28, 1), input_scale=plan.input_scale)
        train = backend.inputs.training(
            prepared.x_train, prepared.y_train, batch_size=BATCH, seed=0,
            augmentation_layers=None, steps=None,
        )  # fmt: skip
        model.fit(train, epochs=1, verbose=0)
        train_function = model.make_train_function() or model.train_function
        record = torch.profiler.record_function
        activities = [torch.profiler.ProfilerActivity.CPU]
        model.train()
        window = torch_backend.batches(
            train, batch_size=BATCH, full_batches=True, steps=args.steps + 1
        )
        with window as data:
            train_function(data())  # the warm-up step
            with (
                torch_backend.named(model),
                torch.profiler.profile(activities=activities) as profiler,
            ):
                for _ in range(args.steps):
                    with record(torchprofile.STEP_MARKER):
                        with record(torchprofile.INPUT_RANGE):
                            batch = data()
                        train_function(batch)
        model.eval()
    events = torch_backend.events_of(profiler.profiler.kineto_results)
    scopes = layers.scopes_of(model)
    attribution = torchprofile.attribute(events, scopes)
    coverage = [step.coverage for step in attribution.steps]
    launch = [step.launch_seconds / step.seconds for step in attribution.steps]
    between = [step.between_ops_seconds / step.seconds for step in attribution.steps]
    print(
        f"\nlenet5, batch {BATCH}, {args.steps} profiled steps: coverage median "
        f"{statistics.median(coverage):.1%} (min {min(coverage):.1%}, max {max(coverage):.1%}); "
        f"launch {statistics.median(launch):.1%}, between ops {statistics.median(between):.1%}"
    )
    for group, values in idle_by_range(events, scopes).items():
        print(f"  {group:52s} median {statistics.median(values) / 1e3:7.3f} ms")
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
