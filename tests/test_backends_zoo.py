"""The model zoo on Keras' JAX and PyTorch backends: the contract's counts, and one step.

tests/test_models.py holds the zoo's contract on TensorFlow; this module
builds every model of it at the same input shapes on the other backends and
expects the same parameter counts (``DOCUMENTED_COUNTS`` is read from there,
not copied), then trains each model one step to show that it trains. A
process has one Keras backend for good, so each model is built in a
subprocess with ``KERAS_BACKEND`` set: one per model and backend, which
keeps every test short (the longest, cifar10_bn_cnn on JAX, about 20 s on
two cores: XLA compiles its augmentation layers) and lets xdist spread them.
The 50M+ parameter models keep test_models.py's ``large_model`` marker and
are built only: one training step of alexnet, vgg11 and vgg16 would add
about 17 s on JAX and 8 s on PyTorch on two cores, for no layer type the
smaller models do not train.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import Any

import pytest
from test_models import DOCUMENTED_COUNTS

from pytest_cnnperf.backends import PACKAGES

BACKENDS = ("jax", "torch")


@dataclass(frozen=True)
class Shape:
    """One contract case of a model: its input, classes and counts."""

    input_shape: tuple[int, int, int]
    num_classes: int
    total: int
    non_trainable: int

    @property
    def key(self) -> str:
        return f"{'x'.join(map(str, self.input_shape))}-{self.num_classes}"


def _cases_by_model() -> dict[str, list[Shape]]:
    """The contract grouped by model, in DOCUMENTED_COUNTS' order."""
    grouped: dict[str, list[Shape]] = {}
    for param in DOCUMENTED_COUNTS:
        name, shape, classes, total, non_trainable = param.values
        grouped.setdefault(name, []).append(Shape(tuple(shape), classes, total, non_trainable))
    return grouped


CASES = _cases_by_model()
#: The models test_models.py marks large_model.
LARGE = {
    param.values[0]
    for param in DOCUMENTED_COUNTS
    if any(mark.name == "large_model" for mark in param.marks)
}

# Run by the subprocess: argv[1] is the model, argv[2] the JSON list of
# [input_shape, num_classes] cases, argv[3] "train" (the first case one step)
# or "build".
# The last line of stdout is the JSON of what was built and how training went.
CHILD = textwrap.dedent(
    """
    import json, sys

    import keras
    import numpy as np

    from pytest_cnnperf import models

    name, cases, mode = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    report = {"backend": keras.backend.backend(), "counts": {}}
    for index, (shape, classes) in enumerate(cases):
        model = models.build(name, input_shape=tuple(shape), num_classes=classes)
        key = "x".join(map(str, shape)) + f"-{classes}"
        report["counts"][key] = [
            int(model.count_params()),
            sum(int(np.prod(w.shape)) for w in model.non_trainable_weights),
        ]
        if index == 0 and mode == "train":
            rng = np.random.default_rng(0)
            x = rng.random((2, *shape), dtype=np.float32)
            y = rng.integers(0, classes, size=2)
            before = [np.array(w) for w in model.trainable_weights]
            loss = keras.losses.SparseCategoricalCrossentropy(
                from_logits=models.recipe(name).from_logits
            )
            model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss)
            history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
            after = [np.array(w) for w in model.trainable_weights]
            report["train"] = {
                "shape": key,
                "steps": int(np.array(model.optimizer.iterations)),
                "loss": float(history.history["loss"][-1]),
                "changed_weights": sum(
                    bool(np.any(b != a)) for b, a in zip(before, after)
                ),
                "weights": len(after),
            }
        del model
        keras.backend.clear_session()
    print(json.dumps(report))
    """
)


def _run_child(backend: str, name: str, shapes: list[Shape], mode: str) -> dict[str, Any]:
    if importlib.util.find_spec(PACKAGES[backend]) is None:
        pytest.skip(
            f"{PACKAGES[backend]} is not installed; pip install 'pytest-cnnperf[{backend}]' "
            "runs these tests"
        )
    cases = [[list(shape.input_shape), shape.num_classes] for shape in shapes]
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run(
        [sys.executable, "-c", CHILD, name, json.dumps(cases), mode],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"Building or training {name} on the {backend} backend failed "
            f"(exit code {result.returncode}):\n{result.stderr[-4000:]}",
            pytrace=False,
        )
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend
    return report


def _params() -> list[Any]:
    return [
        pytest.param(
            backend,
            name,
            marks=[pytest.mark.large_model] if name in LARGE else [],
            id=f"{backend}-{name}",
        )
        for backend in BACKENDS
        for name in CASES
    ]


@pytest.mark.backend_zoo
@pytest.mark.parametrize(("backend", "name"), _params())
def test_zoo_model_has_the_contract_counts_and_trains(backend: str, name: str) -> None:
    shapes = CASES[name]
    large = name in LARGE
    report = _run_child(backend, name, shapes, "build" if large else "train")
    assert report["counts"] == {shape.key: [shape.total, shape.non_trainable] for shape in shapes}
    if large:
        assert "train" not in report
        return
    train = report["train"]
    assert train["shape"] == shapes[0].key
    assert train["steps"] == 1
    assert math.isfinite(train["loss"])
    # One SGD step moves the weights; a backend that ran no backward pass would not.
    assert train["changed_weights"] == train["weights"]
