"""Access-log reading: both formats, retries, odd lines, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbguard.accesslog import HAPROXY, NGINX, read_access_log, upstream_counts
from lbguard.errors import ConfigReadError

NGINX_LOG = """\
203.0.113.7 - - [24/Nov/2026:10:00:00 +0000] "GET /a?x=1 HTTP/1.1" 200 512 "-" "curl/8" 10.0.0.1:80 0.010
203.0.113.8 - alice [24/Nov/2026:10:00:01 +0000] "POST /b HTTP/1.1" 502 0 "-" "Mozilla/5.0 (X11)" 10.0.0.1:80, 10.0.0.2:80 0.5, 0.020
this line is garbage
203.0.113.9 - - [24/Nov/2026:10:00:02 +0000] "GET /c HTTP/2.0" 200 99 "https://x/" "ua" 10.0.0.2:80 0.001
"""

HAPROXY_LOG = """\
Nov 24 10:00:00 lb haproxy[123]: 203.0.113.7:40000 [24/Nov/2026:10:00:00.100] www app/web-01 0/0/1/2/3 200 512 - - ---- 1/1/0/0/0 0/0 "GET /a HTTP/1.1"
Nov 24 10:00:01 lb haproxy[123]: 203.0.113.8:40001 [24/Nov/2026:10:00:01.100] www app/web-02 0/0/1/2/3 503 0 - - ---- 1/1/0/0/0 0/0 {h} "GET /b?q=2 HTTP/1.1"
"""


def test_nginx_combined_with_upstream_fields(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text(NGINX_LOG)
    log = read_access_log(path)
    assert log.format == NGINX and len(log) == 3
    assert log.frame["client_ip"].to_list() == ["203.0.113.7", "203.0.113.8", "203.0.113.9"]
    assert log.frame["uri"].to_list() == ["/a?x=1", "/b", "/c"]
    assert log.frame["status"].to_list() == [200, 502, 200]
    # A retried request ("a, b") counts for the server that answered last.
    assert upstream_counts(log) == {"10.0.0.1:80": 1, "10.0.0.2:80": 2}


def test_haproxy_httplog(tmp_path: Path) -> None:
    path = tmp_path / "haproxy.log"
    path.write_text(HAPROXY_LOG)
    log = read_access_log(path)
    assert log.format == HAPROXY
    assert log.frame["uri"].to_list() == ["/a", "/b?q=2"]
    assert upstream_counts(log) == {"app/web-01": 1, "app/web-02": 1}


@pytest.mark.parametrize(
    ("content", "expect"),
    [(b"", "not an nginx combined"), (b"hello\nworld\n", "not an nginx combined")],
)
def test_bad_logs_are_one_line_errors(tmp_path: Path, content: bytes, expect: str) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(content)
    with pytest.raises(ConfigReadError, match=expect):
        read_access_log(path)


def test_missing_log(tmp_path: Path) -> None:
    with pytest.raises(ConfigReadError, match="no such file"):
        read_access_log(tmp_path / "nope.log")
