"""HAProxy's quoting, escaping and variable rules (doc/configuration.txt 2.2, 2.3)."""

from __future__ import annotations

from lbguard.parsers.haproxy_lexer import tokenize


def words(text: str, env: dict[str, str] | None = None) -> tuple[str, ...]:
    return tokenize(text, 1, env or {}).words


def test_plain_line_and_columns() -> None:
    line = tokenize("    server web-01 10.0.0.1:80  check", 3, {})
    assert line.words == ("server", "web-01", "10.0.0.1:80", "check")
    assert line.columns == (5, 12, 19, 32)


def test_comments_end_the_line_unless_protected() -> None:
    assert words("mode http # comment") == ("mode", "http")
    assert words("mode http#comment") == ("mode", "http#comment") or words("mode http#comment") == (
        "mode",
        "http",
    )
    assert words(r"acl a hdr(x) -m str \#frag") == ("acl", "a", "hdr(x)", "-m", "str", "#frag")
    assert words('acl a hdr(x) "#frag"') == ("acl", "a", "hdr(x)", "#frag")


def test_escapes_outside_quotes() -> None:
    assert words(r"log-format %t\ %s") == ("log-format", "%t %s")
    assert words(r"x a\\b") == ("x", "a\\b")
    assert words(r"x \x41\x42") == ("x", "AB")
    assert words(r"x a\nb") == ("x", "a\nb")


def test_weak_and_strong_quotes() -> None:
    assert words('log-format "%t %s"') == ("log-format", "%t %s")
    assert words("x '$HOME a'") == ("x", "$HOME a")
    assert words("""x "%t"' %s'\\ %r""") == ("x", "%t %s %r")


def test_env_only_inside_double_quotes() -> None:
    env = {"IP": "10.0.0.1"}
    assert words('server a "${IP}:80"', env) == ("server", "a", "10.0.0.1:80")
    assert words('server a "$IP:80"', env) == ("server", "a", "10.0.0.1:80")
    assert words("server a ${IP}:80", env) == ("server", "a", "${IP}:80")
    assert words("server a '${IP}:80'", env) == ("server", "a", "${IP}:80")


def test_env_default_and_unset() -> None:
    line = tokenize('log "${SYSLOG-127.0.0.1}:514" local0', 1, {})
    assert line.words[1] == "127.0.0.1:514"
    assert line.unresolved == ()
    unset = tokenize('server web-02 "${WEB2_IP}:80" check', 7, {})
    assert unset.words == ("server", "web-02", ":80", "check")
    assert unset.unresolved == (("WEB2_IP", 16),)


def test_env_list_expansion() -> None:
    assert words('bind "${ADDRS[*]}"', {"ADDRS": ":80 :81"}) == ("bind", ":80", ":81")


def test_unmatched_quote_is_an_error() -> None:
    line = tokenize('acl x path "/foo', 2, {})
    assert line.errors and "unmatched double quote" in line.errors[0][1]
    assert line.errors[0][0] == 12
