"""What the "between ops" time of a step on JAX's CPU runtime is made of.

Method: LeNet-5 (or ``--model``) at the CPU suite's set-up (MNIST 28x28x1, 8,000 images carved
from the test split, batch 128, its recipe), compiled and instrumented as
``training.fit`` does on JAX, trained one epoch; then ``--steps`` steps run
under JAX's profiler exactly as ``jax_layers.profile_window`` runs its
profiled steps (same batches, same annotations, same profiler options). The
profile is kept in memory and read twice: attributed by ``jaxprofiling``
(coverage, "launch" and "between ops"), and searched for XLA's thread-pool
hand-offs: each ``ThreadpoolListener::Record`` (a task queued) is matched to
its ``ThreadpoolListener::StartRegion`` (a thread starting it) by their
producer and consumer ids. Reported per step: the instants inside the step
when no op ran, and how much of them a queued task was waiting for a thread.

Also reported: how much of the ops' own time is charged through the data
flow (instructions without an op name, ``ModuleParts.by_readers``), and the
model's op count in each step.

Usage: PYTHONPATH=. python benchmarks/jax_between_ops.py [--model lenet5] [--steps 10]
           [--data-dir ../shared/datasets]
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from pytest_cnnperf import backends, layers, profiling

REPO_ROOT = Path(__file__).resolve().parents[1]
BATCH = 128
Interval = tuple[int, int]


def union(intervals: list[Interval], lo: int, hi: int) -> list[Interval]:
    """The union of ``intervals`` clipped to ``[lo, hi)``, as sorted disjoint intervals."""
    clipped = sorted((max(a, lo), min(b, hi)) for a, b in intervals if b > lo and a < hi)
    merged: list[list[int]] = []
    for a, b in clipped:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def length(intervals: list[Interval]) -> int:
    return sum(b - a for a, b in intervals)


def thread_pool_waits(space: Any) -> list[Interval]:
    """From each queued task's ``Record`` to the ``StartRegion`` of the thread that ran it (ps)."""
    queued: dict[int, int] = {}
    started: dict[int, int] = {}
    for plane in space.planes:
        if plane.name != profiling.HOST_PLANE:
            continue
        names = {k: m.name for k, m in plane.event_metadata.items()}
        stat_names = {k: m.name for k, m in plane.stat_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if not name.startswith("ThreadpoolListener::"):
                    continue
                stats = {
                    stat_names.get(s.metadata_id): s.int64_value or s.uint64_value
                    for s in event.stats
                }
                at = line.timestamp_ns * 1000 + event.offset_ps
                if name.endswith("Record") and "_p" in stats:
                    queued[stats["_p"]] = at
                elif name.endswith("StartRegion") and "_c" in stats:
                    started[stats["_c"]] = at
    return [(queued[k], started[k]) for k in queued if k in started and started[k] > queued[k]]


def by_readers_time(
    space: Any, parts: dict[str, Any], windows: list[Interval]
) -> tuple[float, float, dict[tuple[str, Any], float], list[int]]:
    """Op seconds inside the steps: all, those charged through their readers, and theirs by op.

    Summed event durations (not the sweep): how much of the ops' own time the
    data-flow rule decides. Also the model's op events in each step (the last
    step has all of its ops if its count is the others').
    """
    total = inferred = 0.0
    counts = [0 for _ in windows]
    by_op: dict[tuple[str, Any], float] = {}
    for plane in space.planes:
        if plane.name != profiling.HOST_PLANE:
            continue
        stat_names = {k: m.name for k, m in plane.stat_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                stats = {stat_names.get(s.metadata_id): s for s in event.stats}
                if "hlo_op" not in stats or "program_id" not in stats:
                    continue
                at = line.timestamp_ns * 1000 + event.offset_ps
                inside = [i for i, (lo, hi) in enumerate(windows) if lo <= at < hi]
                if not inside:
                    continue
                module = stat_names.get(stats["hlo_module"].ref_value, "")
                program = stats["program_id"].uint64_value or stats["program_id"].int64_value
                key = f"{module}({program})"
                op = stat_names.get(stats["hlo_op"].ref_value, "")
                if key not in parts or op not in parts[key].parts:
                    continue
                seconds = event.duration_ps / 1e12
                total += seconds
                counts[inside[0]] += 1
                if op in parts[key].by_readers:
                    inferred += seconds
                    label = (op, parts[key].parts[op])
                    by_op[label] = by_op.get(label, 0.0) + seconds
    return total, inferred, by_op, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--data-dir", default=str(REPO_ROOT / ".." / "shared" / "datasets"))
    args = parser.parse_args()
    backends.select("jax", "this script")
    from pytest_cnnperf import hlotext, jaxprofiling
    from pytest_cnnperf.backends import jax_layers
    from pytest_cnnperf.backends.imports import import_keras
    from pytest_cnnperf.datasets import load, prepare
    from pytest_cnnperf.models import build, recipe

    print(f"load average at start: {os.getloadavg()}")
    backend = backends.current()
    placement = backend.devices.pin(gpu=False, requested=None, worker_id=None)
    keras = import_keras()
    import jax
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    ds = load("mnist", data_dir=args.data_dir, split="test", train_size=8000, test_size=2000)
    keras.utils.set_random_seed(0)
    plan = recipe(args.model)
    model = build(args.model, input_shape=(28, 28, 1), num_classes=10)
    model.compile(
        optimizer=plan.make_optimizer(plan.learning_rate),
        loss=plan.make_loss(),
        metrics=["accuracy"],
    )
    backend.profiler.instrument(model)
    prepared = prepare(ds, input_shape=(28, 28, 1), input_scale=plan.input_scale)
    train = backend.inputs.training(
        prepared.x_train, prepared.y_train, batch_size=BATCH, seed=0,
        augmentation_layers=None,
        # The suites' step cap for the heavy networks, as in layer_coverage.py.
        steps=None if args.model.startswith("lenet") else 4,
    )  # fmt: skip
    with backend.devices.scope(placement.device_name):
        model.fit(train, epochs=1, verbose=0)
        batches = jax_layers.Batches(train, batch_size=BATCH, full_batches=True)
        state = jax_layers.TrainingState(model)
        logdir = tempfile.mkdtemp(prefix="cnnperf-between-")
        try:
            state.step(model.train_function, batches)
            backend.devices.synchronize()
            with jax_layers._profiler(jax, logdir):
                for step in range(args.steps):
                    with jax.profiler.TraceAnnotation(profiling.STEP_MARKER, step_num=step):
                        state.step(model.train_function, batches)
                        backend.devices.synchronize()
            (path,) = glob.glob(f"{logdir}/plugins/profile/*/*.xplane.pb")
            data = Path(path).read_bytes()
            # The pb2 XSpace for the thread-pool records below; attribution reads either form.
            space = xplane_pb2.XSpace.FromString(data)
        finally:
            state.put_back()
            batches.close()
            shutil.rmtree(logdir, ignore_errors=True)
    modules = hlotext.hlo_modules(data, jax_layers.module_text)
    scopes = layers.scopes_of(model)
    classifier = profiling.Classifier(scopes)
    parts = {key: jaxprofiling.instruction_parts(m, classifier) for key, m in modules.items()}
    segments, _, _ = jaxprofiling.op_segments(space, parts)
    waits = thread_pool_waits(space)
    attribution = jaxprofiling.attribute(space, scopes, modules)
    rows = []
    for (start, end), attributed in zip(
        profiling.step_windows(space), attribution.steps, strict=True
    ):
        busy = union([(s, e) for s, e, _ in segments], start, end)
        gaps = [(busy[i][1], busy[i + 1][0]) for i in range(len(busy) - 1)]
        waiting = sum(length(union(waits, a, b)) for a, b in gaps)
        rows.append((attributed, length(gaps) / 1e12, waiting / 1e12))
        print(
            f"step {attributed.seconds * 1e3:6.2f} ms: coverage {attributed.coverage:6.1%}, "
            f"launch {attributed.launch_seconds * 1e3:5.2f} ms, between ops "
            f"{length(gaps) / 1e9:5.2f} ms, of which a queued XLA task waited for a thread "
            f"{waiting / 1e9:5.2f} ms"
        )
    share = [w / g for _, g, w in rows if g > 0]
    print(
        f"median: step {statistics.median(a.seconds for a, _, _ in rows) * 1e3:.2f} ms, "
        f"coverage {statistics.median(a.coverage for a, _, _ in rows):.1%}, between ops "
        f"{statistics.median(g / a.seconds for a, g, _ in rows):.1%} of the step, "
        f"a queued task waiting in {statistics.median(share):.1%} of it"
    )
    windows = profiling.step_windows(space)
    total, inferred, by_op, counts = by_readers_time(space, parts, windows)
    print(f"the model's op events in each step: {counts}")
    print(
        f"op time inside the steps charged through the instructions that read it (no op name): "
        f"{inferred / total:.1%} ({inferred / len(windows) * 1e3:.2f} of "
        f"{total / len(windows) * 1e3:.2f} ms a step); the largest:"
    )
    for (op, part), seconds in sorted(by_op.items(), key=lambda kv: -kv[1])[:6]:
        print(f"  {op}: {seconds / len(windows) * 1e3:.2f} ms a step -> {part.owner} {part.phase}")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
