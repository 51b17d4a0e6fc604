"""The real nginx binary's verdict through lbguard's safe wrapper (nginx -t on a copy)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from lbguard.findings import Finding, Severity
from lbguard.native_nginx import find_nginx, run_nginx_check

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"

pytestmark = pytest.mark.native


def require_nginx() -> str:
    """The nginx binary; skips without one unless LBGUARD_REQUIRE_NATIVE=1 (then fails)."""
    binary = find_nginx()
    if binary is None:
        if os.environ.get("LBGUARD_REQUIRE_NATIVE") == "1":
            pytest.fail("nginx is required (LBGUARD_REQUIRE_NATIVE=1) but was not found")
        pytest.skip("nginx binary not installed")
    return binary


def failing(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity >= Severity.ERROR or f.environment]


def test_valid_config_passes(tmp_path: Path) -> None:
    require_nginx()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "events {}\nhttp {\n  upstream u { server 127.0.0.1:8080; }\n"
        "  server { listen 127.0.0.1:8081; location / { proxy_pass http://u; } }\n}\n"
    )
    assert run_nginx_check([conf]) == []


def test_error_line_maps_back_to_the_users_file(tmp_path: Path) -> None:
    require_nginx()
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "bad.conf").write_text("\n\nproxy_passs http://x;\n")
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp { server { location / { include inc/*.conf; } } }\n")
    findings = run_nginx_check([conf])
    assert [(f.location.path, f.location.line) for f in findings] == [
        (str(tmp_path / "inc" / "bad.conf"), 3)
    ]
    assert findings[0].code == "NATIVE" and 'unknown directive "proxy_passs"' in findings[0].message


def test_fragment_is_wrapped_and_mapped(tmp_path: Path) -> None:
    require_nginx()
    frag = tmp_path / "site.conf"
    frag.write_text("# a fragment\nlocation / {\n  gzip maybe;\n}\n")
    findings = run_nginx_check([frag], context="server")
    assert [(f.location.path, f.location.line) for f in findings] == [(str(frag), 3)]


def test_log_files_are_never_created_on_the_host(tmp_path: Path) -> None:
    require_nginx()
    outside = tmp_path / "outside"
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"error_log {outside}/main-error.log;\npid {outside}/nginx.pid;\nevents {{}}\n"
        f"http {{\n  access_log {outside}/access.log;\n  proxy_cache_path {outside}/cache "
        "keys_zone=c:1m;\n"
        f'  server {{ listen 127.0.0.1:8082; access_log "{outside}/site.log" combined; }}\n}}\n'
    )
    outside.mkdir()
    assert run_nginx_check([conf]) == []
    assert list(outside.iterdir()) == []


def test_unresolvable_upstream_host_is_an_environment_warning(tmp_path: Path) -> None:
    require_nginx()
    conf = tmp_path / "u.conf"
    conf.write_text("upstream u {\n  server backend.invalid:80;\n}\n")
    findings = run_nginx_check([conf], context="http")
    assert len(findings) == 1
    assert findings[0].environment and findings[0].severity == Severity.WARNING
    assert findings[0].location.line == 2


def test_agrees_with_native_tsv_on_every_corpus_file() -> None:
    """Same pass/fail verdict as the recorded `nginx -t` runs for all 150 files."""
    require_nginx()
    with (CORPUS / "NATIVE.tsv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["kind"] == "nginx"]
    assert len(rows) == 150
    disagree = []
    for row in rows:
        context = "main" if row["wrapped"] == "no" else row["wrapped"]
        findings = run_nginx_check([CORPUS / "nginx" / row["saved_name"]], context=context)
        if (not failing(findings)) != (row["class"] == "ok"):
            disagree.append(row["saved_name"])
    assert disagree == []
