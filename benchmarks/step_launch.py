"""What the "launch" line of a profiled step is made of (TensorFlow, CPU).

"Launch" is the part of a profiled step before its first op and after its
last (docs/layers.md), which the coverage leaves out. This script takes it
apart for one zoo model at the CPU suites' set-up (MNIST 28x28x1, 8,000
images, batch 128, the model's recipe, compiled and instrumented as a test
does it, one warm-up epoch), from the host events of ``--steps`` profiled
steps, each inside the ``cnnperf_step`` marker with the devices synchronized
at its end, exactly as ``tensorflow_layers.profile_window`` runs them:

- *Python call*: from the marker's start to the eager execution of the train
  function (``EagerLocalExecute: __inference_...``): Keras' and
  ``tf.function``'s Python side of the call;
- *dispatch*: from there to the step's first op (function instantiation,
  argument copies, the executor's start);
- *ops*: the first op's start to the last op's end (layers, categories and
  "between ops" all lie inside);
- *function return*: the last op's end to the end of the train function's
  execution;
- *output unwrapping*: the eager ops Keras runs on the step's outputs after
  the function (``OptionalHasValue``, ``OptionalGetValue``);
- *device sync*: the ``SyncDevice`` op of ``sync_devices``;
- *Python, rest*: the remainder after the function (Keras turning the
  outputs into logs, the marker's exit).

Each figure is the median over the profiled steps, in ms and as a share of
the median step, with its range. The machine's load average is printed at
the start and the end.

Usage: python benchmarks/step_launch.py [--model lenet5] [--steps 30]
           [--data-dir ../shared/datasets]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from pytest_cnnperf import profiling
from pytest_cnnperf.backends import tensorflow_layers
from pytest_cnnperf.backends.imports import import_keras, import_tensorflow
from pytest_cnnperf.datasets import load, prepare, training_pipeline

REPO_ROOT = Path(__file__).resolve().parents[1]
BATCH = 128
PARTS = (
    "Python call",
    "dispatch",
    "ops",
    "function return",
    "output unwrapping",
    "device sync",
    "Python, rest",
)
_OP = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/>]*:[A-Za-z_][A-Za-z0-9_]*$")
_FUNCTION = "EagerLocalExecute: __inference_"
_UNWRAP = ("EagerLocalExecute: OptionalHasValue", "EagerLocalExecute: OptionalGetValue")
_SYNC = "EagerLocalExecute: SyncDevice"


def host_events(space: Any) -> list[tuple[float, float, str, str]]:
    """(start ns, end ns, line name, event name) of every event on the host plane."""
    events = []
    for plane in space.planes:
        if plane.name != profiling.HOST_PLANE:
            continue
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                start = line.timestamp_ns + event.offset_ps / 1000
                events.append(
                    (start, start + event.duration_ps / 1000, line.name, names[event.metadata_id])
                )
    return events


def breakdown(events: list[tuple[float, float, str, str]]) -> list[dict[str, float]]:
    """Each marked step's parts, in seconds (see the module's docstring)."""
    steps = sorted(e for e in events if e[3] == profiling.STEP_MARKER)
    result = []
    for start, end, line, _ in steps:
        inside = [e for e in events if e[0] >= start and e[1] <= end]
        functions = [e for e in inside if e[2] == line and e[3].startswith(_FUNCTION)]
        ops = [e for e in inside if _OP.match(e[3])]
        if not functions or not ops:
            continue
        function = max(functions, key=lambda e: e[1] - e[0])
        first_op = min(e[0] for e in ops)
        last_op = max(e[1] for e in ops)
        after = [e for e in inside if e[2] == line and e[0] >= function[1]]
        unwrap = sum(e[1] - e[0] for e in after if e[3] in _UNWRAP)
        sync = sum(e[1] - e[0] for e in after if e[3] == _SYNC)
        parts = {
            "Python call": function[0] - start,
            "dispatch": first_op - function[0],
            "ops": last_op - first_op,
            "function return": function[1] - last_op,
            "output unwrapping": unwrap,
            "device sync": sync,
            "Python, rest": end - function[1] - unwrap - sync,
            "step": end - start,
        }
        result.append({key: value / 1e9 for key, value in parts.items()})
    return result


def profile_steps(name: str, ds: Any, steps: int) -> list[dict[str, float]]:
    keras = import_keras()
    tf = import_tensorflow()
    from pytest_cnnperf.models import build, recipe

    keras.utils.set_random_seed(0)
    model = build(name, input_shape=(28, 28, 1), num_classes=10)
    plan = recipe(name)
    model.compile(
        optimizer=plan.make_optimizer(plan.learning_rate),
        loss=plan.make_loss(),
        metrics=["accuracy"],
    )
    tensorflow_layers.instrument(model)
    prepared = prepare(ds, input_shape=(28, 28, 1), input_scale=plan.input_scale)
    train = training_pipeline(prepared.x_train, prepared.y_train, batch_size=BATCH, seed=0)
    model.fit(train, epochs=1, verbose=0)
    iterator = iter(train.filter(lambda x, *_: tf.shape(x)[0] == BATCH).repeat())
    for _ in range(3):
        model.train_function(iterator)
        tf.test.experimental.sync_devices()
    logdir = tempfile.mkdtemp(prefix="cnnperf-launch-")
    try:
        options = tf.profiler.experimental.ProfilerOptions(
            host_tracer_level=3, python_tracer_level=0, device_tracer_level=0
        )
        tf.profiler.experimental.start(logdir, options=options)
        try:
            for step in range(steps):
                with tf.profiler.experimental.Trace(profiling.STEP_MARKER, step_num=step, _r=1):
                    model.train_function(iterator)
                    tf.test.experimental.sync_devices()
            model.train_function(iterator)  # as profile_window: the last step complete
            tf.test.experimental.sync_devices()
        finally:
            tf.profiler.experimental.stop()
        from tensorflow.tsl.profiler.protobuf import xplane_pb2

        space = xplane_pb2.XSpace()
        (path,) = glob.glob(f"{logdir}/plugins/profile/*/*.xplane.pb")
        space.ParseFromString(Path(path).read_bytes())
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    return breakdown(host_events(space))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--data-dir", default=str(REPO_ROOT / ".." / "shared" / "datasets"))
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    ds = load("mnist", data_dir=args.data_dir, split="test", train_size=8000, test_size=2000)
    print(f"data: {ds.source} {ds.name}, {len(ds.x_train)} training images ({ds.origin})")
    steps = profile_steps(args.model, ds, args.steps)
    if not steps:
        raise SystemExit("No profiled step held both the train function and its ops.")
    series: dict[str, list[float]] = defaultdict(list)
    for step in steps:
        for key, value in step.items():
            series[key].append(value)
    median_step = statistics.median(series["step"])
    print(
        f"\n{args.model}, batch {BATCH}, {len(steps)} profiled steps: step median "
        f"{median_step * 1e3:.2f} ms (min {min(series['step']) * 1e3:.2f}, "
        f"max {max(series['step']) * 1e3:.2f})"
    )
    print(f"  {'part':<18} {'median ms':>9} {'share':>7}   range ms")
    for key in PARTS:
        values = series[key]
        median = statistics.median(values)
        print(
            f"  {key:<18} {median * 1e3:9.3f} {median / median_step:7.1%}   "
            f"{min(values) * 1e3:.3f} to {max(values) * 1e3:.3f}"
        )
    outside = [s["step"] - s["ops"] for s in steps]
    print(
        f"  outside the ops (launch): median {statistics.median(outside) * 1e3:.3f} ms, "
        f"{statistics.median(o / s['step'] for o, s in zip(outside, steps, strict=True)):.1%} "
        "of the step"
    )
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
