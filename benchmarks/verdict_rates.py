"""False-alarm and detection rates of the verdict rule, measured on real training.

Four commands:

``session``  one session, in its own process: trains LeNet-5 (MNIST, 8,000
             images) and ResNet20 v1 (CIFAR-10, 4 steps a pass) at their CPU
             profile sizes through ``pytest_cnnperf.training.train_once``, the
             code a test runs, with windows and the reference kernel (LeNet-5
             ``--runs`` times, ResNet20 ``--resnet-runs`` times: the second
             run is what ``--cnnperf-confirm`` measures; ``--models`` picks
             the networks), and appends one JSON line per run to ``--out``. ``--slowdown`` wraps
             the model in a layer that does real extra work (chained matrix
             products that depend on the input, forward and backward).
``probe``    fits each extra-work variant of one model in turn, in one
             process, and prints its median step time against the plain
             model's: how ``EXTRA_UNITS`` was set.
``collect``  runs ``--sessions`` identical sessions and ``--slowed`` sessions
             of each slowdown, each a separate process, in shuffled order,
             spaced so that the pool spreads over ``--minutes``.
``analyze``  reads the lines and reports, with Clopper-Pearson 95% intervals:
             the between-run spread of each estimator with and without the
             calibration, the actual slowdown of each variant, and the
             verdicts of the rule (``pytest_cnnperf.baselines.compare``) on
             comparisons drawn from the pool: a baseline of ``--base-runs``
             identical sessions, noise from ``--history`` other identical
             sessions, a current session of each variant, and its
             confirmation run.

Usage:
    python benchmarks/verdict_rates.py collect --out benchmarks/out/pool.jsonl
    python benchmarks/verdict_rates.py analyze benchmarks/out/pool.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

MODELS = {
    # name: (dataset, data options, batch size or None, epochs, steps per epoch)
    "lenet5": ("mnist", {"train_size": 8000, "test_size": 2000, "split": "test"}, 2, None),
    "resnet20_v1": ("cifar10", {"train_size": 8000, "test_size": 500, "split": "test"}, 1, 4),
}

#: Extra matrix products per step, per model and slowdown. Sized with
#: ``benchmarks/verdict_rates.py probe`` (interleaved fits of each variant in
#: one process; see docs/baselines.md); the actual slowdown is measured from
#: the sessions, never assumed. The products run before the network, in its
#: forward pass only (the inputs need no gradient), so they cannot overlap
#: the network's own work on another core.
EXTRA_UNITS = {
    "lenet5": {0.05: 3, 0.10: 7, 0.20: 15},
    "resnet20_v1": {0.05: 36, 0.10: 72, 0.20: 144},
}
#: Side of the extra products' matrices, per model.
EXTRA_SIZE = {"lenet5": 192, "resnet20_v1": 256}


def _extra_work_model(base: Any, units: int, input_shape: tuple[int, ...], size: int) -> Any:
    from pytest_cnnperf.backends.imports import import_keras, import_tensorflow

    keras = import_keras()
    tf = import_tensorflow()

    class ExtraWork(keras.layers.Layer):  # type: ignore[misc,name-defined]
        """``units`` chained matrix products that depend on the input: real extra work."""

        def build(self, shape: Any) -> None:
            self.w = self.add_weight(shape=(size, size), initializer="orthogonal", trainable=False)

        def call(self, x: Any) -> Any:
            z = self.w + 1e-12 * tf.reduce_mean(x)
            for _ in range(units):
                z = tf.matmul(z, self.w)
            return x + 1e-30 * tf.reduce_mean(z)

    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, base(ExtraWork()(inputs)))


def run_session(args: argparse.Namespace) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    from pytest_cnnperf import datasets, models, training
    from pytest_cnnperf.building import ModelUnderTest
    from pytest_cnnperf.plan import TrainPlan

    started = time.time()
    lines = []
    for name in args.models.split(","):
        dataset, options, epochs, steps = MODELS[name]
        ds = datasets.load(dataset, seed=0, mode="auto", offline=True, **options)  # type: ignore[arg-type]
        recipe = models.recipe(name)
        shape = tuple(int(v) for v in ds.input_shape)
        units = EXTRA_UNITS[name].get(args.slowdown, 0) if args.slowdown else 0

        def make(
            name: str = name,
            shape: tuple[int, ...] = shape,
            units: int = units,
            classes: int = ds.num_classes,
        ) -> Any:
            base = models.build(name, input_shape=shape, num_classes=classes)
            return _extra_work_model(base, units, shape, EXTRA_SIZE[name]) if units else base

        mut = ModelUnderTest(name, make(), recipe, make)
        plan = TrainPlan(
            epochs=epochs,
            warmup_epochs=1,
            batch_size=recipe.batch_size,
            learning_rate=recipe.learning_rate,
            steps_per_epoch=steps,
            repeats=1,
            windows=args.windows,
            window_seconds=0.1,
        )
        for run in range(args.runs if name == "lenet5" else args.resnet_runs):
            model = mut.model if run == 0 else mut.rebuild()
            t0 = time.perf_counter()
            result = training.train_once(mut, model, ds, plan, seed=run, device="/CPU:0")
            lines.append(
                {
                    "session": args.session,
                    "variant": args.slowdown,
                    "units": units,
                    "model": name,
                    "data_source": ds.source,
                    "run": run,
                    "seconds": time.perf_counter() - t0,
                    "windows": [
                        [w.seconds, w.steps, w.calibration_seconds] for w in result.windows
                    ],
                    "warmup": [[e.seconds, e.steps] for e in result.epochs if e.warmup],
                    "accuracy": result.accuracy,
                    "arrangement": result.arrangement,
                    "time": time.time(),
                    "load": os.getloadavg()[0],
                }
            )
    with open(args.out, "a", encoding="utf-8") as out:
        for line in lines:
            out.write(json.dumps(line) + "\n")
    print(f"session {args.session} slowdown {args.slowdown}: {time.time() - started:.1f} s")


def probe(args: argparse.Namespace) -> None:
    """Step time of each extra-work variant, fits interleaved in one process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import numpy as np

    from pytest_cnnperf import datasets, models

    name = args.model
    dataset, options, _, _ = MODELS[name]
    ds = datasets.load(dataset, seed=0, mode="auto", offline=True, **options)  # type: ignore[arg-type]
    shape = tuple(int(v) for v in ds.input_shape)
    batch = models.recipe(name).batch_size
    x = np.asarray(ds.x_train[: batch * args.steps], dtype="float32")
    y = np.asarray(ds.y_train[: batch * args.steps])
    units = sorted({0, *(int(u) for u in args.units.split(","))})
    fitted = {}
    for u in units:
        base = models.build(name, input_shape=shape, num_classes=ds.num_classes)
        model = _extra_work_model(base, u, shape, args.size or EXTRA_SIZE[name]) if u else base
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        fitted[u] = model
    steps: dict[int, list[float]] = {u: [] for u in units}
    for _ in range(args.rounds):
        for u in units:
            t0 = time.perf_counter()
            fitted[u].fit(x, y, batch_size=batch, epochs=1, verbose=0)
            steps[u].append((time.perf_counter() - t0) / args.steps)
    base_step = statistics.median(steps[0])
    for u in units:
        lo, hi = min(steps[u]), max(steps[u])
        print(
            f"{name} units {u:4d}: median {1e3 * statistics.median(steps[u]):.2f} ms/step "
            f"(range {1e3 * lo:.2f}-{1e3 * hi:.2f}), x{statistics.median(steps[u]) / base_step:.3f}"
        )


def collect(args: argparse.Namespace) -> None:
    plan = [0.0] * args.sessions + [s for s in (0.05, 0.10, 0.20) for _ in range(args.slowed)]
    random.Random(args.seed).shuffle(plan)
    deadline = time.time() + args.minutes * 60
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    for index, slowdown in enumerate(plan):
        subprocess.run(
            [
                sys.executable,
                __file__,
                "session",
                "--out",
                args.out,
                "--session",
                f"{args.tag}{index:03d}",
                "--slowdown",
                str(slowdown),
                "--windows",
                str(args.windows),
                "--models",
                args.models,
                "--resnet-runs",
                str(args.resnet_runs),
            ],
            check=False,
        )
        left = len(plan) - index - 1
        if left:
            # Spread the rest over the time left: sessions at different times.
            pause = max(0.0, (deadline - time.time()) / left - 40.0)
            time.sleep(min(pause, 60.0))


# --------------------------------------------------------------------------- analysis


def estimators(windows: list[list[float]]) -> dict[str, float]:
    """Every candidate estimate of one run, raw (s/step) and calibrated (kernel units)."""
    from pytest_cnnperf.baselines.stats import run_estimate

    steps = [w[0] / w[1] for w in windows]
    kernel = [w[2] for w in windows]
    found = {}
    for method in ("min", "q25", "median"):
        found[f"{method} raw"] = run_estimate(steps, None, method)
        found[f"{method} / kernel"] = run_estimate(steps, kernel, method)
        found[f"{method} per-window"] = run_estimate(steps, kernel, method, per_window=True)
    return found


def log_sd(values: list[float]) -> float:
    logs = [math.log(v) for v in values]
    return statistics.stdev(logs) if len(logs) > 1 else math.nan


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) binomial interval, by bisection on the binomial tails."""
    if n == 0:
        return (math.nan, math.nan)
    alpha = 1 - confidence

    def at_least(p: float, j: int) -> float:  # P(X >= j), increasing in p
        return sum(_pmf(n, i, p) for i in range(j, n + 1))

    def solve(f: Any, target: float) -> float:
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
        return (lo + hi) / 2

    low = 0.0 if k == 0 else solve(lambda p: at_least(p, k), alpha / 2)
    # P(X <= k) = alpha/2, i.e. P(X >= k + 1) = 1 - alpha/2.
    high = 1.0 if k == n else solve(lambda p: at_least(p, k + 1), 1 - alpha / 2)
    return low, high


def _pmf(n: int, k: int, p: float) -> float:
    return math.comb(n, k) * p**k * (1 - p) ** (n - k)


def rate(k: int, n: int) -> str:
    low, high = clopper_pearson(k, n)
    return f"{k}/{n} = {k / n:.1%} [{low:.1%}, {high:.1%}]" if n else "-"


def analyze(args: argparse.Namespace) -> None:
    from pytest_cnnperf.baselines.compare import judge_runs
    from pytest_cnnperf.baselines.stats import pooled_log_sd

    rows = [json.loads(line) for line in Path(args.path).read_text().splitlines() if line]
    by = defaultdict(list)
    for row in rows:
        by[(row["model"], row["variant"])].append(row)
    times = [row["time"] for row in rows]
    loads = [row["load"] for row in rows]
    sessions = {row["session"] for row in rows}
    print(
        f"{len(sessions)} sessions, {len(rows)} runs, over {(max(times) - min(times)) / 60:.0f} "
        f"min; load average (1 min) median {statistics.median(loads):.2f}, "
        f"range {min(loads):.2f} to {max(loads):.2f}"
    )
    chosen = args.estimator
    for model in MODELS:
        print(f"\n== {model}")
        identical = [r for r in by[(model, 0.0)] if r["run"] == 0]
        confirm = {r["session"]: r for r in by[(model, 0.0)] if r["run"] == 1}
        if len(identical) < 3:
            print("too few identical sessions")
            continue
        w0 = identical[0]["windows"]
        print(
            f"windows per run {len(w0)} of {w0[0][1]} steps, median window "
            f"{statistics.median(w[0] for w in w0) * 1000:.0f} ms, kernel "
            f"{statistics.median(w[2] for w in w0) * 1000:.1f} ms"
        )
        print("between-run log-SD of identical sessions (first run of each), by estimator:")
        table = {}
        for key in estimators(w0):
            values = [estimators(r["windows"])[key] for r in identical]
            table[key] = log_sd(values)
            print(f"  {key:<20} {table[key]:.4f}")
        pairs = [
            (estimators(r["windows"])[chosen], estimators(confirm[r["session"]]["windows"])[chosen])
            for r in identical
            if r["session"] in confirm
        ]
        if len(pairs) > 2:
            diffs = [math.log(b / a) for a, b in pairs]
            print(
                f"  in-process repeat ({chosen}): log-SD of run2/run1 {statistics.stdev(diffs):.4f}"
                f" (independent runs would give {table[chosen] * math.sqrt(2):.4f}); "
                f"correlation of the two runs {_corr(pairs):.2f}"
            )
        base_values = {r["session"]: estimators(r["windows"])[chosen] for r in identical}
        base_center = statistics.median(base_values.values())
        for variant in sorted(v for (m, v) in by if m == model and v):
            slowed = [
                estimators(r["windows"])[chosen] for r in by[(model, variant)] if r["run"] == 0
            ]
            if slowed:
                actual = statistics.median(slowed) / base_center - 1
                print(
                    f"  variant +{variant:.0%}: actual slowdown {actual:+.1%} "
                    f"(median of {len(slowed)} sessions)"
                )
        rng = random.Random(args.seed)
        names = sorted(base_values)
        tolerance = args.tolerance
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        sigmas: list[float] = []
        for variant in [0.0, *sorted(v for (m, v) in by if m == model and v)]:
            currents = [r for r in by[(model, variant)] if r["run"] == 0]
            confirms = {r["session"]: r for r in by[(model, variant)] if r["run"] == 1}
            for _ in range(args.comparisons):
                current = rng.choice(currents)
                others = [n for n in names if n != current["session"]]
                if len(others) < args.base_runs + 2:
                    break
                rng.shuffle(others)
                base = [base_values[n] for n in others[: args.base_runs]]
                history = [
                    base_values[n] for n in others[args.base_runs : args.base_runs + args.history]
                ]
                sigma, dof = pooled_log_sd([base, history] if history else [base])
                sigmas.append(sigma)
                cur = [estimators(current["windows"])[chosen]]
                verdict = judge_runs(base, cur, sigma, dof, tolerance).verdict.value
                if verdict == "regressed" and args.confirm and current["session"] in confirms:
                    again = [estimators(confirms[current["session"]]["windows"])[chosen]]
                    second = judge_runs(base, again, sigma, dof, tolerance).verdict.value
                    if second != "regressed":
                        verdict = "unstable"
                counts[f"{variant:.2f}"][verdict] += 1
                counts[f"{variant:.2f}"]["n"] += 1
        print(
            f"rule at tolerance {tolerance:.0%}, baseline of {args.base_runs} sessions, noise from "
            f"those and {args.history} other identical sessions, confirmation "
            f"{'on' if args.confirm else 'off'}; estimator {chosen!r}:"
        )
        if sigmas:
            print(
                f"  noise used (pooled log-SD): median {statistics.median(sigmas):.3f}, "
                f"range {min(sigmas):.3f} to {max(sigmas):.3f}"
            )
        for variant, c in counts.items():
            n = c["n"]
            print(
                f"  +{float(variant):.0%}: regressed {rate(c['regressed'], n)}; "
                f"unstable {rate(c['unstable'], n)}; pass {rate(c['pass'], n)}"
            )
        false = counts["0.00"]
        if false["n"]:
            p = false["regressed"] / false["n"]
            print(
                f"  per-suite false alarm for 36 tests at the measured per-test rate "
                f"{p:.2%}: {1 - (1 - p) ** 36:.1%} (upper 95% bound per test "
                f"{clopper_pearson(false['regressed'], false['n'])[1]:.2%} gives "
                f"{1 - (1 - clopper_pearson(false['regressed'], false['n'])[1]) ** 36:.1%})"
            )


def _corr(pairs: list[tuple[float, float]]) -> float:
    xs = [math.log(a) for a, _ in pairs]
    ys = [math.log(b) for _, b in pairs]
    return statistics.correlation(xs, ys)


def _models(text: str) -> str:
    unknown = [name for name in text.split(",") if name not in MODELS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"expected models among {', '.join(MODELS)}, got {', '.join(unknown)}"
        )
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("session")
    one.add_argument("--out", required=True)
    one.add_argument("--session", default="s")
    one.add_argument("--slowdown", type=float, default=0.0)
    one.add_argument("--windows", type=int, default=20)
    one.add_argument("--runs", type=int, default=2, help="runs of LeNet-5")
    for command in (one, many := sub.add_parser("collect")):
        command.add_argument("--models", type=_models, default=",".join(MODELS))
        command.add_argument("--resnet-runs", type=int, default=1, help="runs of ResNet20 v1")
    many.add_argument("--out", required=True)
    many.add_argument("--sessions", type=int, default=30)
    many.add_argument("--slowed", type=int, default=8)
    many.add_argument("--minutes", type=float, default=30)
    many.add_argument("--windows", type=int, default=20)
    many.add_argument("--seed", type=int, default=1)
    many.add_argument("--tag", default="p")
    trial = sub.add_parser("probe")
    trial.add_argument("--model", choices=sorted(MODELS), default="lenet5")
    trial.add_argument("--units", default="3,7,15")
    trial.add_argument("--size", type=int, default=0, help="matrix side (default: EXTRA_SIZE)")
    trial.add_argument("--steps", type=int, default=8)
    trial.add_argument("--rounds", type=int, default=15)
    report = sub.add_parser("analyze")
    report.add_argument("path")
    report.add_argument("--estimator", default="median / kernel")
    report.add_argument("--tolerance", type=float, default=0.10)
    report.add_argument("--base-runs", type=int, default=3)
    report.add_argument("--history", type=int, default=10)
    report.add_argument("--comparisons", type=int, default=400)
    report.add_argument("--no-confirm", dest="confirm", action="store_false")
    report.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    commands = {"session": run_session, "probe": probe, "collect": collect, "analyze": analyze}
    commands[args.command](args)


if __name__ == "__main__":
    main()
