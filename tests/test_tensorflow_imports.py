"""Nothing outside ``pytest_cnnperf/backends/`` imports TensorFlow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_cnnperf"


def tensorflow_imports(source: str) -> list[int]:
    """Lines of ``source`` that import TensorFlow or call ``import_tensorflow``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] + [alias.name for alias in node.names]
        elif isinstance(node, ast.Name | ast.Attribute):
            names = [node.id if isinstance(node, ast.Name) else node.attr]
        else:
            continue
        if any(
            n == "tensorflow" or n.startswith("tensorflow.") or n == "import_tensorflow"
            for n in names
        ):
            lines.append(node.lineno)
    return sorted(set(lines))


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        ("import tensorflow as tf\n", [1]),
        ("def f():\n    from tensorflow.tsl.profiler.protobuf import xplane_pb2\n", [2]),
        ("from pytest_cnnperf.backends.imports import import_tensorflow\n", [1]),
        ("tf = imports.import_tensorflow()\n", [1]),
        ("import jax\nfrom jax.profiler import ProfileData\n", []),
    ],
)
def test_the_scan_finds_every_way_of_importing_tensorflow(source: str, lines: list[int]) -> None:
    assert tensorflow_imports(source) == lines


def test_no_module_outside_the_backends_imports_tensorflow() -> None:
    found = {}
    inside = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        lines = tensorflow_imports(path.read_text(encoding="utf-8"))
        if relative.startswith("backends/"):
            if lines:
                inside.add(relative)
            continue
        if lines:
            found[relative] = lines
    # The scan reads the real package: the TensorFlow backend's modules import it.
    assert {"backends/tensorflow.py", "backends/tensorflow_layers.py"} <= inside
    assert not found, (
        "TensorFlow is imported outside pytest_cnnperf/backends/ (module: lines): "
        f"{found}. Move the TensorFlow-specific code behind the backend's interface."
    )
