"""Command-line options, their ini twins, and the parsers for their values.

Each parser raises ``argparse.ArgumentTypeError`` naming the expected form, so
argparse reports a bad command-line value, and ``config.CnnperfConfig`` reuses
the same parser for the ini value and names the ini key.

PYTEST_DONT_REWRITE: loaded in every pytest run, so pytest must not parse and
recompile it for assertion rewriting each time.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

DEFAULT_EPOCHS = 3
DEFAULT_SEED = 0
#: ``float32`` is strict float32 (TF32 off); ``tf32`` lets Ampere and newer GPUs
#: multiply float32 matrices in TF32 (TensorFlow's own default there).
PRECISIONS = ("float32", "tf32", "mixed_float16", "mixed_bfloat16")
DATA_MODES = ("auto", "real")
DEFAULT_BASELINE_DIR = "baselines"
COMPARE_MODES = ("fail", "warn", "off")
LAYER_MODES = ("on", "off")
#: Keras 3's backends (``pytest_cnnperf.backends.NAMES``, repeated here so that
#: loading the options imports nothing).
BACKENDS = ("tensorflow", "jax", "torch")


def parse_positive_int(text: str) -> int:
    """Parse a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of at least 1, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def parse_seed(text: str) -> int:
    """Parse a seed: a whole number from 0 to 2**32 - 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 0 to 4294967295, got {text!r}"
        ) from None
    if not 0 <= value <= 2**32 - 1:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 0 to 4294967295, got {text!r}"
        )
    return value


def parse_bool(text: str) -> bool:
    """Parse an ini-style boolean."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def parse_windows(text: str) -> int:
    """Parse a number of timed windows: a whole number of at least 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0, got {text!r}")
    return value


def parse_on_off(text: str) -> bool:
    """Parse ``on`` or ``off``."""
    lowered = text.strip().lower()
    if lowered not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")
    return lowered == "on"


def parse_device(text: str) -> int | None:
    """Parse a device index, or ``auto`` (one device per xdist worker)."""
    if text.strip().lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or a device index of 0 or more, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or a device index of 0 or more, got {text!r}"
        )
    return value


def _choice(name: str, choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"expected one of {', '.join(choices)}, got {text!r}")
        return text

    parse.__name__ = f"parse_{name}"
    return parse


parse_precision = _choice("precision", PRECISIONS)
parse_data_mode = _choice("data_mode", DATA_MODES)
parse_compare_mode = _choice("compare_mode", COMPARE_MODES)
parse_layer_mode = _choice("layer_mode", LAYER_MODES)
parse_backend = _choice("backend", BACKENDS)


def parse_session_count(text: str) -> int:
    """Parse a number of separate sessions: a whole number of at least 2."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 2, got {text!r}")
    return value


def parse_backend_list(text: str) -> tuple[str, ...]:
    """Parse ``tensorflow,jax``: at least two backends, none twice."""
    names = tuple(part.strip() for part in text.split(","))
    unknown = [name for name in names if name not in BACKENDS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(BACKENDS)}, got {text!r} "
            f"({', '.join(repr(name) for name in unknown)} is not a backend)"
        )
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"expected each backend once, got {text!r}")
    if len(names) < 2:
        raise argparse.ArgumentTypeError(
            f"expected at least two backends to set side by side, got {text!r} "
            "(use --cnnperf-backend for one)"
        )
    return names


def parse_tolerance_spec(text: str) -> str:
    """Accept a non-empty tolerance spec; it is parsed against the session's metrics
    when the options are resolved (see ``config``), because plugins can add metrics."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a tolerance such as '20%', got an empty value")
    return text


def parse_reason(text: str) -> str:
    """Accept any reason that is not blank."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a reason, got an empty value")
    return text.strip()


def parse_path(text: str) -> str:
    """Accept any non-empty path."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty value")
    return text


@dataclass(frozen=True)
class Option:
    """One ``--cnnperf-*`` option and its ini twin (``ini`` empty when none).

    A flag (``parse`` None) is a ``store_true`` option; its ini twin is parsed
    with ``parse_bool``.
    """

    flag: str
    dest: str
    help: str
    metavar: str | None
    parse: Callable[[str], Any] | None
    ini: str
    default: str | None = None

    @property
    def is_flag(self) -> bool:
        return self.parse is None


OPTIONS: tuple[Option, ...] = (
    Option(
        "--cnnperf-gpu",
        "cnnperf_gpu",
        "run on the GPU; stop at start if the backend sees none (default: pinned to the CPU)",
        None,
        None,
        "cnnperf_gpu",
    ),
    Option(
        "--cnnperf-backend",
        "cnnperf_backend",
        f"the Keras backend to train on, one of {', '.join(BACKENDS)}; decided before Keras "
        "is imported (default: KERAS_BACKEND, else tensorflow)",
        "NAME",
        parse_backend,
        "cnnperf_backend",
    ),
    Option(
        "--cnnperf-backends",
        "cnnperf_backends",
        "run every test once per backend, each backend in a fresh pytest process, and set "
        "them side by side, e.g. tensorflow,jax,torch (default: one backend)",
        "LIST",
        parse_backend_list,
        "",
    ),
    Option(
        "--cnnperf-steps-from",
        "cnnperf_steps_from",
        "train each test for the steps it trained in the results file PATH (its timed "
        "windows' count and length), so that accuracies of two backends or machines are "
        "taken after the same training (default: windows sized by time)",
        "PATH",
        parse_path,
        "",
    ),
    Option(
        "--cnnperf-device",
        "cnnperf_device",
        "index of the device to train on, or 'auto' to give each xdist worker its own "
        "device (default: auto)",
        "INDEX",
        parse_device,
        "cnnperf_device",
        default="auto",
    ),
    Option(
        "--cnnperf-epochs",
        "cnnperf_epochs",
        f"measured epochs for tests that set none (default: {DEFAULT_EPOCHS})",
        "N",
        parse_positive_int,
        "cnnperf_epochs",
        default=str(DEFAULT_EPOCHS),
    ),
    Option(
        "--cnnperf-seed",
        "cnnperf_seed",
        f"seed for Python, NumPy and Keras in every test (default: {DEFAULT_SEED})",
        "N",
        parse_seed,
        "cnnperf_seed",
        default=str(DEFAULT_SEED),
    ),
    Option(
        "--cnnperf-deterministic",
        "cnnperf_deterministic",
        "use the backend's deterministic kernels (slower; default: off)",
        None,
        None,
        "cnnperf_deterministic",
    ),
    Option(
        "--cnnperf-precision",
        "cnnperf_precision",
        f"numeric precision, one of {', '.join(PRECISIONS)}: float32 turns TF32 off, tf32 "
        "on; the mixed ones are Keras' mixed-precision policies, with TF32 off "
        "(default: float32)",
        "POLICY",
        parse_precision,
        "cnnperf_precision",
        default="float32",
    ),
    Option(
        "--cnnperf-jit",
        "cnnperf_jit",
        "XLA compilation of the training step (Keras jit_compile): on or off; off keeps "
        "per-layer attribution by op name working (default: off)",
        "on|off",
        parse_on_off,
        "cnnperf_jit",
        default="off",
    ),
    Option(
        "--cnnperf-json",
        "cnnperf_json",
        "write the results as JSON to PATH, checked at start; a relative path starts where "
        "pytest was started (default: no file)",
        "PATH",
        parse_path,
        "cnnperf_json",
    ),
    Option(
        "--cnnperf-data-dir",
        "cnnperf_data_dir",
        "directory searched first for data set files; CNNPERF_DATA_DIR is the next "
        "place (default: none)",
        "DIR",
        parse_path,
        "cnnperf_data_dir",
    ),
    Option(
        "--cnnperf-data",
        "cnnperf_data",
        "'real' fails a test whose data set is missing; 'auto' trains on synthetic data "
        "of the same shape instead and says so (default: auto on CPU, real with --cnnperf-gpu)",
        "MODE",
        parse_data_mode,
        "cnnperf_data",
    ),
    Option(
        "--cnnperf-offline",
        "cnnperf_offline",
        "never download a data set (default: downloads allowed)",
        None,
        None,
        "cnnperf_offline",
    ),
    Option(
        "--cnnperf-baseline-dir",
        "cnnperf_baseline_dir",
        "directory of the baseline files, one per hardware key; a relative path starts "
        "where pytest was started (in the ini file: at the project root) "
        f"(default: {DEFAULT_BASELINE_DIR} at the project root)",
        "DIR",
        parse_path,
        "cnnperf_baseline_dir",
        default=DEFAULT_BASELINE_DIR,
    ),
    Option(
        "--cnnperf-compare",
        "cnnperf_compare",
        "what a regression does: fail the test, warn, or skip the comparison (default: fail)",
        "MODE",
        parse_compare_mode,
        "cnnperf_compare",
        default="fail",
    ),
    Option(
        "--cnnperf-tolerance",
        "cnnperf_tolerance",
        "tolerances for this run: '20%' for every timing metric, or "
        "'epoch_seconds=20%,accuracy=2pt' by metric name (default: each metric's own, "
        "25% and 2pt; a test's own marker wins)",
        "SPEC",
        parse_tolerance_spec,
        "cnnperf_tolerance",
    ),
    Option(
        "--cnnperf-repeats",
        "cnnperf_repeats",
        "whole training runs per test, their measured epochs pooled for the verdict (default: 1)",
        "N",
        parse_positive_int,
        "cnnperf_repeats",
        default="1",
    ),
    Option(
        "--cnnperf-windows",
        "cnnperf_windows",
        "timed windows per run after the warm-up, each at least 100 ms on CPU (20 ms on "
        "GPU); 0 times each epoch instead (default: 20)",
        "N",
        parse_windows,
        "cnnperf_windows",
        default="20",
    ),
    Option(
        "--cnnperf-history",
        "cnnperf_history",
        "JSON-lines file every run appends its timing estimates to and reads the "
        "between-session noise from; keep it in a CI cache (default: none)",
        "PATH",
        parse_path,
        "cnnperf_history",
    ),
    Option(
        "--cnnperf-confirm",
        "cnnperf_confirm",
        "measure a test judged regressed again in the same session and fail it only when "
        "both measurements regressed: on or off (default: on)",
        "on|off",
        parse_on_off,
        "cnnperf_confirm",
        default="on",
    ),
    Option(
        "--cnnperf-layers",
        "cnnperf_layers",
        "per-layer training time from a short profiled window after the timed windows, "
        "within a time budget: on or off (default: on)",
        "MODE",
        parse_layer_mode,
        "cnnperf_layers",
        default="on",
    ),
    Option(
        "--cnnperf-update-baselines",
        "cnnperf_update_baselines",
        "accept this run's figures as the baselines of the tests that completed; an "
        "interrupted session accepts none without --cnnperf-update-interrupted "
        "(default: compare only)",
        None,
        None,
        "",
    ),
    Option(
        "--cnnperf-update-interrupted",
        "cnnperf_update_interrupted",
        "with --cnnperf-update-baselines, accept the tests that finished even when the "
        "session is interrupted (default: an interrupted session updates no baseline)",
        None,
        None,
        "",
    ),
    Option(
        "--cnnperf-update-reason",
        "cnnperf_update_reason",
        "why the baselines are updated, kept in their history (default: who and when only)",
        "TEXT",
        parse_reason,
        "",
    ),
    Option(
        "--cnnperf-sessions",
        "cnnperf_sessions",
        "with --cnnperf-update-baselines: run the tests in N fresh pytest processes, one "
        "after the other, and accept the runs of all N, so that the baselines' noise is "
        "measured between sessions; on the command line only (default: the runs of this "
        "session)",
        "N",
        parse_session_count,
        "",
    ),
    Option(
        "--cnnperf-require-baseline",
        "cnnperf_require_baseline",
        "fail a test that has no baseline yet (default: it passes as 'new')",
        None,
        None,
        "cnnperf_require_baseline",
    ),
    Option(
        "--cnnperf-strict",
        "cnnperf_strict",
        "fail a test whose timing is too noisy to judge (default: it passes as 'unstable' "
        "with a warning)",
        None,
        None,
        "cnnperf_strict",
    ),
)


def add_options(parser: pytest.Parser) -> None:
    """Register every option in the ``cnnperf`` group, and the ini twins."""
    group = parser.getgroup("cnnperf", "training-performance regression tests (pytest-cnnperf)")
    for option in OPTIONS:
        if option.is_flag:
            group.addoption(
                option.flag,
                action="store_true",
                dest=option.dest,
                default=None,
                help=option.help.replace("%", "%%"),  # argparse formats help with %
            )
        else:
            group.addoption(
                option.flag,
                dest=option.dest,
                metavar=option.metavar,
                type=option.parse,
                default=None,
                help=option.help.replace("%", "%%"),  # argparse formats help with %
            )
        if option.ini:
            # Boolean keys too are read as strings and parsed with parse_bool, so that a
            # bad value is reported with its key (pytest's own bool type names neither).
            form = ", true or false" if option.is_flag else ""
            parser.addini(
                option.ini,
                help=f"ini twin of {option.flag}{form}: {option.help}",
                type="string",
                default=option.default or "",
            )
