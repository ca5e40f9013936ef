"""Options resolved once, at configure time, into a frozen dataclass.

Precedence for every setting: the command line, then the ini key, then the
built-in default. Hooks and fixtures read ``config.stash[CONFIG_KEY]``.

PYTEST_DONT_REWRITE: loaded in every pytest run, so pytest must not parse and
recompile it for assertion rewriting each time.
"""

from __future__ import annotations

import argparse
import os
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
    #: Per-layer timing after the timed epochs (``--cnnperf-layers``); docs/layers.md.
    layers: bool = True

    @property
    def device_kind(self) -> str:
        return "gpu" if self.gpu else "cpu"

    @classmethod
    def from_pytest_config(cls, config: pytest.Config) -> CnnperfConfig:
        """Resolve the options; raise ``pytest.UsageError`` for a bad ini value."""
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
        return cls(
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
            layers=values["cnnperf_layers"] != "off",
        )


def _resolve(config: pytest.Config, option: opts.Option) -> Any:
    cli = config.getoption(option.dest)
    if cli is not None:
        return cli
    if not option.ini:
        return None
    raw = config.getini(option.ini)
    if option.is_flag:
        return bool(raw)
    if raw in ("", None):
        raw = option.default
    if not raw:
        return None
    assert option.parse is not None
    try:
        return option.parse(str(raw))
    except argparse.ArgumentTypeError as exc:
        raise pytest.UsageError(f"ini option {option.ini} = {raw!r}: {exc}") from None


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
