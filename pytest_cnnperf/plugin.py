"""pytest-cnnperf's entry point: options, hooks and fixtures, nothing else.

Loading this module must cost nothing: it imports no TensorFlow, Keras,
NumPy, pynvml or rich. The heavy parts are imported by the fixtures that need
them, and the session object is registered only for a run that uses it.

PYTEST_DONT_REWRITE: loaded in every pytest run, so pytest must not parse and
recompile it for assertion rewriting each time.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cnnperf import options
from pytest_cnnperf.config import CONFIG_KEY, CnnperfConfig
from pytest_cnnperf.markers import (
    DatasetSpec,
    ModelSpec,
    SettingsError,
    collect_settings,
    resolve_profiled,
)
from pytest_cnnperf.session import (
    RECORD_KEY,
    REPORT_PROPERTY,
    CnnperfSession,
    ItemRecorder,
)

if TYPE_CHECKING:
    from pytest_cnnperf.building import ModelUnderTest
    from pytest_cnnperf.datasets import Dataset
    from pytest_cnnperf.runner import Runner
    from pytest_cnnperf.runtime import Runtime

SESSION_PLUGIN_NAME = "cnnperf-session"
CNNPERF_FIXTURES = frozenset({"cnnperf", "cnnperf_model", "cnnperf_dataset"})

# ---------------------------------------------------------------------------
# options and configuration
# ---------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cnnperf(**settings): pytest-cnnperf settings for this test "
        "(epochs, warmup_epochs, batch_size, learning_rate, steps_per_epoch, repeats, "
        "tolerance_*)",
    )
    cfg = CnnperfConfig.from_pytest_config(config)
    config.stash[CONFIG_KEY] = cfg
    if cfg.gpu and not hasattr(config, "workerinput"):
        # Only --cnnperf-gpu pays for importing TensorFlow at start-up.
        from pytest_cnnperf import devices
        from pytest_cnnperf.backend import import_tensorflow

        problem = devices.missing_gpu_message(import_tensorflow())
        if problem:
            raise pytest.UsageError(problem)
    config.pluginmanager.register(CnnperfSession(config, cfg), SESSION_PLUGIN_NAME)


# ---------------------------------------------------------------------------
# per-test recording: results ride on the report so that they survive xdist
# ---------------------------------------------------------------------------


def _uses_cnnperf(item: pytest.Item) -> bool:
    return bool(CNNPERF_FIXTURES.intersection(getattr(item, "fixturenames", ())))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _uses_cnnperf(item):
        return
    try:
        settings = collect_settings(item.iter_markers("cnnperf"))
    except SettingsError as exc:
        problem = f"{item.nodeid}: {exc}"
    else:
        item.stash[RECORD_KEY] = ItemRecorder(item.nodeid, settings)
        return
    # Failing outside the except block keeps pytest from printing the message
    # a second time, as the exception being handled.
    pytest.fail(problem, pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    outcome = yield
    recorder = item.stash.get(RECORD_KEY, None)
    if recorder is not None:
        session = item.config.pluginmanager.get_plugin(SESSION_PLUGIN_NAME)
        assert isinstance(session, CnnperfSession)
        session.judge(item, recorder)  # may fail the test, without a traceback
    return outcome


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    recorder = item.stash.get(RECORD_KEY, None)
    if recorder is not None and (
        report.when == "call" or (report.failed and report.when == "setup")
    ):
        record = recorder.record(failed=report.failed)
        report.user_properties.append((REPORT_PROPERTY, record.to_dict()))
    return report


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------


def _named_param(request: pytest.FixtureRequest, kind: type[Any], fixture: str, hint: str) -> Any:
    """The spec a ``@model``/``@dataset`` decorator gave this test, or a clear failure."""
    spec = getattr(request, "param", None)
    if not isinstance(spec, kind):
        pytest.fail(
            f"{request.node.nodeid} uses {fixture} without naming {hint}",
            pytrace=False,
        )
    recorder = request.node.stash.get(RECORD_KEY, None)
    if recorder is not None:
        setattr(recorder, "model" if kind is ModelSpec else "dataset", spec.name)
    return spec


@pytest.fixture(scope="session")
def cnnperf_runtime(request: pytest.FixtureRequest) -> Runtime:
    """The process's TensorFlow set-up: device pinning, precision, determinism."""
    from pytest_cnnperf.devices import DeviceError
    from pytest_cnnperf.runtime import initialize_runtime

    worker_id = getattr(request.config, "workerinput", {}).get("workerid")
    try:
        return initialize_runtime(request.config.stash[CONFIG_KEY], worker_id)
    except DeviceError as exc:
        problem = str(exc)
    # A failure rather than pytest.UsageError, which pytest reports from a
    # fixture with a traceback. The fixture is session-scoped: pytest keeps
    # this failure and reports it for every test that needs the fixture.
    pytest.fail(problem, pytrace=False)


@pytest.fixture
def cnnperf_dataset(request: pytest.FixtureRequest, cnnperf_runtime: Runtime) -> Dataset:
    """The data set named by ``@pytest_cnnperf.dataset(...)``, loaded once per session."""
    from pytest_cnnperf.building import load_dataset

    spec: DatasetSpec = _named_param(
        request,
        DatasetSpec,
        "cnnperf_dataset",
        'a data set. Decorate the test with @pytest_cnnperf.dataset("mnist") or another name.',
    )
    from pytest_cnnperf.datachecks import DataCheckError
    from pytest_cnnperf.datasets import DatasetError

    try:
        return load_dataset(spec, request.config.stash[CONFIG_KEY])
    except (DatasetError, DataCheckError) as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)  # outside the except block: said once


@pytest.fixture
def cnnperf_model(
    request: pytest.FixtureRequest, cnnperf_dataset: Dataset, cnnperf_runtime: Runtime
) -> ModelUnderTest:
    """The model named by ``@pytest_cnnperf.model(...)``, built for the data set."""
    from pytest_cnnperf.building import build_model
    from pytest_cnnperf.datachecks import DataCheckError
    from pytest_cnnperf.models import UnknownModelError
    from pytest_cnnperf.runtime import seed_everything

    spec: ModelSpec = _named_param(
        request,
        ModelSpec,
        "cnnperf_model",
        'a model. Decorate the test with @pytest_cnnperf.model("lenet5") or a builder function.',
    )
    cfg = request.config.stash[CONFIG_KEY]
    seed_everything(cfg.seed)
    spec = ModelSpec(spec.name, spec.builder, resolve_profiled(spec.options, cfg.device_kind))
    try:
        return build_model(spec, cnnperf_dataset, cnnperf_runtime.placement.device_name)
    except (UnknownModelError, DataCheckError) as exc:
        problem = str(exc)  # names the model already
    except (ValueError, KeyError) as exc:
        problem = f"Could not build {spec.name!r}: {exc}"
    pytest.fail(problem, pytrace=False)  # outside the except block: said once


@pytest.fixture
def cnnperf(request: pytest.FixtureRequest, cnnperf_runtime: Runtime) -> Runner:
    """The runner: ``cnnperf.train(model, dataset, ...)`` and ``cnnperf.check_accuracy``."""
    from pytest_cnnperf.runner import Runner

    recorder: Any = request.node.stash[RECORD_KEY]
    return Runner(
        request.config.stash[CONFIG_KEY],
        cnnperf_runtime,
        recorder.settings,
        on_result=recorder.add_run,
        on_check=recorder.add_check,
    )
