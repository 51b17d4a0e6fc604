"""Fast paths for the common case must answer exactly as the general code does."""

from __future__ import annotations

import pytest

from lbguard.parsers.nginx import split_address


@pytest.mark.parametrize(
    ("address", "default", "expected"),
    [
        ("10.0.0.1:8080", 80, ("10.0.0.1", 8080, "")),
        ("app.internal:1", None, ("app.internal", 1, "")),
        ("a:65535", 80, ("a", 65535, "")),
        ("a:65536", 80, ("a", None, "invalid port")),
        ("a:0", 80, ("a", None, "invalid port")),
        ("UNIX:80", 80, ("UNIX:80", None, "")),
        ("unix:/run/app.sock", None, ("unix:/run/app.sock", None, "")),
        ("[::1]:80", 80, ("::1", 80, "")),
        ("a/b:80", 80, (None, None, "invalid host")),
        ("a?:80", 80, (None, None, "invalid host")),
        (":80", 80, (None, 80, "no host")),
        ("a:8080:1", 80, ("a", None, "invalid port")),
        ("a:\u0663", 80, ("a", 3, "")),  # nginx's \d: an Arabic-Indic digit
        ("a:\u00b2", 80, ("a", None, "invalid port")),  # a superscript is no digit
        ("a:+80", 80, ("a", None, "invalid port")),
        ("host", 80, ("host", 80, "")),
        ("host", None, ("host", None, "no port")),
    ],
)
def test_nginx_split_address(
    address: str, default: int | None, expected: tuple[str | None, int | None, str]
) -> None:
    assert split_address(address, default) == expected
