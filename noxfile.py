"""nox sessions; `tests` is what .ci/run runs."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the plugin's own tests (unit, pytester acceptance, suite smoke run)."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests", "-n", "2", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[test]", "mypy")
    session.run("mypy", *session.posargs)


@nox.session
def suites(session: nox.Session) -> None:
    """Run the shipped suites (CPU profile unless --cnnperf-gpu is passed)."""
    session.install("-e", ".[test]")
    session.run("pytest", "suites", *session.posargs)
