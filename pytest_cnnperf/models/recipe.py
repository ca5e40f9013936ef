"""Training recipes: how the source documents trained each network.

A :class:`Recipe` records the optimizer, learning rate, batch size, epoch
count, input scaling, learning-rate steps, augmentation and early stopping a
document used, plus where each number comes from. The runner trains with the
recipe unless a test overrides a field. Recipes are checked when they are
made, so a typo fails where it is written rather than in the middle of a
training run.

Keras is imported only by :meth:`Recipe.make_optimizer`,
:meth:`Recipe.make_loss` and :meth:`Augmentation.layers`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pytest_cnnperf.backends.imports import import_keras

if TYPE_CHECKING:
    import keras
    from keras.layers import Layer

__all__ = ["OPTIMIZER_OPTIONS", "Augmentation", "Recipe"]

_CLIPPING = frozenset({"clipnorm", "clipvalue", "global_clipnorm"})

#: The numeric keyword arguments each supported Keras optimizer accepts
#: (besides ``learning_rate``). Boolean switches such as ``nesterov`` are left
#: out because option values are floats.
OPTIMIZER_OPTIONS: dict[str, frozenset[str]] = {
    "Adadelta": frozenset({"rho", "epsilon", "weight_decay"}) | _CLIPPING,
    "Adagrad": frozenset({"initial_accumulator_value", "epsilon", "weight_decay"}) | _CLIPPING,
    "Adam": frozenset({"beta_1", "beta_2", "epsilon", "weight_decay"}) | _CLIPPING,
    "RMSprop": frozenset({"rho", "momentum", "epsilon", "weight_decay"}) | _CLIPPING,
    "SGD": frozenset({"momentum", "weight_decay"}) | _CLIPPING,
}

_INPUT_SCALES = ("unit", "raw")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


@dataclass(frozen=True)
class Augmentation:
    """Random image augmentation applied to training batches outside the model.

    The fields mirror the ``ImageDataGenerator`` arguments the documents used
    (``width_shift_range``/``height_shift_range``, ``horizontal_flip``,
    ``rotation_range``) and map onto Keras 3 preprocessing layers.

    Attributes:
        shift_fraction: largest random shift, as a fraction of the height and
            of the width (``RandomTranslation`` factor), in ``[0, 1]``.
        horizontal_flip: flip images left-right at random.
        rotation_fraction: largest random rotation, as a fraction of a full
            turn (``RandomRotation`` factor), in ``[0, 1]``.
    """

    shift_fraction: float = 0.0
    horizontal_flip: bool = False
    rotation_fraction: float = 0.0

    def __post_init__(self) -> None:
        for name in ("shift_fraction", "rotation_fraction"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value <= 1:
                raise ValueError(
                    f"Expected {name} to be a number in [0, 1]. Received: {name}={value!r}"
                )
        if not isinstance(self.horizontal_flip, bool):
            raise ValueError(
                "Expected horizontal_flip to be True or False. "
                f"Received: horizontal_flip={self.horizontal_flip!r}"
            )

    def layers(self, seed: int) -> list[Layer]:
        """Return the Keras layers that apply this augmentation.

        Translation fills with the nearest edge pixel, as ``ImageDataGenerator``
        did by default in the documents' Keras 2 code. Each layer gets its own
        seed (``seed``, ``seed + 1``, ``seed + 2``) so that shifts, flips and
        rotations are not drawn from one correlated stream.

        Args:
            seed: the seed of the first layer.

        Returns:
            The layers in application order; an empty list when the
            augmentation does nothing.
        """
        if not _is_count(seed, 0):
            raise ValueError(f"Expected seed to be a non-negative integer. Received: seed={seed!r}")
        keras = import_keras()
        layers: list[Layer] = []
        if self.shift_fraction > 0:
            layers.append(
                keras.layers.RandomTranslation(
                    height_factor=self.shift_fraction,
                    width_factor=self.shift_fraction,
                    fill_mode="nearest",
                    seed=seed,
                    name="augment_translation",
                )
            )
        if self.horizontal_flip:
            layers.append(keras.layers.RandomFlip("horizontal", seed=seed + 1, name="augment_flip"))
        if self.rotation_fraction > 0:
            layers.append(
                keras.layers.RandomRotation(
                    self.rotation_fraction, seed=seed + 2, name="augment_rotation"
                )
            )
        return layers


@dataclass(frozen=True)
class Recipe:
    """A documented training recipe.

    Attributes:
        optimizer: Keras optimizer class name: ``"Adadelta"``, ``"Adagrad"``,
            ``"Adam"``, ``"RMSprop"`` or ``"SGD"``.
        learning_rate: the base learning rate, set explicitly: Keras 3's
            defaults differ from Keras 2's (``"adadelta"`` meant 1.0 in
            Keras 2.0/2.1 and means 0.001 in Keras 3).
        batch_size: images per training step.
        epochs: the number of epochs the document trained for (the upper
            bound when ``early_stopping_patience`` is set). Recorded so that
            the recipe says the whole documented training; ``cnnperf.train``
            does not use it: a performance test measures the test's
            ``epochs`` setting or ``--cnnperf-epochs`` (default 3), not a
            full training run.
        optimizer_options: other numeric optimizer arguments, as
            ``(name, value)`` pairs, e.g. ``(("momentum", 0.9),)``.
        from_logits: the model ends in a linear layer, so the loss takes logits.
        input_scale: ``"unit"`` feeds pixels divided by 255; ``"raw"`` feeds
            the 0..255 values as floats (what the seed 001 code did, and what
            models with their own ``Rescaling`` layer expect).
        lr_steps: ``(epoch, multiplier)`` pairs: from that 0-based epoch on
            (Keras callbacks count from 0) the rate is the base rate times the
            multiplier. Multipliers are relative to the base rate, not to the
            previous step.
        augmentation: augmentation the runner applies to training batches;
            augmentation built into the model is not repeated here.
        early_stopping_patience: stop after this many epochs without a lower
            validation loss; ``None`` trains for ``epochs``.
        source: where the numbers come from.
    """

    optimizer: str
    learning_rate: float
    batch_size: int
    epochs: int
    optimizer_options: tuple[tuple[str, float], ...] = ()
    from_logits: bool = False
    input_scale: Literal["unit", "raw"] = "unit"
    lr_steps: tuple[tuple[int, float], ...] = ()
    augmentation: Augmentation | None = None
    early_stopping_patience: int | None = None
    source: str = ""

    def __post_init__(self) -> None:
        self._check_optimizer()
        if not _is_number(self.learning_rate) or self.learning_rate <= 0:
            raise ValueError(
                "Expected learning_rate to be a positive number. "
                f"Received: learning_rate={self.learning_rate!r}"
            )
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            if not _is_count(value, 1):
                raise ValueError(
                    f"Expected {name} to be a positive integer. Received: {name}={value!r}"
                )
        self._check_optimizer_options()
        if not isinstance(self.from_logits, bool):
            raise ValueError(
                "Expected from_logits to be True or False. "
                f"Received: from_logits={self.from_logits!r}"
            )
        if self.input_scale not in _INPUT_SCALES:
            raise ValueError(
                "Expected input_scale to be 'unit' (pixels / 255) or 'raw' (0..255). "
                f"Received: input_scale={self.input_scale!r}"
            )
        self._check_lr_steps()
        if self.augmentation is not None and not isinstance(self.augmentation, Augmentation):
            raise ValueError(
                "Expected augmentation to be an Augmentation or None. "
                f"Received: augmentation={self.augmentation!r}"
            )
        patience = self.early_stopping_patience
        if patience is not None and not _is_count(patience, 0):
            raise ValueError(
                "Expected early_stopping_patience to be a non-negative integer or None. "
                f"Received: early_stopping_patience={patience!r}"
            )
        if not isinstance(self.source, str):
            raise ValueError(f"Expected source to be a string. Received: source={self.source!r}")

    def _check_optimizer(self) -> None:
        if self.optimizer in OPTIMIZER_OPTIONS:
            return
        known = sorted(OPTIMIZER_OPTIONS)
        by_lower = {name.lower(): name for name in known}
        hint = ""
        if isinstance(self.optimizer, str) and self.optimizer.lower() in by_lower:
            hint = f" Did you mean {by_lower[self.optimizer.lower()]!r}?"
        raise ValueError(
            f"Expected optimizer to be a Keras optimizer class name, one of: "
            f"{', '.join(known)}.{hint} Received: optimizer={self.optimizer!r}"
        )

    def _check_optimizer_options(self) -> None:
        allowed = OPTIMIZER_OPTIONS[self.optimizer]
        options = self.optimizer_options
        well_formed = isinstance(options, tuple) and all(
            isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)
            for pair in options
        )
        if not well_formed:
            raise ValueError(
                "Expected optimizer_options to be a tuple of (name, number) pairs, "
                "e.g. (('momentum', 0.9),). "
                f"Received: optimizer_options={options!r}"
            )
        names = [name for name, _ in options]
        for name, value in options:
            if name not in allowed:
                raise ValueError(
                    f"Keras' {self.optimizer} has no numeric option {name!r}. Expected "
                    f"names among: {', '.join(sorted(allowed))}. "
                    f"Received: optimizer_options={options!r}"
                )
            if names.count(name) > 1:
                raise ValueError(
                    f"Expected each optimizer option once, but {name!r} appears "
                    f"{names.count(name)} times. Received: optimizer_options={options!r}"
                )
            if not _is_number(value):
                raise ValueError(
                    f"Expected optimizer option {name!r} to be a finite number. "
                    f"Received: optimizer_options={options!r}"
                )

    def _check_lr_steps(self) -> None:
        steps = self.lr_steps
        problem = not isinstance(steps, tuple)
        previous = -1
        for step in steps if not problem else ():
            if not (isinstance(step, tuple) and len(step) == 2):
                problem = True
                break
            epoch, multiplier = step
            if not _is_count(epoch, previous + 1) or not _is_number(multiplier) or multiplier <= 0:
                problem = True
                break
            previous = epoch
        if problem:
            raise ValueError(
                "Expected lr_steps to be (epoch, multiplier) pairs with 0-based epochs in "
                "increasing order and positive multipliers, e.g. ((40, 0.1),). "
                f"Received: lr_steps={steps!r}"
            )

    def replace(self, **changes: object) -> Recipe:
        """Return a copy with ``changes`` applied, checked like a new recipe.

        Raises:
            ValueError: a change names no field of ``Recipe``, or a value is
                invalid.
        """
        fields = [field.name for field in dataclasses.fields(self)]
        for name, value in changes.items():
            if name not in fields:
                close = difflib.get_close_matches(name, fields, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ValueError(
                    f"Recipe has no field {name!r}.{hint} Expected one of: "
                    f"{', '.join(fields)}. Received: {name}={value!r}"
                )
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def make_optimizer(self, learning_rate: float | None = None) -> keras.optimizers.Optimizer:
        """Create the Keras optimizer.

        Args:
            learning_rate: overrides the recipe's base learning rate.

        Returns:
            A new ``keras.optimizers.<optimizer>`` instance.
        """
        rate = self.learning_rate if learning_rate is None else learning_rate
        if not _is_number(rate) or rate <= 0:
            raise ValueError(
                "Expected learning_rate to be a positive number. "
                f"Received: learning_rate={learning_rate!r}"
            )
        keras = import_keras()
        optimizer_class = getattr(keras.optimizers, self.optimizer)
        return optimizer_class(learning_rate=rate, **dict(self.optimizer_options))

    def make_loss(self) -> keras.losses.Loss:
        """Create the loss: sparse categorical cross-entropy on integer class ids.

        The documents used categorical cross-entropy on one-hot labels; the
        sparse form computes the same value from integer labels.
        """
        keras = import_keras()
        return keras.losses.SparseCategoricalCrossentropy(from_logits=self.from_logits)

    def learning_rate_at(self, epoch: int, base: float | None = None) -> float:
        """Return the learning rate for a 0-based epoch after ``lr_steps``.

        Args:
            epoch: the 0-based epoch index, as Keras'
                ``LearningRateScheduler`` passes it.
            base: the base rate; defaults to the recipe's ``learning_rate``.
        """
        if not _is_count(epoch, 0):
            raise ValueError(
                f"Expected epoch to be a non-negative integer (0-based). Received: epoch={epoch!r}"
            )
        rate = self.learning_rate if base is None else base
        if not _is_number(rate) or rate <= 0:
            raise ValueError(f"Expected base to be a positive number. Received: base={base!r}")
        multiplier = 1.0
        for start, step_multiplier in self.lr_steps:
            if epoch >= start:
                multiplier = step_multiplier
        return float(rate * multiplier)
