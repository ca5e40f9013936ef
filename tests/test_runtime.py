"""Unit tests of ``runtime.ProcessRuntime``: one TensorFlow set-up per process."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_cnnperf import devices, runtime


def test_the_first_set_up_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    def set_up(cfg: Any, worker_id: str | None) -> runtime.Runtime:
        calls.append((cfg, worker_id))
        placement = devices.Placement("/device:CPU:0", "cpu", 0, 1)
        return runtime.Runtime(placement, cfg, False)

    monkeypatch.setattr(runtime, "_set_up", set_up)
    process = runtime.ProcessRuntime()
    first = process.get("float32", None)  # type: ignore[arg-type]
    assert process.get("mixed_float16", "gw1") is first  # type: ignore[arg-type]
    assert calls == [("float32", None)]


def test_a_failed_set_up_is_raised_again_without_retrying(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def set_up(cfg: Any, worker_id: str | None) -> runtime.Runtime:
        calls.append("set up")
        raise devices.DeviceError("No CPU device is visible to TensorFlow.")

    monkeypatch.setattr(runtime, "_set_up", set_up)
    process = runtime.ProcessRuntime()
    for _ in range(2):
        with pytest.raises(devices.DeviceError, match=r"^No CPU device is visible"):
            process.get(None, None)  # type: ignore[arg-type]
    assert calls == ["set up"]
