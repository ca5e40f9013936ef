"""Seeded, stratified subsets: each class keeps its share of the images."""

from __future__ import annotations

import numpy as np

from pytest_cnnperf.datasets.core import Array


def allocate(counts: Array, size: int) -> Array:
    """Split `size` over classes in proportion to `counts` (largest remainder).

    Each quota is the floor of its exact share, and the images still unassigned
    go to the classes with the largest fractional parts (ties to the lower class
    id). No quota exceeds its count as long as `size <= counts.sum()`.
    """
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros_like(counts)
    exact = counts * size / total
    quotas = np.floor(exact).astype(np.int64)
    short = size - int(quotas.sum())
    if short:
        # Stable sort on the negated remainder: largest first, ties by class id.
        order = np.argsort(-(exact - quotas), kind="stable")
        quotas[order[:short]] += 1
    return quotas


def stratified_split(
    labels: Array, sizes: tuple[int, ...], rng: np.random.Generator
) -> tuple[Array, ...]:
    """Disjoint index sets of the given `sizes`, each with the class mix of `labels`.

    Within a class the images are drawn in one random order and dealt out to
    the sets in turn, so the sets never overlap. Each returned index array is
    sorted, keeping the distributed order of the images.
    """
    labels = np.asarray(labels)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    remaining = counts.copy()
    quotas = []
    for size in sizes:
        quota = allocate(remaining, size)
        quotas.append(quota)
        remaining = remaining - quota
    picked: list[list[Array]] = [[] for _ in sizes]
    for class_index in range(len(classes)):
        members = np.flatnonzero(inverse == class_index)
        members = members[rng.permutation(len(members))]
        start = 0
        for which, quota in enumerate(quotas):
            stop = start + int(quota[class_index])
            picked[which].append(members[start:stop])
            start = stop
    return tuple(
        np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64) for parts in picked
    )


def stratified_subset(labels: Array, size: int, rng: np.random.Generator) -> Array:
    """Sorted indices of `size` images with the class mix of `labels`."""
    return stratified_split(labels, (size,), rng)[0]
