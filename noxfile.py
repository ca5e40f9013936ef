"""nox sessions; CI (.ci/run) runs `tests`, `lint` and `typecheck`.

CI has already installed the project and its dev tools into its virtual
environment, so it runs these sessions with `--no-venv`: `_install` skips the
installs there, and the commands are the same ones a developer's `nox` runs.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


# What .ci/run installs for Keras' other backends: the tests that train on them, and
# mypy, which reads their type information, see them as CI does.
BACKEND_PACKAGES = ("jax==0.10.2", "jaxlib==0.10.2", "torch==2.13.0")


def _install(session: nox.Session, *args: str) -> None:
    if session.venv_backend != "none":
        session.install(*args)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the plugin's own tests (unit, pytester acceptance, suite smoke run)."""
    _install(session, "-e", ".[test]", *BACKEND_PACKAGES)
    session.run("pytest", "tests", "-n", "2", "--dist", "worksteal", *session.posargs)


@nox.session
def backends(session: nox.Session) -> None:
    """Run the tests that train on JAX and PyTorch, the zoo on both included.

    `tests` runs them too, less the zoo (marked backend_zoo, deselected by
    default in pyproject.toml): one subprocess per model and backend takes
    about 3 minutes of the 2-core machine.
    """
    _install(session, "-e", ".[test]", *BACKEND_PACKAGES)
    session.run(
        "pytest",
        "tests/test_acceptance_backends.py",
        "tests/test_acceptance_jax_layers.py",
        "tests/test_backends_zoo.py",
        "tests/test_sidebyside.py",
        "tests/test_torch_layers.py",
        "-m",
        "backend_zoo or not backend_zoo",
        "-n",
        "2",
        "--dist",
        "worksteal",
        *session.posargs,
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    _install(session, "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    _install(session, "-e", ".[test]", *BACKEND_PACKAGES, "mypy")
    session.run("mypy", *session.posargs)


@nox.session
def suites(session: nox.Session) -> None:
    """Run the shipped suites (CPU profile unless --cnnperf-gpu is passed)."""
    _install(session, "-e", ".[test]")
    session.run("pytest", "suites", *session.posargs)
