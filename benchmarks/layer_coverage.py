"""Coverage and cost of per-layer timing for LeNet-5, ResNet20 v1 and the VGG-like network.

Method: each model is built from the zoo at the CPU suites' set-up (MNIST
28x28x1, 8,000 images carved from the test split, batch 128, the model's
recipe: optimizer, learning rate, loss, accuracy metric), compiled and
instrumented the way ``training.fit`` does it, and trained one warm-up epoch
(the suites' step cap for the heavy networks) so that the train function is
traced. Then, in one process, ``--rounds`` rounds alternate (the order
flipping every round) between

- an *unprofiled* window: ``--steps`` calls of the same train function on the
  same pipeline, each timed with the devices synchronized, as
  ``tensorflow_layers.profile_window`` times its reference steps; and
- a *profiled* window: ``tensorflow_layers.profile_window`` with ``--steps`` profiled
  steps (no warm-up, no reference steps), exactly what a test runs.

Reported per model: coverage of every profiled step (median, min and max
over all rounds), the categories of the median, the profiled step against
the unprofiled one of the same round (the median of the rounds' ratios and
their range), and the window's fixed cost (stopping the profiler, reading
and attributing the profile: window seconds less its steps). The data are
real MNIST when ``--data-dir`` holds it, else synthetic images of the same
shape; the script says which, and the machine's load average at the start
and the end.

``--backend jax`` does the same on Keras' JAX backend: the run's pipeline is
``Inputs.training``'s host arrays, the window is the backend's
``Profiler.profile_window`` (``backends.jax_layers``), and an unprofiled window calls
the same jitted train function on the same batches the way that window
times its reference steps (``jax_layers.Batches`` and ``TrainingState``).

``--backend torch`` does the same on Keras' PyTorch backend: the run's
pipeline is ``Inputs.training``'s host arrays, the window is the backend's
``Profiler.profile_window`` (``backends.torch``, ``torchprofile``), and an
unprofiled window fetches each batch and calls the same train function the
way that window times its reference steps (``backends.torch.batches``),
without the window's ``record_function`` ranges: the ratio is the cost of
the ranges and the profiler together. Each window there makes its own
epoch iterator, whose prefetch thread starts with it, so both kinds run one
untimed warm-up step first (the window's ``WindowSize(1, 0, steps)``, as a
test's window of 4 or more steps does).

Usage: python benchmarks/layer_coverage.py [--backend tensorflow|jax|torch]
           [--models lenet5 resnet20_v1 vgg_like] [--rounds 5] [--steps 10]
           [--heavy-steps 3] [--data-dir ../shared/datasets]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_cnnperf import backends, layers
from pytest_cnnperf.backends import tensorflow_layers
from pytest_cnnperf.backends.imports import import_keras, import_tensorflow
from pytest_cnnperf.datasets import load, prepare, training_pipeline
from pytest_cnnperf.layerprofile import LayerProfile

REPO_ROOT = Path(__file__).resolve().parents[1]
BATCH = 128
#: Steps per epoch of the suites' CPU profile (None: the whole 8,000 images).
SUITE_STEPS = {"lenet5": None, "resnet20_v1": 4, "vgg_like": 4}


def unprofiled_window(model: Any, iterator: Any, steps: int) -> list[float]:
    """Seconds of each of ``steps`` train-function calls, synchronized."""
    tf = import_tensorflow()
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        model.train_function(iterator)
        tf.test.experimental.sync_devices()
        times.append(time.perf_counter() - started)
    return times


def jax_unprofiled_window(model: Any, train: Any, steps: int) -> list[float]:
    """Seconds of each of ``steps`` jitted train-step calls, synchronized, on JAX."""
    from pytest_cnnperf.backends import jax_layers

    backend = backends.current()
    batches = jax_layers.Batches(train, batch_size=BATCH, full_batches=True)
    state = jax_layers.TrainingState(model)
    times = []
    try:
        for _ in range(steps):
            started = time.perf_counter()
            state.step(model.train_function, batches)
            backend.devices.synchronize()
            times.append(time.perf_counter() - started)
    finally:
        state.put_back()
        batches.close()
    return times


def measure_host(
    name: str,
    ds: Any,
    rounds: int,
    steps: int,
    unprofiled: Callable[[Any, Any, int], list[float]],
    warmup: int,
) -> dict[str, Any]:
    """``measure`` on JAX or PyTorch (see the module docstring): their host-array pipeline.

    ``unprofiled`` times a window of plain steps; ``warmup`` is the profiled
    window's untimed first steps (PyTorch's window starts its own prefetch
    thread, so its first step is left out, as the unprofiled window's is).
    """
    keras = import_keras()
    from pytest_cnnperf.models import build, recipe

    backend = backends.current()
    placement = backend.devices.pin(gpu=False, requested=None, worker_id=None)
    keras.utils.set_random_seed(0)
    plan = recipe(name)
    with backend.devices.scope(placement.device_name):
        model = build(name, input_shape=(28, 28, 1), num_classes=10)
        model.compile(
            optimizer=plan.make_optimizer(plan.learning_rate),
            loss=plan.make_loss(),
            metrics=["accuracy"],
            jit_compile=backend.numerics.jit(False),
        )
        backend.profiler.instrument(model)
        prepared = prepare(ds, input_shape=(28, 28, 1), input_scale=plan.input_scale)
        train = backend.inputs.training(
            prepared.x_train,
            prepared.y_train,
            batch_size=BATCH,
            seed=0,
            augmentation_layers=None,
            steps=SUITE_STEPS[name],
        )
        model.fit(train, epochs=1, verbose=0)
        unprofiled(model, train, 2)  # a new window's first batches
        return alternate(
            name,
            model,
            rounds,
            steps,
            plain=lambda: unprofiled(model, train, steps),
            profiled=lambda: backend.profiler.profile_window(
                model,
                train,
                batch_size=BATCH,
                full_batches=True,
                device=placement.device_name,
                size=layers.WindowSize(warmup, 0, steps),
                unprofiled_step_seconds=None,
                sync=backend.devices.synchronize,
            ),
        )


def torch_unprofiled_window(model: Any, train: Any, steps: int) -> list[float]:
    """Seconds of each of ``steps`` fetch-and-train calls, synchronized, on PyTorch."""
    from pytest_cnnperf.backends import torch as torch_backend

    backend = backends.current()
    train_function = model.make_train_function() or model.train_function
    times = []
    model.train()
    try:
        with torch_backend.batches(
            train, batch_size=BATCH, full_batches=True, steps=steps + 1
        ) as data:
            train_function(data())  # the warm-up step: the prefetch thread starts
            backend.devices.synchronize()
            for _ in range(steps):
                started = time.perf_counter()
                train_function(data())
                backend.devices.synchronize()
                times.append(time.perf_counter() - started)
    finally:
        model.eval()
    return times


def measure(name: str, ds: Any, rounds: int, steps: int) -> dict[str, Any]:
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
    if SUITE_STEPS[name] is not None:
        train = train.take(SUITE_STEPS[name])
    model.fit(train, epochs=1, verbose=0)
    full = train.filter(lambda x, *_: tf.shape(x)[0] == BATCH).repeat()
    iterator = iter(full)
    unprofiled_window(model, iterator, 2)  # the new iterator's first batches
    return alternate(
        name,
        model,
        rounds,
        steps,
        plain=lambda: unprofiled_window(model, iterator, steps),
        profiled=lambda: tensorflow_layers.profile_window(
            model,
            train,
            batch_size=BATCH,
            full_batches=True,
            device="/CPU:0",
            size=layers.WindowSize(0, 0, steps),
            unprofiled_step_seconds=None,
            sync=tf.test.experimental.sync_devices,
        ),
    )


def alternate(
    name: str,
    model: Any,
    rounds: int,
    steps: int,
    *,
    plain: Callable[[], list[float]],
    profiled: Callable[[], LayerProfile],
) -> dict[str, Any]:
    """``rounds`` rounds of an unprofiled and a profiled window, the order flipping each round."""
    ratios: list[float] = []
    coverage: list[float] = []
    fixed: list[float] = []
    profiles: list[LayerProfile] = []
    for index in range(rounds):
        order = ("plain", "profiled") if index % 2 == 0 else ("profiled", "plain")
        for kind in order:
            if kind == "plain":
                plain_steps = plain()
            else:
                profile = profiled()
                if not profile.profiled:
                    raise SystemExit(f"{name}: {' '.join(profile.notes)}")
                profiles.append(profile)
        ratios.append(profile.step_median / statistics.median(plain_steps))
        coverage.extend(profile.coverage_samples)
        fixed.append(profile.window_seconds - sum(profile.step_seconds))
    return {
        "model": name,
        "params": model.count_params(),
        "steps": steps,
        "rounds": rounds,
        "coverage": coverage,
        "ratios": ratios,
        "fixed": fixed,
        "profiles": profiles,
    }


def spread(values: list[float], percent: bool = True) -> str:
    form = "{:.1%}" if percent else "{:.3g}"
    return (
        f"median {form.format(statistics.median(values))} "
        f"(min {form.format(min(values))}, max {form.format(max(values))})"
    )


def report(result: dict[str, Any]) -> None:
    profiles: list[LayerProfile] = result["profiles"]
    steps = [s for p in profiles for s in p.step_seconds]
    print(
        f"\n{result['model']} ({result['params']:,} params), batch {BATCH}, "
        f"{result['rounds']} rounds of {result['steps']} profiled + {result['steps']} "
        f"unprofiled steps; profiled step {spread(steps, percent=False)} s"
    )
    print(f"  coverage of each profiled step: {spread(result['coverage'])}")
    overheads = [r - 1 for r in result["ratios"]]
    print(f"  profiled / unprofiled step - 1 (per round): {spread(overheads)}")
    print(f"  window fixed cost (stop, read, attribute): {spread(result['fixed'], False)} s")
    median_profile = sorted(profiles, key=lambda p: p.coverage or 0)[len(profiles) // 2]
    step = median_profile.step_median
    phases = {
        "forward": sum(statistics.median(t.forward_seconds) for t in median_profile.layers),
        "backward": sum(statistics.median(t.backward_seconds) for t in median_profile.layers),
        "optimizer": sum(statistics.median(t.optimizer_seconds) for t in median_profile.layers),
    }
    parts = ", ".join(f"{k} {v / step:.1%}" for k, v in phases.items())
    parts += ", " + ", ".join(
        f"{c.name} {statistics.median(c.seconds) / step:.1%}" for c in median_profile.categories
    )
    print(f"  median window's step: {parts}")
    if median_profile.notes:
        print(f"  notes: {' '.join(median_profile.notes)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), default="tensorflow")
    parser.add_argument("--models", nargs="+", default=list(SUITE_STEPS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="profiled steps for lenet5")
    parser.add_argument("--heavy-steps", type=int, default=3, help="for the other models")
    parser.add_argument("--data-dir", default=str(REPO_ROOT / ".." / "shared" / "datasets"))
    args = parser.parse_args()
    # Before Keras is imported: a process has one backend.
    backends.select(args.backend, "--backend")
    runs: dict[str, Callable[[str, Any, int, int], dict[str, Any]]] = {
        "tensorflow": measure,
        "jax": functools.partial(measure_host, unprofiled=jax_unprofiled_window, warmup=0),
        "torch": functools.partial(measure_host, unprofiled=torch_unprofiled_window, warmup=1),
    }
    run = runs[args.backend]
    print(f"backend: {args.backend}; load average at start: {os.getloadavg()}")
    ds = load("mnist", data_dir=args.data_dir, split="test", train_size=8000, test_size=2000)
    print(f"data: {ds.source} {ds.name}, {len(ds.x_train)} training images ({ds.origin})")
    for name in args.models:
        steps = args.steps if name == "lenet5" else args.heavy_steps
        report(run(name, ds, args.rounds, steps))
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
