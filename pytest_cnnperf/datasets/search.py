"""Where data-set files are looked for, in order.

1. the `data_dir` argument (the plugin passes `--cnnperf-data-dir` / the ini
   key `cnnperf_data_dir`);
2. the `CNNPERF_DATA_DIR` environment variable;
3. the Keras cache, `$KERAS_HOME/datasets` or `~/.keras/datasets`.

Within each base the loader looks in `<base>/<name>/`, in `<base>/` itself,
and in the folders the Keras cache uses for that data set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_VARIABLE = "CNNPERF_DATA_DIR"


@dataclass(frozen=True)
class Place:
    """A directory to look in, and why it is looked in."""

    path: Path
    via: str


def keras_cache_dir() -> Path:
    """The folder `keras.datasets` downloads into: `$KERAS_HOME/datasets` or `~/.keras/datasets`."""
    home = os.environ.get("KERAS_HOME")
    base = Path(home).expanduser() if home else Path("~/.keras").expanduser()
    return base / "datasets"


def search_bases(data_dir: str | os.PathLike[str] | None) -> list[Place]:
    """The base directories in search order; unset ones are left out."""
    bases: list[Place] = []
    if data_dir is not None and os.fspath(data_dir) != "":
        bases.append(Place(Path(os.fspath(data_dir)).expanduser(), "data_dir argument"))
    from_env = os.environ.get(ENV_VARIABLE)
    if from_env:
        bases.append(Place(Path(from_env).expanduser(), ENV_VARIABLE))
    bases.append(Place(keras_cache_dir(), "Keras cache"))
    return bases


def search_places(
    name: str, keras_subdirs: tuple[str, ...], data_dir: str | os.PathLike[str] | None
) -> list[Place]:
    """Every directory to look in for data set `name`, in order, without repeats."""
    places: list[Place] = []
    seen: set[str] = set()
    for base in search_bases(data_dir):
        for path in (base.path / name, base.path, *(base.path / sub for sub in keras_subdirs)):
            key = os.path.normcase(os.path.abspath(path))
            if key not in seen:
                seen.add(key)
                places.append(Place(Path(os.path.abspath(path)), base.via))
    return places
