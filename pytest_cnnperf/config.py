"""Options resolved once, at configure time, into a frozen dataclass.

Precedence for every setting: the command line, then the ini key, then the
built-in default. Hooks and fixtures read ``config.stash[CONFIG_KEY]``.

PYTEST_DONT_REWRITE: loaded in every pytest run, so pytest must not parse and
recompile it for assertion rewriting each time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_cnnperf import options as opts

if TYPE_CHECKING:
    from pytest_cnnperf.baselines.tolerances import ToleranceOverrides
    from pytest_cnnperf.metrics import MetricRegistry


@dataclass(frozen=True)
class CnnperfConfig:
    """Every ``--cnnperf-*`` setting of one pytest session, parsed."""

    gpu: bool
    device_index: int | None
    epochs: int
    seed: int
    deterministic: bool
    precision: str
    json_path: Path | None
    data_dir: Path | None
    data_mode: str
    offline: bool
    rootdir: Path
    baseline_dir: Path
    compare_mode: str
    repeats: int
    update_baselines: bool
    update_reason: str | None
    require_baseline: bool
    strict: bool
    #: Tolerance overrides from the ini file and from the command line, kept
    #: apart because they layer: defaults < ini < command line < marker.
    tolerance_ini: ToleranceOverrides | None = None
    tolerance_cli: ToleranceOverrides | None = None
    #: With update_baselines: accept the tests that finished in an interrupted session.
    update_interrupted: bool = False
    windows: int = 20
    history_path: Path | None = None
    confirm: bool = True
    #: Per-layer timing after the timed windows (``--cnnperf-layers``); docs/layers.md.
    layers: bool = True
    #: XLA compilation of the train step (``--cnnperf-jit``).
    jit: bool = False
    #: The Keras backend of this process (``--cnnperf-backend``, else KERAS_BACKEND).
    backend: str = "tensorflow"
    #: ``--cnnperf-backends``: the backends to run side by side, or None.
    backends: tuple[str, ...] | None = None
    #: ``--cnnperf-sessions``: accept from this many separate pytest processes, or None.
    sessions: int | None = None
    #: ``--cnnperf-steps-from``: the results file whose window shapes each test trains with.
    steps_from: Path | None = None

    @property
    def device_kind(self) -> str:
        return "gpu" if self.gpu else "cpu"

    @classmethod
    def from_pytest_config(cls, config: pytest.Config) -> CnnperfConfig:
        """Resolve the options; raise ``pytest.UsageError`` for a bad ini value.

        In the process that writes files (not an xdist worker) the results
        file and the baseline directory are checked too (``check_paths``).
        """
        # The tolerance spec is not resolved like the others: ini and command
        # line are kept apart, because they layer, and parsed against the
        # session's metrics.
        values = {
            option.dest: _resolve(config, option)
            for option in opts.OPTIONS
            if option.dest != "cnnperf_tolerance"
        }
        tolerance_cli = _tolerance(
            config, config.getoption("cnnperf_tolerance"), "argument --cnnperf-tolerance"
        )
        raw_ini = config.getini("cnnperf_tolerance")
        tolerance_ini = _tolerance(
            config, str(raw_ini) if raw_ini else None, f"ini option cnnperf_tolerance = {raw_ini!r}"
        )
        rootdir = Path(config.rootpath)
        invocation_dir = Path(config.invocation_params.dir)
        # A path on the command line is relative to where pytest was started;
        # one in the ini file is relative to the project root.
        data_dir_base = (
            invocation_dir if config.getoption("cnnperf_data_dir") is not None else rootdir
        )
        baseline_base = (
            invocation_dir if config.getoption("cnnperf_baseline_dir") is not None else rootdir
        )
        gpu = bool(values["cnnperf_gpu"])
        data_mode = values["cnnperf_data"] or ("real" if gpu else "auto")
        cfg = cls(
            gpu=gpu,
            device_index=values["cnnperf_device"],
            epochs=values["cnnperf_epochs"],
            seed=values["cnnperf_seed"],
            deterministic=bool(values["cnnperf_deterministic"]),
            precision=values["cnnperf_precision"],
            json_path=_path(values["cnnperf_json"], invocation_dir),
            data_dir=_path(values["cnnperf_data_dir"], data_dir_base),
            data_mode=data_mode,
            offline=bool(values["cnnperf_offline"]),
            rootdir=rootdir,
            baseline_dir=_path(values["cnnperf_baseline_dir"], baseline_base) or rootdir,
            compare_mode=values["cnnperf_compare"],
            repeats=values["cnnperf_repeats"],
            update_baselines=bool(values["cnnperf_update_baselines"]),
            update_reason=values["cnnperf_update_reason"],
            require_baseline=bool(values["cnnperf_require_baseline"]),
            strict=bool(values["cnnperf_strict"]),
            tolerance_ini=tolerance_ini,
            tolerance_cli=tolerance_cli,
            update_interrupted=bool(values["cnnperf_update_interrupted"]),
            windows=20 if values["cnnperf_windows"] is None else values["cnnperf_windows"],
            history_path=_path(values["cnnperf_history"], invocation_dir),
            confirm=values["cnnperf_confirm"] is not False,
            layers=values["cnnperf_layers"] != "off",
            jit=values["cnnperf_jit"] is True,
            backend=values["cnnperf_backend"] or _environment_backend(),
            backends=values["cnnperf_backends"],
            steps_from=_path(values["cnnperf_steps_from"], invocation_dir),
            sessions=values["cnnperf_sessions"],
        )
        if cfg.update_interrupted and not cfg.update_baselines:
            raise pytest.UsageError(
                "argument --cnnperf-update-interrupted: expected --cnnperf-update-baselines as "
                "well, got --cnnperf-update-interrupted alone"
            )
        problem = sessions_problem(cfg)
        if problem is not None:
            raise pytest.UsageError(problem)
        if not hasattr(config, "workerinput"):
            check_paths(config, cfg)
        return cfg


def sessions_problem(cfg: CnnperfConfig) -> str | None:
    """Why ``--cnnperf-sessions`` cannot be used with the other settings, or None."""
    if cfg.sessions is None:
        return None
    flag = f"--cnnperf-sessions={cfg.sessions}"
    if not cfg.update_baselines:
        return (
            "argument --cnnperf-sessions: expected --cnnperf-update-baselines as well, got "
            f"{flag} alone. Separate sessions measure the runs of the baselines being "
            "accepted; a comparison run takes its noise from the baseline and the history "
            "file (--cnnperf-history)."
        )
    if cfg.backends is not None:
        return (
            "argument --cnnperf-sessions: expected it without --cnnperf-backends, got "
            f"--cnnperf-backends={','.join(cfg.backends)} as well. Accept each backend's "
            "baselines from separate sessions one backend at a time: --cnnperf-backend=NAME "
            f"--cnnperf-update-baselines {flag}."
        )
    if cfg.update_interrupted:
        return (
            "argument --cnnperf-sessions: expected it without --cnnperf-update-interrupted, "
            f"got both. A baseline from {cfg.sessions} separate sessions is accepted only when "
            "every session finished: an interrupted accept updates no baseline."
        )
    return None


def _environment_backend() -> str:
    """The backend KERAS_BACKEND names, tensorflow when it is unset."""
    from pytest_cnnperf import backends

    try:
        return backends.requested()
    except backends.BackendError as exc:
        raise pytest.UsageError(str(exc)) from None


def _resolve(config: pytest.Config, option: opts.Option) -> Any:
    cli = config.getoption(option.dest)
    if cli is not None:
        return cli
    if not option.ini:
        return None
    raw = config.getini(option.ini)
    if raw in ("", None):
        raw = option.default
    if not raw:
        return False if option.is_flag else None
    parse = opts.parse_bool if option.parse is None else option.parse
    try:
        return parse(str(raw))
    except argparse.ArgumentTypeError as exc:
        raise pytest.UsageError(f"ini option {option.ini} = {raw!r}: {exc}") from None


def _where(config: pytest.Config, dest: str) -> str:
    """Where an option's value came from, as the start of a usage error."""
    option = next(option for option in opts.OPTIONS if option.dest == dest)
    if config.getoption(dest) is not None:
        return f"argument {option.flag}"
    raw = config.getini(option.ini) if option.ini else ""
    if raw and raw != option.default:
        return f"ini option {option.ini} = {raw!r}"
    return f"the default {option.flag} ({option.default} at the project root)"


def _kind(path: Path) -> str:
    if path.is_dir():
        return "a directory"
    if path.is_file():
        return "a file"
    return "a device, pipe or socket"


def _existing_ancestor(path: Path) -> Path:
    """``path`` itself or its nearest ancestor that exists."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")  # the root or the working directory: both exist


def _cannot_create_in(directory: Path) -> str | None:
    """Why a file cannot be created in ``directory``, or None when it can.

    Tried for real, with a temporary file removed at once: permissions alone
    do not tell (root, ACLs, read-only mounts).
    """
    try:
        fd, name = tempfile.mkstemp(prefix=".cnnperf-write-check-", dir=directory)
    except OSError as error:
        return error.strerror or str(error)
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return None


def results_file_problem(path: Path) -> str | None:
    """What makes ``path`` unusable as the results file, as "expected ..., got ...", or None.

    The file may be missing, and so may the directories above it (they are
    made when it is written); the nearest one that exists must be a directory
    in which a file can be created.
    """
    if path.exists() and not path.is_file():
        # A device or pipe would be replaced, not written to: the file is written atomically.
        return f"expected a regular file, got {path}, which is {_kind(path)}"
    ancestor = _existing_ancestor(path.parent)
    if not ancestor.is_dir():
        return f"expected a file, got {path}, below {ancestor}, which is {_kind(ancestor)}"
    reason = _cannot_create_in(ancestor)
    if reason is not None:
        return (
            f"expected a file in a directory where files can be created, got {path}: "
            f"creating a file in {ancestor} failed ({reason})"
        )
    return None


def baseline_dir_problem(directory: Path, *, writing: bool) -> str | None:
    """What makes ``directory`` unusable for baseline files, as "expected ..., got ...", or None.

    It may be missing (it is made when figures are accepted); it, or the
    nearest of its ancestors that exists, must be a directory, and with
    ``writing`` one in which a file can be created.
    """
    ancestor = _existing_ancestor(directory)
    if not ancestor.is_dir():
        below = "" if ancestor == directory else f", below {ancestor}"
        return f"expected a directory, got {directory}{below}, which is {_kind(ancestor)}"
    if writing:
        reason = _cannot_create_in(ancestor)
        if reason is not None:
            return (
                f"expected a directory where files can be created, got {directory}: creating "
                f"a file in {ancestor} failed ({reason}); --cnnperf-update-baselines writes "
                "the baseline file there"
            )
    return None


def check_paths(config: pytest.Config, cfg: CnnperfConfig) -> None:
    """Refuse, at start, a results file or baseline directory that cannot be used.

    Checked by the process that writes files, so that a session does not train
    for an hour and then find that its results have nowhere to go.

    Raises:
        pytest.UsageError: naming the option (or ini key), the path and what is wrong.
    """
    if cfg.json_path is not None:
        problem = results_file_problem(cfg.json_path)
        if problem is not None:
            raise pytest.UsageError(f"{_where(config, 'cnnperf_json')}: {problem}")
    problem = baseline_dir_problem(cfg.baseline_dir, writing=cfg.update_baselines)
    if problem is not None:
        raise pytest.UsageError(f"{_where(config, 'cnnperf_baseline_dir')}: {problem}")


def _tolerance(config: pytest.Config, text: str | None, where: str) -> ToleranceOverrides | None:
    if text is None:
        return None
    from pytest_cnnperf.baselines.tolerances import parse_tolerances

    try:
        return parse_tolerances(text, registry_for(config))
    except argparse.ArgumentTypeError as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None


def registry_for(config: pytest.Config) -> MetricRegistry:
    """The session's metrics: the built-in ones and those of ``pytest_cnnperf_add_metrics``.

    Made the first time a process needs them, never at plugin load.
    """
    registry = config.stash.get(REGISTRY_KEY, None)
    if registry is None:
        from pytest_cnnperf.metrics import MetricRegistry

        registry = MetricRegistry()
        config.hook.pytest_cnnperf_add_metrics(registry=registry, config=config)
        config.stash[REGISTRY_KEY] = registry
    return registry


def _path(value: str | None, base: Path) -> Path | None:
    if not value:
        return None
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base / path


CONFIG_KEY = pytest.StashKey[CnnperfConfig]()
REGISTRY_KEY = pytest.StashKey["MetricRegistry"]()
