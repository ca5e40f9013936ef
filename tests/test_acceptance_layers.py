"""Acceptance tests of per-layer timing, through pytester subprocess runs with real profiles."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest
from test_acceptance_baselines import quiet_noise

#: A small CNN with one layer that does extra work when SLOW_WORK is set: the
#: layer named "busy" chains 256x256 matrix products fed by its input, so no
#: graph optimisation can fold them away. Everything else stays the same.
PROJECT = textwrap.dedent(
    """
    import os

    import pytest_cnnperf


    def layered_cnn(input_shape, num_classes, work=0):
        from pytest_cnnperf.backends.imports import import_keras, import_tensorflow
        keras = import_keras()
        tf = import_tensorflow()

        class Busy(keras.layers.Layer):
            def call(self, x):
                if not work:
                    return x
                m = tf.ones((256, 256)) * tf.reduce_mean(x) * 1e-3
                acc = m
                for _ in range(work):
                    acc = tf.matmul(acc, m)
                return x + 0.0 * tf.reduce_sum(acc)

        return keras.Sequential(
            [
                keras.Input(input_shape),
                keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
                Busy(name="busy"),
                keras.layers.MaxPooling2D(2, name="pool"),
                keras.layers.Flatten(name="flatten"),
                keras.layers.Dense(32, activation="relu", name="hidden"),
                keras.layers.Dense(num_classes, activation="softmax", name="head"),
            ],
            name="layered_cnn",
        )


    WORK = int(os.environ.get("SLOW_WORK", "0"))


    @pytest_cnnperf.model(layered_cnn, model_options={"work": WORK})
    @pytest_cnnperf.dataset("synthetic", train_size=512, test_size=64,
                            input_shape=(16, 16, 1), num_classes=2)
    def test_layered(cnnperf, cnnperf_model, cnnperf_dataset):
        cnnperf.train(cnnperf_model, cnnperf_dataset, epochs=5, batch_size=32, layer_steps=12)
    """
)

NODE = "test_layers.py::test_layered[layered_cnn-synthetic]"
NODE_PATTERN = "test_layers.py::test_layered[[]layered_cnn-synthetic[]]"
LAYERS = ("conv", "busy", "pool", "flatten", "hidden", "head")


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_layers=PROJECT)
    return pytester


def run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, work: int, *args: str
) -> pytest.RunResult:
    monkeypatch.setenv("SLOW_WORK", str(work))
    return pytester.runpytest_subprocess("--color=no", *args)


def layers_block(path: Any) -> dict[str, Any]:
    (test,) = json.loads(path.read_text())["tests"]
    (only,) = test["runs"]
    block: dict[str, Any] = only["layers"]
    return block


def test_the_per_layer_table_is_shown_by_default_and_reaches_the_json(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(project, monkeypatch, 0, "--cnnperf-json=out.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"{NODE_PATTERN}: time per layer*",
            "*layer*type*output*params*fwd ms*bwd ms*opt ms*share*GFLOP/s*",
            "*conv*Conv2D*14x14x8*80*",
            "*busy*Busy*",
            "*head*Dense*2*66*",
            "*between ops*not covered*",
            "Coverage *% of the step (median of 12 profiled steps of *, after 4 unprofiled steps)*",
        ]
    )
    block = layers_block(project.path / "out.json")
    assert [layer["name"] for layer in block["layers"]] == list(LAYERS)
    assert block["steps"] == 12 and len(block["step_seconds"]) == 12
    assert 0 < block["coverage"] <= 1
    conv = block["layers"][0]
    assert conv["forward_flops"] == 2 * 14 * 14 * 8 * 1 * 9 * 32
    (test,) = json.loads((project.path / "out.json").read_text())["tests"]
    assert set(test["metrics"]) >= {f"layer_seconds/{name}" for name in ("conv", "hidden", "head")}


def test_layers_off_shows_no_table(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(project, monkeypatch, 0, "--cnnperf-layers=off", "--cnnperf-json=out.json")
    result.assert_outcomes(passed=1)
    assert "time per layer" not in result.stdout.str()
    (test,) = json.loads((project.path / "out.json").read_text())["tests"]
    assert test["runs"][0]["layers"] is None
    assert not [name for name in test["metrics"] if name.startswith("layer_seconds")]


def test_layers_off_in_the_ini_file(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makeini("[pytest]\ncnnperf_layers = off\n")
    result = run(project, monkeypatch, 0)
    result.assert_outcomes(passed=1)
    assert "time per layer" not in result.stdout.str()


def test_a_bad_layers_value_is_refused(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(project, monkeypatch, 0, "--cnnperf-layers=maybe")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--cnnperf-layers: expected one of on, off, got 'maybe'*"])


def test_a_slowed_layer_is_named_in_the_regression(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A few products at baseline, so that the layer has a time to grow from.
    run(project, monkeypatch, 4, "--cnnperf-update-baselines").assert_outcomes(passed=1)
    (stored,) = (project.path / "baselines").glob("*.json")
    entry = json.loads(stored.read_text())["entries"][NODE]
    assert "layer_seconds/busy" in entry["metrics"]
    assert len(entry["metrics"]["layer_seconds/busy"]["samples"]) == 12
    quiet_noise(stored)

    slow = run(project, monkeypatch, 150, "--cnnperf-json=slow.json")
    slow.assert_outcomes(failed=1)
    slow.stdout.fnmatch_lines(
        [
            f"Training performance of {NODE_PATTERN} regressed:",
            "  step_time: measured * kernel units (1 run), baseline * kernel units (3 runs), *",
            "    windows: this run *; baseline *",
            "Layers whose time grew beyond the tolerance (layer_seconds, 12 and 12 profiled st*",
            "  busy: * ms -> * ms per step, *x (90% interval *x to *x)",
        ],
        consecutive=True,
    )
    (test,) = json.loads((project.path / "slow.json").read_text())["tests"]
    named = test["comparison"]["named_parts"]
    # The slowed layer, and no bystander of a material size.
    assert named[0] == "layer_seconds/busy"
    assert "layer_seconds/conv" not in named and "layer_seconds/hidden" not in named


def test_a_test_can_turn_layers_off_for_itself(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(
        test_layers=PROJECT.replace(
            "def test_layered(", "@pytest.mark.cnnperf(layers=False)\ndef test_layered("
        ).replace("import os\n", "import os\n\nimport pytest\n")
    )
    result = run(project, monkeypatch, 0, "--cnnperf-json=out.json")
    result.assert_outcomes(passed=1)
    assert "time per layer" not in result.stdout.str()
    assert layers_block_or_none(project.path / "out.json") is None


def layers_block_or_none(path: Any) -> Any:
    (test,) = json.loads(path.read_text())["tests"]
    return test["runs"][0]["layers"]
