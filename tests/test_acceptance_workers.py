"""Acceptance tests of CPU pinning under xdist (issue 9), through real ``-n 2`` runs.

Each xdist worker on CPU gets its own share of the cores and TensorFlow
threads to match; the arrangement is recorded with the figures, and a
baseline measured under another arrangement is not judged on timing.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_acceptance_baselines import BUSY, NODE, NODE_PATTERN

if TYPE_CHECKING:
    from conftest import ResultsReader

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="pinning needs os.sched_getaffinity and at least two cores",
)

#: Four tests, so that xdist's load scheduling gives each of two workers two.
#: Each test writes the cores it may run on and TensorFlow's thread count.
PINNED = textwrap.dedent(
    """
    import json
    import os

    import pytest
    import pytest_cnnperf


    @pytest.mark.parametrize("index", range(4))
    @pytest_cnnperf.model("lenet5")
    @pytest_cnnperf.dataset("synthetic", train_size=256, test_size=64,
                            input_shape=(28, 28, 1), num_classes=10)
    def test_pinned(cnnperf, cnnperf_model, cnnperf_dataset, index):
        from pytest_cnnperf.backends.imports import import_tensorflow

        cnnperf.train(cnnperf_model, cnnperf_dataset, batch_size=64, windows=3,
                      layers="off")
        tf = import_tensorflow()
        seen = {
            "worker": os.environ.get("PYTEST_XDIST_WORKER"),
            "cores": sorted(os.sched_getaffinity(0)),
            "threads": tf.config.threading.get_intra_op_parallelism_threads(),
        }
        with open(f"seen-{index}.json", "w") as out:
            json.dump(seen, out)
    """
)


def test_each_worker_gets_its_own_cores_and_the_arrangement_is_recorded(
    pytester: pytest.Pytester, read_results: ResultsReader
) -> None:
    pytester.makepyfile(test_pinned=PINNED)
    result = pytester.runpytest_subprocess(
        "-n", "2", "-p", "xdist", "--color=no", "--cnnperf-json=out.json"
    )
    result.assert_outcomes(passed=4)
    seen = [json.loads((pytester.path / f"seen-{i}.json").read_text()) for i in range(4)]
    by_worker: dict[str, set[int]] = {}
    for one in seen:
        assert len(one["cores"]) == len(os.sched_getaffinity(0)) // 2, one
        assert one["threads"] == len(one["cores"]), one
        by_worker.setdefault(one["worker"], set()).update(one["cores"])
    assert len(by_worker) == 2, seen
    first, second = by_worker.values()
    assert not first & second, by_worker
    for test in read_results("out.json")["tests"]:
        (run,) = test["runs"]
        assert run["arrangement"] == {
            "cores": len(os.sched_getaffinity(0)) // 2,
            "threads": len(os.sched_getaffinity(0)) // 2,
            "workers": 2,
            "pinned": True,
        }, test["nodeid"]


def test_a_baseline_of_another_arrangement_is_not_judged_on_timing(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    baseline_file: Path,
    read_results: ResultsReader,
) -> None:
    pytester.makepyfile(test_perf=BUSY)
    monkeypatch.setenv("BUSY_EPOCHS", "1")
    # One run is enough: the arrangement is checked before the noise.
    accept = pytester.runpytest_subprocess("--color=no", "--cnnperf-update-baselines")
    accept.assert_outcomes(passed=1)
    assert (
        json.loads(baseline_file.read_text())["entries"][NODE]["timing"]["arrangement"]["workers"]
        == 1
    )
    shared = pytester.runpytest_subprocess(
        "-n", "2", "-p", "xdist", "--color=no", "--cnnperf-json=out.json"
    )
    shared.assert_outcomes(passed=1)
    (test,) = read_results("out.json")["tests"]
    assert test["verdict"] == "unstable"
    cores = len(os.sched_getaffinity(0))
    share = cores // 2
    shared.stdout.fnmatch_lines(
        [
            f"*{NODE_PATTERN}*",
            f"*timing not judged: the baseline was measured with {_count(cores, 'core')}, "
            f"{_count(cores, 'thread')}, 1 worker and this run with {_count(share, 'core')}, "
            f"{_count(share, 'thread')}, 2 workers;*",
        ]
    )


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}" if number == 1 else f"{number} {thing}s"
