"""Per-layer timing on the JAX backend, on real profiles of a tiny model trained on JAX.

Every run is a subprocess (a process has one Keras backend); skipped where JAX
is not installed (CI installs it, see .ci/run).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from test_acceptance_backends import require
from test_acceptance_layers import LAYERS, NODE_PATTERN, PROJECT

#: Layers of PROJECT's model that run ops (``busy`` does nothing without
#: SLOW_WORK, ``flatten`` is a reshape XLA turns into a bitcast).
COMPUTING = ("conv", "pool", "hidden", "head")


@pytest.fixture(autouse=True)
def jax_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    require("jax")
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("SLOW_WORK", "0")


def test_a_jax_run_prints_the_per_layer_table_and_every_layer_is_timed(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_layers=PROJECT)
    # Timed per epoch: the tiny model's five epochs are the run; layer_steps=12.
    pytester.makeini("[pytest]\ncnnperf_windows = 0\n")
    result = pytester.runpytest_subprocess(
        "--color=no", "--cnnperf-backend=jax", "--cnnperf-json=out.json"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"{NODE_PATTERN}: time per layer*",
            "*layer*type*output*params*fwd ms*bwd ms*opt ms*share*GFLOP/s*",
            "*conv*Conv2D*14x14x8*80*",
            "*pool*MaxPooling2D*",
            "*head*Dense*2*66*",
            "*launch*not covered*",
            "*between ops*not covered*",
            "Coverage *% of the step (median of 12 profiled steps of *, after 4 unprofiled steps)*",
        ]
    )
    (test,) = json.loads((pytester.path / "out.json").read_text())["tests"]
    (run,) = test["runs"]
    block: dict[str, Any] = run["layers"]
    assert block["source"] == "host" and block["notes"] == []
    assert [layer["name"] for layer in block["layers"]] == list(LAYERS)
    assert block["steps"] == 12 and len(block["step_seconds"]) == 12
    by_name = {layer["name"]: layer for layer in block["layers"]}
    for name in COMPUTING:
        layer = by_name[name]
        assert sorted(layer["forward_seconds"])[6] > 0, name
        assert sorted(layer["backward_seconds"])[6] > 0, name
    # Adam updates the kernels and biases of the conv and the dense layers.
    for name in ("conv", "hidden", "head"):
        assert sum(by_name[name]["optimizer_seconds"]) > 0, name
    # Each step: the parts sum to no more than the step, and coverage is the
    # share of the step charged to layers and the covered categories.
    for index, seconds in enumerate(block["step_seconds"]):
        layers = sum(
            layer[phase][index]
            for layer in block["layers"]
            for phase in ("forward_seconds", "backward_seconds", "optimizer_seconds")
        )
        covered = layers + sum(c["seconds"][index] for c in block["categories"] if c["covered"])
        everything = layers + sum(c["seconds"][index] for c in block["categories"])
        assert covered <= everything <= seconds * (1 + 1e-9)
        assert everything == pytest.approx(seconds, rel=1e-6)
        assert block["coverage_samples"][index] == pytest.approx(covered / seconds)
    assert 0 < block["coverage"] <= 1
    assert set(test["metrics"]) >= {f"layer_seconds/{name}" for name in COMPUTING}


WINDOW = textwrap.dedent(
    """
    import os
    os.environ["KERAS_BACKEND"] = "jax"
    import numpy as np
    from pytest_cnnperf import backends, layers
    from pytest_cnnperf.backends.host_inputs import host_batches
    from pytest_cnnperf.backends.imports import import_keras

    backend = backends.current()
    placement = backend.devices.pin(gpu=False, requested=None, worker_id=None)
    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(2, activation="softmax", name="head"),
        ],
        name="tiny",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    backend.profiler.instrument(model)
    x = np.random.default_rng(0).random((100, 8, 8, 1), dtype=np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype("int64")
    train = host_batches(x, y, batch_size=16, seed=0)
    model.fit(train, epochs=1, verbose=0)
    before = [np.array(w) for w in model.get_weights()]
    iterations = int(model.optimizer.iterations.numpy())
    profile = backend.profiler.profile_window(
        model, train, batch_size=16, full_batches=True, device=placement.device_name,
        size=layers.WindowSize(1, 1, 4), unprofiled_step_seconds=None,
        sync=backend.devices.synchronize,
    )
    backend.profiler.remove_instrumentation(model)
    after = model.get_weights()
    print("notes", profile.notes)
    print("layers", [layer.name for layer in profile.layers])
    print("steps", len(profile.step_seconds), profile.warmup_steps, profile.reference_steps)
    print("trained", int(model.optimizer.iterations.numpy()) - iterations,
          all(not np.array_equal(a, b) for a, b in zip(before, after)))
    print("evaluates", sorted(model.evaluate(train, verbose=0, return_dict=True)))
    print("instrumented", "update_step" in vars(model.optimizer),
          "compute_metrics" in vars(model))
    # Another profiling session holds JAX's profiler: the window says so.
    import tempfile
    import jax
    jax.profiler.start_trace(tempfile.mkdtemp())
    busy = backend.profiler.profile_window(
        model, train, batch_size=16, full_batches=True, device=placement.device_name,
        size=layers.WindowSize(0, 0, 1), unprofiled_step_seconds=None,
        sync=backend.devices.synchronize,
    )
    jax.profiler.stop_trace()
    print("busy", busy.profiled, busy.notes)
    """
)


def test_the_window_trains_the_model_and_gives_its_state_back() -> None:
    out = subprocess.run(
        [sys.executable, "-c", WINDOW], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "notes ()" in lines
    assert "layers ['conv', 'flatten', 'head']" in lines
    assert "steps 4 1 1" in lines
    # Warm-up, reference and profiled steps all trained the model's own variables,
    # which the model holds again afterwards (it evaluates).
    assert "trained 6 True" in lines
    assert "evaluates ['accuracy', 'loss']" in lines
    assert "instrumented False False" in lines
    busy = next(line for line in lines if line.startswith("busy "))
    assert busy.startswith("busy False (\"Per-layer timing failed: JAX's profiler did not start (")
