"""Shared test helpers: where the shared corpus lives, and how native tests find binaries."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbguard.native import find_binary
from postgres_server import PostgresServer, postgres_server

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
EXAMPLES = ROOT / "examples"


def _require(name: str) -> str:
    path = find_binary(name)
    if path is None:
        if os.environ.get("LBGUARD_REQUIRE_NATIVE") == "1":
            pytest.fail(f"{name} is required (LBGUARD_REQUIRE_NATIVE=1) but is not installed")
        pytest.skip(f"{name} is not installed")
    return path


def require_haproxy() -> str:
    return _require("haproxy")


def require_nginx() -> str:
    return _require("nginx")


def require_shared() -> Path:
    if not CORPUS.is_dir():
        if os.environ.get("LBGUARD_REQUIRE_NATIVE") == "1":
            pytest.fail(f"the shared corpus is missing at {CORPUS}")
        pytest.skip("the shared corpus is not next to this checkout")
    return SHARED


@pytest.fixture
def haproxy_bin() -> str:
    return require_haproxy()


@pytest.fixture
def nginx_bin() -> str:
    return require_nginx()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session; each test takes its own database."""
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.native)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same store tests run on SQLite and on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lbguard.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()
