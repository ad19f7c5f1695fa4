"""Nox sessions: tests, lint, typecheck, e2e (browser) and bench. Arguments after `--` go through."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True


def _install(session: nox.Session) -> None:
    session.install("-e", ".[dev]")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole pytest suite (browser tests included)."""
    _install(session)
    session.run("pytest", *session.posargs)


@nox.session
def e2e(session: nox.Session) -> None:
    """Only the browser tests (Playwright driving /usr/bin/chromium)."""
    _install(session)
    session.run("pytest", "-m", "browser", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, lint and format check."""
    _install(session)
    session.run("ruff", "check", ".", *session.posargs)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy in strict mode over both packages."""
    _install(session)
    session.run("mypy", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark in bench/, each printing its ratios against an in-run baseline."""
    _install(session)
    session.run("python", "-m", "bench", *session.posargs)
