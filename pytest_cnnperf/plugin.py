"""pytest-cnnperf's entry point: options, hooks and fixtures, nothing else.

Loading this module must cost nothing: it imports no TensorFlow, Keras,
NumPy, pynvml or rich. The heavy parts are imported by the fixtures that need
them. The session object, the terminal summary and (with ``--cnnperf-json``)
the JSON writer are registered for every run; they do nothing until a test
uses cnnperf, and the metric registry and the outcome model are imported only
then.

PYTEST_DONT_REWRITE: loaded in every pytest run, so pytest must not parse and
recompile it for assertion rewriting each time.
"""

from __future__ import annotations

import argparse
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cnnperf import options
from pytest_cnnperf.config import CONFIG_KEY, CnnperfConfig, registry_for
from pytest_cnnperf.markers import (
    SETTINGS,
    DatasetSpec,
    ModelSpec,
    SettingsError,
    collect_settings,
    resolve_profiled,
)
from pytest_cnnperf.session import (
    CONFIRM_KEY,
    OUTCOME_KEY,
    REPORT_PROPERTY,
    SETTINGS_KEY,
    CnnperfSession,
    is_worker,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from pytest_cnnperf.building import ModelUnderTest
    from pytest_cnnperf.datasets import Dataset
    from pytest_cnnperf.results import AccuracyCheck, TrainResult
    from pytest_cnnperf.runner import Runner
    from pytest_cnnperf.runtime import Runtime

SESSION_PLUGIN_NAME = "cnnperf-session"
SIDE_BY_SIDE_PLUGIN_NAME = "cnnperf-side-by-side"
SESSIONS_PLUGIN_NAME = "cnnperf-sessions"
CNNPERF_FIXTURES = frozenset({"cnnperf", "cnnperf_model", "cnnperf_dataset"})
#: NumPy 2's warning about Keras' ``np.array(tensor)``, left out of every run's output.
KERAS_NUMPY_WARNING = (
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

# ---------------------------------------------------------------------------
# options and configuration
# ---------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    """Decide the Keras backend before a conftest.py can import Keras."""
    name = getattr(early_config.known_args_namespace, "cnnperf_backend", None)
    if name is None:
        raw = early_config.getini("cnnperf_backend")
        if not raw:
            return
        try:
            name = options.parse_backend(str(raw))
        except argparse.ArgumentTypeError as exc:
            raise pytest.UsageError(f"ini option cnnperf_backend = {raw!r}: {exc}") from None
    _select_backend(name)


#: ``--cnnperf-steps-from``'s window shape of each test, read at start.
STEPS_KEY = pytest.StashKey[dict[str, Any]]()


def _window_shapes(config: pytest.Config, path: Any) -> dict[str, Any]:
    """Each test's window shape in the results file ``path``, or the usage error."""
    from pytest_cnnperf.jsonreport import ResultsError
    from pytest_cnnperf.samesteps import shapes_from

    try:
        return dict(shapes_from(path, registry_for(config)))
    except ResultsError as exc:
        raise pytest.UsageError(f"argument --cnnperf-steps-from: {exc}") from None


def _select_backend(name: str) -> None:
    """Make ``name`` this process's Keras backend, or stop with the usage error."""
    from pytest_cnnperf import backends

    try:
        backends.select(name)
    except backends.BackendError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_cnnperf import hookspec

    pluginmanager.add_hookspecs(hookspec)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cnnperf(**settings): pytest-cnnperf settings for this test "
        "(epochs, warmup_epochs, batch_size, learning_rate, steps_per_epoch, repeats, "
        "tolerance_<metric>)",
    )
    cfg = CnnperfConfig.from_pytest_config(config)
    config.stash[CONFIG_KEY] = cfg
    if cfg.backends and not is_worker(config):
        # --cnnperf-backends: this process runs no test, but one pytest process
        # per backend, and sets their results side by side (sidebyside.py).
        from pytest_cnnperf.sidebyside import take_over

        config.pluginmanager.register(take_over(config, cfg), SIDE_BY_SIDE_PLUGIN_NAME)
        return
    _select_backend(cfg.backend)
    if cfg.backend != "tensorflow" and not hasattr(config, "workerinput"):
        from pytest_cnnperf.backends import not_installed

        missing = not_installed(cfg.backend)
        if missing:
            raise pytest.UsageError(missing)
    # Keras converts tensors with np.array(tensor) (``convert_to_numpy``) on
    # every backend, TensorFlow's included, and NumPy 2 warns about it each
    # time: the warning is Keras', not the test's.
    config.addinivalue_line("filterwarnings", KERAS_NUMPY_WARNING)
    if cfg.gpu and not hasattr(config, "workerinput"):
        # Only --cnnperf-gpu pays for importing the backend at start-up.
        from pytest_cnnperf import backends, devices

        backend = backends.current()
        problem = backend.devices.missing_gpu_message() or devices.too_many_workers(
            config.getoption("numprocesses", None),
            backend.devices.gpu_count(),
            backends.FRAMEWORKS[backend.name],
        )
        if problem:
            raise pytest.UsageError(problem)
    if cfg.steps_from is not None:
        config.stash[STEPS_KEY] = _window_shapes(config, cfg.steps_from)
    config.pluginmanager.register(CnnperfSession(config, cfg), SESSION_PLUGIN_NAME)
    if not is_worker(config):
        # The process that writes files also reports: its outputs are
        # implementations of pytest_cnnperf_session_finish (see hookspec).
        from pytest_cnnperf.report import TerminalSummary

        config.pluginmanager.register(TerminalSummary(config), "cnnperf-terminal-summary")
        if cfg.json_path is not None:
            from pytest_cnnperf.jsonreport import JsonReport

            config.pluginmanager.register(
                JsonReport(config, cfg, cfg.json_path), "cnnperf-json-report"
            )
        if cfg.sessions is not None:
            # --cnnperf-sessions: this process runs no test, but one pytest process
            # per session, and accepts their runs together (acceptsessions.py).
            from pytest_cnnperf import acceptsessions

            config.pluginmanager.register(
                acceptsessions.take_over(config, cfg), SESSIONS_PLUGIN_NAME
            )


# ---------------------------------------------------------------------------
# per-test recording: results ride on the report so that they survive xdist
# ---------------------------------------------------------------------------


def _uses_cnnperf(item: pytest.Item) -> bool:
    return bool(CNNPERF_FIXTURES.intersection(getattr(item, "fixturenames", ())))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _uses_cnnperf(item):
        return
    from pytest_cnnperf.baselines.tolerances import known_settings
    from pytest_cnnperf.outcome import TestOutcome

    item.stash[OUTCOME_KEY] = TestOutcome(item.nodeid)
    known = {**SETTINGS, **known_settings(registry_for(item.config))}
    try:
        item.stash[SETTINGS_KEY] = collect_settings(item.iter_markers("cnnperf"), known)
    except SettingsError as exc:
        problem = f"{item.nodeid}: {exc}"
    else:
        return
    # Failing outside the except block keeps pytest from printing the message
    # a second time, as the exception being handled.
    pytest.fail(problem, pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    outcome = yield
    if OUTCOME_KEY in item.stash:
        session = item.config.pluginmanager.get_plugin(SESSION_PLUGIN_NAME)
        assert isinstance(session, CnnperfSession)
        session.judge(item)  # may fail the test, without a traceback
    return outcome


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    outcome = item.stash.get(OUTCOME_KEY, None)
    if outcome is not None and (
        report.when == "call" or (report.failed and report.when == "setup")
    ):
        from pytest_cnnperf.baselines import Verdict

        if report.failed:
            # A verdict given after the test body (regressed, say) stands even
            # though it failed the test; a test that failed before one is 'failed'.
            verdict = outcome.verdict or Verdict.FAILED
            failure = _failure_text(call)
        else:
            verdict, failure = outcome.verdict or Verdict.PASS, None
        outcome = outcome.replace(verdict=verdict, failure=failure)
        item.stash[OUTCOME_KEY] = outcome
        report.user_properties.append((REPORT_PROPERTY, outcome.to_dict()))
    return report


def _failure_text(call: pytest.CallInfo[None]) -> str | None:
    """The first lines of what failed the test, for the results JSON."""
    if call.excinfo is None:
        return None
    text = str(call.excinfo.value).strip() or call.excinfo.typename
    lines = text.splitlines()
    return "\n".join(lines[:20]) + ("\n..." if len(lines) > 20 else "")


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
    outcome = request.node.stash.get(OUTCOME_KEY, None)
    if outcome is not None:
        name = "model" if kind is ModelSpec else "dataset"
        request.node.stash[OUTCOME_KEY] = outcome.replace(**{name: spec.name})
    return spec


@pytest.fixture(scope="session")
def cnnperf_runtime(request: pytest.FixtureRequest) -> Runtime:
    """The process's backend set-up: device pinning, precision, determinism."""
    from pytest_cnnperf.backends import BackendError
    from pytest_cnnperf.devices import DeviceError
    from pytest_cnnperf.runtime import initialize_runtime

    worker_id = getattr(request.config, "workerinput", {}).get("workerid")
    try:
        return initialize_runtime(request.config.stash[CONFIG_KEY], worker_id)
    except (DeviceError, BackendError) as exc:
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

    node = request.node
    stash = node.stash

    def add_run(run: TrainResult) -> None:
        stash[OUTCOME_KEY] = stash[OUTCOME_KEY].with_run(run)

    def add_check(check: AccuracyCheck) -> None:
        stash[OUTCOME_KEY] = stash[OUTCOME_KEY].with_check(check)

    def add_confirmation(confirm: Callable[[], list[TrainResult]]) -> None:
        stash[CONFIRM_KEY] = confirm

    shape = request.config.stash.get(STEPS_KEY, {}).get(node.nodeid)
    return Runner(
        request.config.stash[CONFIG_KEY],
        cnnperf_runtime,
        stash[SETTINGS_KEY],
        on_result=add_run,
        on_check=add_check,
        on_confirmable=add_confirmation,
        window_shape=shape,
    )
