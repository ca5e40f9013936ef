"""Per-layer timing on the PyTorch backend, on real ``torch.profiler`` profiles.

Every run is a subprocess (a process has one Keras backend): a tiny CNN
trained a few steps on PyTorch's CPU, then the profiled window of
``backends.torch``; and a pytester run with ``--cnnperf-backend=torch``
that prints the per-layer table. Skipped where PyTorch is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_cnnperf.backends import torch as torch_backend
from pytest_cnnperf.layerprofile import LayerProfile

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="torch is not installed; pip install 'pytest-cnnperf[torch]' runs these tests",
)

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("conv", "pool", "flatten", "hidden", "head")
WEIGHTED = ("conv", "hidden", "head")

#: Trains the tiny CNN one epoch on PyTorch, profiles a window, prints what the parent checks.
SCRIPT = textwrap.dedent(
    """
    import json, os
    os.environ["KERAS_BACKEND"] = "torch"
    import numpy as np
    from pytest_cnnperf import backends, layers
    from pytest_cnnperf.backends.imports import import_keras

    backend = backends.current()
    backend.numerics.share_threads(1)
    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.MaxPooling2D(2, name="pool"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(16, activation="relu", name="hidden"),
            keras.layers.Dense(2, activation="softmax", name="head"),
        ],
        name="tiny",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((200, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 2, 200)
    train = backend.inputs.training(
        x, y, batch_size=32, seed=0, augmentation_layers=None, steps=None
    )
    model.fit(train, epochs=1, verbose=0)
    before = int(model.optimizer.iterations.numpy())
    profile = backend.profiler.profile_window(
        model, train, batch_size=32, full_batches=True, device="cpu",
        size=layers.WindowSize(1, 1, 3), unprofiled_step_seconds=None,
        sync=backend.devices.synchronize,
    )
    model.jit_compile = True
    compiled = backend.profiler.profile_window(
        model, train, batch_size=32, full_batches=True, device="cpu",
        size=layers.WindowSize(0, 0, 1), unprofiled_step_seconds=None,
        sync=backend.devices.synchronize,
    )
    left = [layer.name for layer in model.layers if "call" in vars(layer)]
    left += [name for name in ("compute_loss", "compute_metrics") if name in vars(model)]
    left += [
        name
        for name in ("apply", "_backend_update_step", "update_step")
        if name in vars(model.optimizer)
    ]
    left += ["update_state"] if "update_state" in vars(model._loss_tracker) else []
    print(json.dumps({
        "profile": profile.to_dict(),
        "trained": int(model.optimizer.iterations.numpy()) - before,
        "instrumentation_left": left,
        "training_mode": bool(model.training),
        "compiled": compiled.to_dict(),
    }))
    """
)


def profile_tiny() -> dict[str, Any]:
    environment = {**os.environ, "PYTHONPATH": str(REPO), "KERAS_BACKEND": "torch"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True, text=True, timeout=300, check=False, env=environment,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    found: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


@pytest.fixture(scope="module")
def tiny() -> dict[str, Any]:
    """One real profiled window of the tiny CNN on PyTorch (shared by the checks below)."""
    return profile_tiny()


def test_every_layer_is_charged_forward_and_backward_on_a_real_profile(
    tiny: dict[str, Any],
) -> None:
    profile = LayerProfile.from_dict(tiny["profile"])
    assert profile.notes == ()
    assert profile.steps == 3 and profile.warmup_steps == 1 and profile.reference_steps == 1
    assert profile.source == "host"
    assert [layer.name for layer in profile.layers] == list(LAYERS)
    for layer in profile.layers:
        # Every layer runs an operator each way in every step (flatten: a view).
        assert all(s > 0 for s in layer.forward_seconds), layer
        assert all(s > 0 for s in layer.backward_seconds), layer
        if layer.name in WEIGHTED:
            # Adam's per-tensor operators, charged to the variables' layer.
            assert all(s > 0 for s in layer.optimizer_seconds), layer
        else:
            assert layer.optimizer_seconds == (0.0, 0.0, 0.0), layer
    # Backward nodes reach their layers through the sequence numbers: unmatched,
    # they would be "other ops", a third of the step or more.
    other = profile.category("other ops")
    assert other is not None
    for index, step in enumerate(profile.step_seconds):
        assert other.seconds[index] < 0.05 * step
    loss = profile.category("loss and metrics")
    assert loss is not None and all(s > 0 for s in loss.seconds)
    pipeline = profile.category("input pipeline")
    assert pipeline is not None and all(s > 0 for s in pipeline.seconds)


def test_the_parts_of_a_real_step_sum_to_it_and_coverage_is_computed_from_them(
    tiny: dict[str, Any],
) -> None:
    data = tiny["profile"]
    profile = LayerProfile.from_dict(data)
    for index, step in enumerate(profile.step_seconds):
        layers_total = sum(layer.total_seconds[index] for layer in profile.layers)
        categories = {c.name: c.seconds[index] for c in profile.categories}
        busy = layers_total + sum(
            seconds for name, seconds in categories.items() if name not in ("launch", "between ops")
        )
        assert busy <= step * (1 + 1e-9)
        # Launch and between ops are the rest of the step: nothing is lost or counted twice.
        assert busy + categories["launch"] + categories["between ops"] == pytest.approx(step)
        covered = layers_total + sum(c.seconds[index] for c in profile.categories if c.covered)
        assert data["coverage_samples"][index] == pytest.approx(covered / step)
    assert 0 < profile.coverage_samples[0] < 1
    # Python between the operators is not charged to any part.
    between = profile.category("between ops")
    assert between is not None and all(s > 0 for s in between.seconds)


def test_the_window_trains_its_steps_and_leaves_the_model_as_fit_does(
    tiny: dict[str, Any],
) -> None:
    assert tiny["trained"] == 1 + 1 + 3
    assert tiny["instrumentation_left"] == []
    assert tiny["training_mode"] is False


def test_a_step_compiled_with_torch_compile_is_not_profiled_and_says_why(
    tiny: dict[str, Any],
) -> None:
    compiled = LayerProfile.from_dict(tiny["compiled"])
    assert compiled.steps == 0
    assert compiled.notes == (torch_backend.COMPILED,)
    assert torch_backend.COMPILED == (
        "Per-layer timing skipped: the train step is compiled with torch.compile "
        "(jit_compile=True), whose compiled graphs do not run through the layers' calls that "
        "the profiled window names, so their time is not charged to layers. Train with "
        "--cnnperf-jit=off to get the table."
    )


PROJECT = textwrap.dedent(
    """
    import pytest_cnnperf


    def small_cnn(input_shape, num_classes):
        from pytest_cnnperf.backends.imports import import_keras
        keras = import_keras()
        return keras.Sequential(
            [
                keras.Input(input_shape),
                keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
                keras.layers.MaxPooling2D(2, name="pool"),
                keras.layers.Flatten(name="flatten"),
                keras.layers.Dense(16, activation="relu", name="hidden"),
                keras.layers.Dense(num_classes, activation="softmax", name="head"),
            ],
            name="small_cnn",
        )


    @pytest_cnnperf.model(small_cnn)
    @pytest_cnnperf.dataset("synthetic", train_size=256, test_size=64,
                            input_shape=(8, 8, 1), num_classes=2)
    def test_small(cnnperf, cnnperf_model, cnnperf_dataset):
        cnnperf.train(cnnperf_model, cnnperf_dataset, epochs=2, batch_size=32, layer_steps=4)
    """
)


def test_a_torch_run_prints_the_per_layer_table_and_writes_it_to_the_json(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    pytester.makepyfile(test_layers=PROJECT)
    pytester.makeini("[pytest]\ncnnperf_windows = 0\n")
    result = pytester.runpytest_subprocess(
        "--color=no", "--cnnperf-backend=torch", "--cnnperf-json=out.json"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "test_layers.py::test_small[[]small_cnn-synthetic[]]: time per layer*",
            "*layer*type*output*params*fwd ms*bwd ms*opt ms*share*GFLOP/s*",
            "*conv*Conv2D*6x6x4*40*",
            "*pool*MaxPooling2D*",
            "*flatten*Flatten*",
            "*hidden*Dense*16*",
            "*head*Dense*2*34*",
            "*loss and metrics*",
            "*input pipeline*",
            "*launch*not covered*",
            "*between ops*not covered*",
            "Coverage *% of the step (median of 4 profiled steps of *",
        ]
    )
    (test,) = json.loads((pytester.path / "out.json").read_text())["tests"]
    (run,) = test["runs"]
    assert run["layers"]["steps"] == 4
    assert [layer["name"] for layer in run["layers"]["layers"]] == list(LAYERS)
    assert {f"layer_seconds/{name}" for name in LAYERS} <= set(test["metrics"])
