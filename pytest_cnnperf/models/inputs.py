"""Which input shapes and class counts each builder accepts.

Every builder checks its arguments before it creates a layer, so an
unsupported shape fails with a message naming the model, the shape received
and the shapes it supports, instead of a Keras error about a negative
dimension deep inside the network.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "InputShape",
    "InputSupport",
    "check_flag",
    "check_input_shape",
    "check_num_classes",
    "check_seed",
]

#: ``(height, width, channels)``, channels last.
InputShape = tuple[int, int, int]


@dataclass(frozen=True)
class InputSupport:
    """The input shapes a builder accepts.

    A shape is accepted when it is one of ``documented``, or when it fits the
    general rule: square ``sides`` (any channels), or height and width of at
    least ``min_side`` (with ``channels`` channels when that is set).

    Attributes:
        documented: the shapes the source documents used, listed first in
            messages.
        min_side: smallest height and width the layer stack survives, or
            ``None`` when only the listed shapes work.
        channels: channel count the general rule requires; ``None`` for any.
        sides: square sizes accepted with any channel count (``32`` means
            any ``32x32xC``).
    """

    documented: tuple[InputShape, ...]
    min_side: int | None = None
    channels: int | None = None
    sides: tuple[int, ...] = ()

    def accepts(self, shape: InputShape) -> bool:
        """Return whether ``shape`` is supported."""
        height, width, channels = shape
        if shape in self.documented:
            return True
        if height == width and height in self.sides:
            return True
        if self.min_side is None:
            return False
        if self.channels is not None and channels != self.channels:
            return False
        return height >= self.min_side and width >= self.min_side

    def describe(self) -> str:
        """Describe the supported shapes, e.g. ``(227, 227, 3), or any HxWx3 with H, W >= 67``."""
        parts = [str(shape) for shape in self.documented]
        rules = [f"{side}x{side}xC" for side in self.sides]
        if self.min_side is not None:
            channels = "C" if self.channels is None else str(self.channels)
            rules.append(f"HxWx{channels} with H, W >= {self.min_side}")
        if rules:
            parts.append("or any " + " or ".join(rules))
        return ", ".join(parts)


def check_input_shape(model: str, input_shape: object, support: InputSupport) -> InputShape:
    """Return ``input_shape`` as a tuple, or raise ``ValueError`` if ``model`` cannot take it."""
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else input_shape
    well_formed = (
        isinstance(shape, tuple)
        and len(shape) == 3
        and all(isinstance(size, int) and not isinstance(size, bool) and size > 0 for size in shape)
    )
    if not well_formed:
        raise ValueError(
            f"Model {model!r} cannot take input_shape={shape!r}. Expected three positive "
            f"integers (height, width, channels). Received: input_shape={shape!r}"
        )
    checked: InputShape = shape  # type: ignore[assignment]
    if not support.accepts(checked):
        raise ValueError(
            f"Model {model!r} cannot take input_shape={checked}. Expected one of: "
            f"{support.describe()}. Received: input_shape={checked}"
        )
    return checked


def check_num_classes(model: str, num_classes: object) -> int:
    """Return ``num_classes``, or raise ``ValueError`` unless it is an integer >= 2."""
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise ValueError(
            f"Model {model!r} cannot take num_classes={num_classes!r}. Expected an integer "
            f">= 2. Received: num_classes={num_classes!r}"
        )
    return num_classes


def check_flag(model: str, name: str, value: object) -> bool:
    """Return a boolean builder option, or raise ``ValueError``."""
    if not isinstance(value, bool):
        raise ValueError(
            f"Model {model!r} expects {name} to be True or False. Received: {name}={value!r}"
        )
    return value


def check_seed(model: str, seed: object) -> int | None:
    """Return a seed option (a non-negative integer or ``None``), or raise ``ValueError``."""
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ValueError(
            f"Model {model!r} expects seed to be a non-negative integer or None. "
            f"Received: seed={seed!r}"
        )
    return seed
