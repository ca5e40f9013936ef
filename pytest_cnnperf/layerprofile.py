"""Per-layer figures of a profiled window: dataclasses, their plain data, table rows.

A ``LayerProfile`` is what ``layers.profile_window`` measured after a run's
timed windows (see docs/layers.md): for every layer its forward, backward and
optimizer seconds in each profiled step, the categories outside the layers,
the step wall times, and how much of the step they explain (coverage).
Figures per step are tuples aligned by step, so that a layer's samples for
the noise-aware comparison are its per-step totals.

Standard library only: the profile travels as plain data on the xdist report
and in the results JSON (``to_dict``/``from_dict``).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Categories outside the layers that count as covered (see ``profiling``).
COVERED = ("loss and metrics", "input pipeline", "optimizer, shared", "gradient sums")
OTHER_OPS = "other ops"
LAUNCH = "launch"
BETWEEN_OPS = "between ops"
#: Backward FLOPs are about twice the forward ones (input and weight gradients).
BACKWARD_FLOPS_FACTOR = 2.0
#: Past this many layers a table shows the slowest ``SHOWN_WHEN_FOLDED`` and one line more.
FOLD_ABOVE = 14
SHOWN_WHEN_FOLDED = 10


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def _sums(*series: Sequence[float]) -> tuple[float, ...]:
    return tuple(sum(values) for values in zip(*series, strict=True))


@dataclass(frozen=True)
class LayerTiming:
    """One layer (or several fused ones) in the profiled steps.

    Args:
        name: the layer's name; ``"a + b"`` for layers merged by fusion.
        kind: the Keras class name(s), e.g. ``"Conv2D"`` or ``"Conv2D + ReLU"``.
        output_shape: e.g. ``"(None, 28, 28, 6)"``.
        params: the layer's parameters.
        forward_seconds: forward time in each profiled step.
        backward_seconds: gradient ops' time in each profiled step.
        optimizer_seconds: the optimizer update of its variables, each step.
        forward_flops: FLOPs of one forward pass over a batch (convolution
            and dense layers; None where not counted).
        members: the layers merged into this line (empty for one layer).
    """

    name: str
    kind: str
    output_shape: str
    params: int
    forward_seconds: tuple[float, ...]
    backward_seconds: tuple[float, ...]
    optimizer_seconds: tuple[float, ...]
    forward_flops: float | None = None
    members: tuple[str, ...] = ()

    @property
    def total_seconds(self) -> tuple[float, ...]:
        """Forward + backward + optimizer, per profiled step: the layer's samples."""
        return _sums(self.forward_seconds, self.backward_seconds, self.optimizer_seconds)

    @property
    def median_seconds(self) -> float:
        return _median(self.total_seconds)

    @property
    def training_flops(self) -> float | None:
        """Forward and backward FLOPs of one step (backward about twice forward)."""
        if self.forward_flops is None:
            return None
        return self.forward_flops * (1 + BACKWARD_FLOPS_FACTOR)

    @property
    def flops_per_second(self) -> float | None:
        """Achieved FLOP/s of its forward and backward ops (median step)."""
        flops = self.training_flops
        seconds = _median(_sums(self.forward_seconds, self.backward_seconds))
        if flops is None or seconds <= 0:
            return None
        return flops / seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "output_shape": self.output_shape,
            "params": self.params,
            "forward_seconds": list(self.forward_seconds),
            "backward_seconds": list(self.backward_seconds),
            "optimizer_seconds": list(self.optimizer_seconds),
            "forward_flops": self.forward_flops,
            "members": list(self.members),
            "median_seconds": self.median_seconds,
            "flops_per_second": self.flops_per_second,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerTiming:
        return cls(
            name=data["name"],
            kind=data["kind"],
            output_shape=data["output_shape"],
            params=int(data["params"]),
            forward_seconds=tuple(data["forward_seconds"]),
            backward_seconds=tuple(data["backward_seconds"]),
            optimizer_seconds=tuple(data["optimizer_seconds"]),
            forward_flops=data.get("forward_flops"),
            members=tuple(data.get("members", ())),
        )


@dataclass(frozen=True)
class CategoryTiming:
    """Time outside the layers in each profiled step; ``covered`` if it is specific work."""

    name: str
    seconds: tuple[float, ...]
    covered: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seconds": list(self.seconds), "covered": self.covered}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoryTiming:
        return cls(data["name"], tuple(data["seconds"]), bool(data["covered"]))


@dataclass(frozen=True)
class FoldedRow:
    """A row of the per-layer table: one layer, or the layers folded into one line."""

    name: str
    kind: str
    output_shape: str
    params: int | None
    forward_seconds: float
    backward_seconds: float
    optimizer_seconds: float
    share: float
    flops_per_second: float | None
    folded: int = 0


@dataclass(frozen=True)
class LayerProfile:
    """The profiled window of one run.

    Args:
        step_seconds: wall time of each profiled step (its step marker).
        layers: every layer of the model, in model order (fused ones merged).
        categories: the named categories outside the layers, then
            ``other ops``, ``launch`` and ``between ops`` (not covered).
        unprofiled_step_seconds: the median of ``reference_steps``
            unprofiled steps run just before the profiled ones, or without
            those the measured epochs' mean step; the profiled steps are
            compared with it (None when unknown).
        window_seconds: wall time the window added to the run (its warm-up
            step, the profiled steps, stopping the profiler, reading it).
        warmup_steps: unprofiled steps run first and left out.
        reference_steps: unprofiled steps timed like the profiled ones.
        source: ``"host"`` (CPU op events) or ``"device"`` (GPU kernels).
        peak_flops_per_second: the peak utilization is measured against.
        peak_source: where the peak comes from, in words.
        notes: what the reader should know (a skipped window says why here).
    """

    step_seconds: tuple[float, ...] = ()
    layers: tuple[LayerTiming, ...] = ()
    categories: tuple[CategoryTiming, ...] = ()
    unprofiled_step_seconds: float | None = None
    window_seconds: float = 0.0
    warmup_steps: int = 0
    reference_steps: int = 0
    source: str = "host"
    peak_flops_per_second: float | None = None
    peak_source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def skipped(cls, reason: str) -> LayerProfile:
        """No window was profiled; ``reason`` says why and how to get one."""
        return cls(notes=(reason,))

    @property
    def steps(self) -> int:
        return len(self.step_seconds)

    @property
    def profiled(self) -> bool:
        return self.steps > 0

    @property
    def step_median(self) -> float:
        return _median(self.step_seconds)

    def category(self, name: str) -> CategoryTiming | None:
        return next((c for c in self.categories if c.name == name), None)

    @property
    def coverage_samples(self) -> tuple[float, ...]:
        """Share of each profiled step charged to specific work."""
        covered = [layer.total_seconds for layer in self.layers]
        covered += [c.seconds for c in self.categories if c.covered]
        if not covered:
            return tuple(0.0 for _ in self.step_seconds)
        totals = _sums(*covered)
        return tuple(
            t / s if s > 0 else 0.0 for t, s in zip(totals, self.step_seconds, strict=True)
        )

    @property
    def coverage(self) -> float | None:
        """The median step's coverage (None when nothing was profiled)."""
        return _median(self.coverage_samples) if self.profiled else None

    @property
    def overhead(self) -> float | None:
        """How much slower the median profiled step is than the unprofiled steps (0.05: 5%)."""
        if not self.profiled or not self.unprofiled_step_seconds:
            return None
        return self.step_median / self.unprofiled_step_seconds - 1

    @property
    def training_flops(self) -> float | None:
        """Forward and backward FLOPs of one step, over the layers that have a count."""
        counts = [f for layer in self.layers if (f := layer.training_flops) is not None]
        return sum(counts) if counts else None

    @property
    def flops_per_second(self) -> float | None:
        flops = self.training_flops
        return flops / self.step_median if flops and self.step_median > 0 else None

    @property
    def utilization(self) -> float | None:
        """The model's achieved FLOP/s over the step as a share of the peak."""
        rate = self.flops_per_second
        if rate is None or not self.peak_flops_per_second:
            return None
        return rate / self.peak_flops_per_second

    def layer_samples(self) -> dict[str, tuple[float, ...]]:
        """Each layer's per-step total seconds, for the noise-aware comparison."""
        return {layer.name: layer.total_seconds for layer in self.layers}

    # -- the table ---------------------------------------------------------------

    def rows(self) -> list[FoldedRow]:
        """The layers in model order; past ``FOLD_ABOVE`` the slowest, and one line for the rest."""
        step = self.step_median
        shown = list(self.layers)
        folded: list[LayerTiming] = []
        if len(shown) > FOLD_ABOVE:
            slowest = sorted(shown, key=lambda layer: -layer.median_seconds)[:SHOWN_WHEN_FOLDED]
            keep = {id(layer) for layer in slowest}
            folded = [layer for layer in shown if id(layer) not in keep]
            shown = [layer for layer in shown if id(layer) in keep]
        rows = [
            FoldedRow(
                name=layer.name,
                kind=layer.kind,
                output_shape=layer.output_shape,
                params=layer.params,
                forward_seconds=_median(layer.forward_seconds),
                backward_seconds=_median(layer.backward_seconds),
                optimizer_seconds=_median(layer.optimizer_seconds),
                share=layer.median_seconds / step if step > 0 else 0.0,
                flops_per_second=layer.flops_per_second,
            )
            for layer in shown
        ]
        if folded:
            forward = _sums(*(layer.forward_seconds for layer in folded))
            backward = _sums(*(layer.backward_seconds for layer in folded))
            optimizer = _sums(*(layer.optimizer_seconds for layer in folded))
            flops = [f for layer in folded if (f := layer.training_flops) is not None]
            compute = _median(_sums(forward, backward))
            rows.append(
                FoldedRow(
                    name=f"{len(folded)} more layers",
                    kind="",
                    output_shape="",
                    params=sum(layer.params for layer in folded),
                    forward_seconds=_median(forward),
                    backward_seconds=_median(backward),
                    optimizer_seconds=_median(optimizer),
                    share=_median(_sums(forward, backward, optimizer)) / step if step > 0 else 0.0,
                    flops_per_second=sum(flops) / compute if flops and compute > 0 else None,
                    folded=len(folded),
                )
            )
        return rows

    # -- plain data ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "step_seconds": list(self.step_seconds),
            "layers": [layer.to_dict() for layer in self.layers],
            "categories": [c.to_dict() for c in self.categories],
            "unprofiled_step_seconds": self.unprofiled_step_seconds,
            "window_seconds": self.window_seconds,
            "warmup_steps": self.warmup_steps,
            "reference_steps": self.reference_steps,
            "source": self.source,
            "peak_flops_per_second": self.peak_flops_per_second,
            "peak_source": self.peak_source,
            "notes": list(self.notes),
            "steps": self.steps,
            "coverage": self.coverage,
            "coverage_samples": list(self.coverage_samples),
            "overhead": self.overhead,
            "training_flops": self.training_flops,
            "utilization": self.utilization,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerProfile:
        return cls(
            step_seconds=tuple(data.get("step_seconds", ())),
            layers=tuple(LayerTiming.from_dict(layer) for layer in data.get("layers", ())),
            categories=tuple(CategoryTiming.from_dict(c) for c in data.get("categories", ())),
            unprofiled_step_seconds=data.get("unprofiled_step_seconds"),
            window_seconds=float(data.get("window_seconds", 0.0)),
            warmup_steps=int(data.get("warmup_steps", 0)),
            reference_steps=int(data.get("reference_steps", 0)),
            source=data.get("source", "host"),
            peak_flops_per_second=data.get("peak_flops_per_second"),
            peak_source=data.get("peak_source", ""),
            notes=tuple(data.get("notes", ())),
        )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def _rate(flops_per_second: float) -> str:
    return f"{flops_per_second / 1e9:.3g} GFLOP/s"


def coverage_line(profile: LayerProfile) -> str:
    """The sentence under a per-layer table: coverage, overhead, FLOPs and utilization."""
    if not profile.profiled:
        return " ".join(profile.notes) or "No step was profiled."
    coverage = profile.coverage or 0.0
    step = profile.step_median
    unprofiled = profile.warmup_steps + profile.reference_steps
    plural = "s" if unprofiled > 1 else ""
    warm = f", after {unprofiled} unprofiled step{plural}" if unprofiled else ""
    gaps = []
    for category in (profile.category(n) for n in (LAUNCH, BETWEEN_OPS, OTHER_OPS)):
        if category is not None and step > 0:
            gaps.append(f"{category.name} {_median(category.seconds) / step:.1%}")
    text = (
        f"Coverage {coverage:.1%} of the step (median of {profile.steps} profiled "
        f"step{'s' if profile.steps > 1 else ''} of {_ms(step)}{warm}); not covered: "
        f"{', '.join(gaps)}."
    )
    overhead = profile.overhead
    if overhead is not None and profile.unprofiled_step_seconds:
        direction = "slower" if overhead >= 0 else "faster"
        reference = (
            f"{profile.reference_steps} unprofiled step{'s' if profile.reference_steps > 1 else ''}"
            " run the same way"
            if profile.reference_steps
            else "the measured epochs' mean step, which holds fit's own per-step work,"
        )
        text += (
            f" The median profiled step is {abs(overhead):.0%} {direction} than {reference} "
            f"({_ms(profile.unprofiled_step_seconds)})."
        )
    flops = profile.training_flops
    rate = profile.flops_per_second
    if flops and rate:
        text += f" {flops / 1e9:.3g} GFLOP per step, {_rate(rate)}"
        utilization = profile.utilization
        if utilization is not None and profile.peak_flops_per_second:
            text += (
                f": {utilization:.0%} of {_rate(profile.peak_flops_per_second)} "
                f"({profile.peak_source})."
            )
        else:
            text += f" ({profile.peak_source or 'no peak known'})."
    notes = " ".join(profile.notes)
    return f"{text} {notes}".rstrip()
