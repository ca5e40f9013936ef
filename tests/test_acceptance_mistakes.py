"""Acceptance tests: a user's mistake fails the test with one clear message.

Never a traceback through the plugin's code, never the same message twice
(as happens when ``pytest.fail`` is called while another exception is being
handled). One pytester run holds every mistake that needs no special option,
so that TensorFlow starts once for all of them.
"""

from __future__ import annotations

import re
import textwrap

import pytest

from pytest_cnnperf.models import names as model_names

PROJECT = textwrap.dedent(
    """
    import numpy as np
    import pytest
    import pytest_cnnperf


    def tiny(input_shape, num_classes):
        from pytest_cnnperf.backends.imports import import_keras
        keras = import_keras()
        return keras.Sequential(
            [keras.Input(input_shape), keras.layers.Flatten(),
             keras.layers.Dense(num_classes, activation="softmax")],
            name="tiny",
        )


    def three_units(input_shape):
        from pytest_cnnperf.backends.imports import import_keras
        keras = import_keras()
        return keras.Sequential(
            [keras.Input(input_shape), keras.layers.Flatten(),
             keras.layers.Dense(3, activation="softmax")],
            name="three_units",
        )


    def not_a_model(input_shape, num_classes):
        return None


    def good():
        rng = np.random.default_rng(0)
        x = rng.integers(0, 255, size=(400, 8, 8, 1), dtype=np.uint8)
        y = np.arange(400) % 10
        return x[:300], y[:300], x[300:], y[300:]


    def returns_list():
        return list(good())


    def two_shapes():
        x_train, y_train, x_test, y_test = good()
        return x_train, y_train, x_test[:, :4], y_test


    def bad_labels():
        x_train, y_train, x_test, y_test = good()
        y_test = y_test.copy()
        y_test[:3] = 12
        return x_train, y_train, x_test, y_test


    def too_few_labels():
        x_train, y_train, x_test, y_test = good()
        return x_train, y_train[:200], x_test, y_test


    def fractional_labels():
        x_train, y_train, x_test, y_test = good()
        return x_train, y_train + 0.5, x_test, y_test


    SYNTHETIC = dict(train_size=64, test_size=32, input_shape=(8, 8, 1), num_classes=2)
    """
)

#: (test name, the test's source, the message it must fail with).
MISTAKES: list[tuple[str, str, str]] = [
    (
        "test_epochs_zero",
        """
        @pytest_cnnperf.model(tiny)
        @pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
        def test_epochs_zero(cnnperf, cnnperf_model, cnnperf_dataset):
            cnnperf.train(cnnperf_model, cnnperf_dataset, epochs=0)
        """,
        "Expected epochs to be a whole number of at least 1. Received: epochs=0",
    ),
    (
        "test_unknown_model",
        """
        @pytest_cnnperf.model("lenett5")
        @pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
        def test_unknown_model(cnnperf_model):
            pass
        """,
        "Unknown model 'lenett5'. Did you mean 'lenet5'? Known models: "
        + ", ".join(model_names())
        + ".",
    ),
    (
        "test_option_typo",
        """
        @pytest_cnnperf.dataset("mnist", splitt="test")
        def test_option_typo(cnnperf_dataset):
            pass
        """,
        "Expected only the options 'mnist' accepts (split). Received: splitt='test'. "
        "Did you mean 'split'?",
    ),
    (
        "test_data_set_typo",
        """
        @pytest_cnnperf.dataset("mnistt")
        def test_data_set_typo(cnnperf_dataset):
            pass
        """,
        "Expected a data set name among mnist, fashion_mnist, cifar10, cifar100, svhn, "
        "image_folder, synthetic. Received: name='mnistt'. Did you mean 'mnist'?",
    ),
    (
        "test_session_data_option",
        """
        @pytest_cnnperf.dataset("mnist", seed=3)
        def test_session_data_option(cnnperf_dataset):
            pass
        """,
        "@pytest_cnnperf.dataset('mnist') cannot set seed: the session sets it with "
        "--cnnperf-seed. Received: seed=3",
    ),
    (
        "test_loader_returns_a_list",
        """
        @pytest_cnnperf.dataset(returns_list)
        def test_loader_returns_a_list(cnnperf_dataset):
            pass
        """,
        "The data set loader 'returns_list' must return a pytest_cnnperf.datasets.Dataset or a "
        "tuple (x_train, y_train, x_test, y_test). Received: list",
    ),
    (
        "test_loader_images_of_two_shapes",
        """
        @pytest_cnnperf.dataset(two_shapes)
        def test_loader_images_of_two_shapes(cnnperf_dataset):
            pass
        """,
        "The data set loader 'two_shapes' must return NHWC images of one shape. "
        "Received: x_train.shape=(300, 8, 8, 1), x_test.shape=(100, 4, 8, 1)",
    ),
    (
        "test_loader_labels_out_of_range",
        """
        @pytest_cnnperf.model(tiny)
        @pytest_cnnperf.dataset(bad_labels)
        def test_loader_labels_out_of_range(cnnperf, cnnperf_model, cnnperf_dataset):
            cnnperf.train(cnnperf_model, cnnperf_dataset)
        """,
        "The data set loader 'bad_labels' returned test labels outside [0, 10): found 12 "
        "(3 labels). Expected class ids from 0 to 9: the number of classes, 10, is the largest "
        "training label plus one. Return a pytest_cnnperf.datasets.Dataset with num_classes set "
        "if some classes have no training images.",
    ),
    (
        "test_loader_too_few_labels",
        """
        @pytest_cnnperf.dataset(too_few_labels)
        def test_loader_too_few_labels(cnnperf_dataset):
            pass
        """,
        "The data set loader 'too_few_labels' returned 300 training images but 200 training "
        "labels. Expected one label per image.",
    ),
    (
        "test_loader_fractional_labels",
        """
        @pytest_cnnperf.dataset(fractional_labels)
        def test_loader_fractional_labels(cnnperf_dataset):
            pass
        """,
        "The data set loader 'fractional_labels' returned training labels that are not whole "
        "numbers: found 0.5, 1.5, 2.5, ... (300 labels). Expected integer class ids.",
    ),
    (
        "test_loader_option",
        """
        @pytest_cnnperf.dataset(good, classes=3)
        def test_loader_option(cnnperf_dataset):
            pass
        """,
        "The data set loader 'good' cannot be called with the options given to "
        "@pytest_cnnperf.dataset (got an unexpected keyword argument 'classes'). "
        "Received: classes=3",
    ),
    (
        "test_builder_output_units",
        """
        @pytest_cnnperf.model(three_units)
        @pytest_cnnperf.dataset(good)
        def test_builder_output_units(cnnperf, cnnperf_model, cnnperf_dataset):
            cnnperf.train(cnnperf_model, cnnperf_dataset)
        """,
        "The model built by 'three_units' has 3 output units, but the data set 'good' has 10 "
        "classes. Expected one output unit per class: 'three_units' takes no num_classes "
        "argument; add one and give the last layer num_classes units.",
    ),
    (
        "test_builder_returns_no_model",
        """
        @pytest_cnnperf.model(not_a_model)
        @pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
        def test_builder_returns_no_model(cnnperf_model):
            pass
        """,
        "The model builder 'not_a_model' must return a keras.Model. Received: NoneType",
    ),
    (
        "test_plain_model_output_units",
        """
        @pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
        def test_plain_model_output_units(cnnperf, cnnperf_dataset):
            cnnperf.train(three_units((8, 8, 1)), cnnperf_dataset)
        """,
        "The model 'three_units' has 3 output units, but the data set 'synthetic' has 2 "
        "classes. Expected one output unit per class.",
    ),
    (
        "test_train_without_a_model",
        """
        @pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
        def test_train_without_a_model(cnnperf, cnnperf_dataset):
            cnnperf.train("lenet5", cnnperf_dataset)
        """,
        "Expected the cnnperf_model fixture or a keras.Model. Received: model=str",
    ),
    (
        "test_train_without_a_data_set",
        """
        @pytest_cnnperf.model(tiny)
        @pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
        def test_train_without_a_data_set(cnnperf, cnnperf_model):
            cnnperf.train(cnnperf_model, "mnist")
        """,
        "Expected the cnnperf_dataset fixture or a pytest_cnnperf.datasets.Dataset. "
        "Received: dataset=str",
    ),
    (
        "test_accuracy_threshold_in_percent",
        """
        def test_accuracy_threshold_in_percent(cnnperf):
            cnnperf.check_accuracy(None, at_least=90)
        """,
        "Expected at_least to be a fraction from 0 to 1. Received: at_least=90",
    ),
    (
        "test_model_option_typo",
        """
        @pytest_cnnperf.model("lenet5", model_options={"dropout": 0.5})
        @pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
        def test_model_option_typo(cnnperf_model):
            pass
        """,
        "Could not build 'lenet5': Model 'lenet5' has no option 'dropout'. It takes no options "
        "besides input_shape and num_classes. Received: dropout=0.5",
    ),
]


def assert_said_once(output: str, message: str) -> None:
    """``message`` is in ``output`` once, with no traceback and no chained exception."""
    # The short test summary repeats the start of each message, cut at the
    # terminal's width; it is pytest's one-line index, not a repetition.
    body = output.split("short test summary info")[0]
    assert body.count(message) == 1, f"expected once: {message!r}\n{output}"
    assert "During handling of the above exception" not in output, output
    assert "The above exception was the direct cause" not in output, output
    assert "Traceback" not in output, output
    # No frame of the plugin's own code is shown.
    assert "pytest_cnnperf/" not in output, output


def sections(output: str) -> dict[str, str]:
    """The report of each failed test, by test name (parameters dropped)."""
    parts = re.split(r"^_{3,} (?:ERROR at setup of )?(test_\w+)\S* _{3,}$", output, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_each_mistake_fails_its_test_with_one_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_mistakes=PROJECT + "".join(textwrap.dedent(body) for _, body, _ in MISTAKES)
    )
    result = pytester.runpytest_subprocess("--color=no", "--cnnperf-offline")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == len(MISTAKES), outcomes
    output = result.stdout.str() + result.stderr.str()
    reports = sections(result.stdout.str())
    for name, _, message in MISTAKES:
        assert message in reports.get(name, ""), f"{name}: {message!r} not in its report"
        assert_said_once(output, message)


def test_device_index_beyond_the_devices_fails_cleanly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_device=PROJECT
        + textwrap.dedent(
            """
            @pytest_cnnperf.model(tiny)
            @pytest_cnnperf.dataset("synthetic", **SYNTHETIC)
            def test_device(cnnperf, cnnperf_model, cnnperf_dataset):
                pass
            """
        )
    )
    result = pytester.runpytest_subprocess("--color=no", "--cnnperf-device=99")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "--cnnperf-device 99 asks for CPU:99, but TensorFlow sees * CPU device* (indices 0 "
            "to *). Expected an index below *. Received: --cnnperf-device=99",
        ]
    )
    assert_said_once(result.stdout.str() + result.stderr.str(), "--cnnperf-device 99 asks for")


KERAS_CONVERSION = textwrap.dedent(
    """
    def test_converts_a_tensor():
        from pytest_cnnperf.backends.imports import import_keras

        keras = import_keras()
        variable = keras.Variable([1.0])  # a tf.Variable's __array__ takes no copy keyword
        assert keras.ops.convert_to_numpy(variable).tolist() == [1.0]
    """
)


@pytest.mark.parametrize("plugin", ["on", "off"])
def test_keras_numpy_2_conversion_warning_is_left_out_of_the_output(
    pytester: pytest.Pytester, plugin: str
) -> None:
    # Keras' TensorFlow backend converts a variable with np.array(variable),
    # which NumPy 2 warns about; without the plugin the warning is in the summary.
    pytester.makepyfile(test_conversion=KERAS_CONVERSION)
    options = ["--color=no", "-p", "no:randomly"]
    if plugin == "off":
        options += ["-p", "no:cnnperf"]
    result = pytester.runpytest_subprocess(*options)
    result.assert_outcomes(passed=1)
    output = result.stdout.str()
    if plugin == "on":
        assert "copy keyword" not in output
    else:
        warning = "DeprecationWarning: __array__ implementation doesn't accept a copy keyword"
        assert warning in output
