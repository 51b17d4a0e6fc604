"""Drift is semantic: edits that change nothing are not drift, and every real change is
found, named and ranked by the traffic it moves."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbguard.audit.drift import config_drift, share_shift
from lbguard.audit.findings import Kind
from lbguard.audit.normalise import state_hash, to_pool, unpack_pool
from lbguard.audit.run import new_findings, read_states
from lbguard.model import Dialect
from lbguard.settings import Settings
from lbguard.simulate.predict import predict

BASE = """\
global
    maxconn 1000

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend www
    bind 127.0.0.1:8080
    default_backend app

backend app
    balance roundrobin
    option httpchk GET /healthz
    server web-01 10.0.1.11:8080 check weight 3 maxconn 100
    server web-02 10.0.1.12:8080 check weight 1 maxconn 100
    server web-03 10.0.1.13:8080 check weight 1 maxconn 100

backend cache
    balance uri
    hash-type consistent
    server c1 10.0.2.1:80 check
    server c2 10.0.2.2:80 check
"""

SETTINGS = Settings.model_validate({})


def _state(tmp_path: Path, text: str, name: str = "haproxy.cfg") -> tuple[dict, object]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    (st,) = read_states([str(path)], SETTINGS, native=False)
    return st.state, st.config


def _drift(tmp_path: Path, old_text: str, new_text: str) -> list:
    old, _ = _state(tmp_path, old_text)
    new, config = _state(tmp_path, new_text)
    return config_drift("haproxy.cfg", old, new, config)  # type: ignore[arg-type]


def test_comments_whitespace_and_section_order_are_not_drift(tmp_path: Path) -> None:
    old, _ = _state(tmp_path, BASE)
    head, cache = BASE.split("backend cache")
    shuffled = (
        "# reviewed 2026-11-30\n"
        + head.replace(
            "    balance roundrobin", "    balance   roundrobin   # the default"
        ).replace("\n\nbackend app", "\n\n\n# the web tier\nbackend app")
        + "backend cache"
        + cache
    )
    new, config = _state(tmp_path, shuffled)
    assert state_hash(old["pools"]) == state_hash(new["pools"])
    assert config_drift("haproxy.cfg", old, new, config) == []  # type: ignore[arg-type]
    # ...but the file hashes differ, so the content change is still visible.
    assert old["files"] != new["files"]


@pytest.mark.parametrize(
    ("edit", "change", "server"),
    [
        (
            ("web-02 10.0.1.12:8080 check weight 1", "web-02 10.0.1.12:8080 check weight 5"),
            "weight",
            "web-02",
        ),
        (
            ("web-03 10.0.1.13:8080 check weight 1", "web-03 10.0.1.13:8080 check weight 1 backup"),
            "backup",
            "web-03",
        ),
        (
            (
                "web-03 10.0.1.13:8080 check weight 1",
                "web-03 10.0.1.13:8080 check weight 1 disabled",
            ),
            "disabled",
            "web-03",
        ),
        (
            ("web-02 10.0.1.12:8080 check weight 1", "web-02 10.0.1.12:8080 check weight 0"),
            "weight",
            "web-02",
        ),
        (("web-01 10.0.1.11:8080 check", "web-01 10.0.1.11:8080"), "check", "web-01"),
        (("weight 3 maxconn 100", "weight 3 maxconn 20"), "maxconn", "web-01"),
        (("10.0.1.13:8080", "10.0.1.99:8080"), "address", "web-03"),
        (
            ("    server web-03 10.0.1.13:8080 check weight 1 maxconn 100\n", ""),
            "server removed",
            "web-03",
        ),
        (
            (
                "maxconn 100\n\nbackend cache",
                "maxconn 100\n    server web-04 10.0.1.14:8080 check\n\nbackend cache",
            ),
            "server added",
            "web-04",
        ),
        (("balance roundrobin", "balance source"), "algorithm", None),
        (("balance uri", "balance hdr(host)"), "algorithm", None),
        (("hash-type consistent", "hash-type map-based"), "hash type", None),
        (("timeout server 30s", "timeout server 90s"), "timeout server", None),
        (("option httpchk GET /healthz", "option httpchk GET /ready"), "option httpchk", None),
    ],
    ids=[
        "weight",
        "backup",
        "disabled",
        "drain",
        "check",
        "maxconn",
        "address",
        "removed",
        "added",
        "algorithm",
        "hash-key",
        "hash-type",
        "timeout",
        "health-check",
    ],
)
def test_each_kind_of_change_is_found(
    tmp_path: Path, edit: tuple[str, str], change: str, server: str | None
) -> None:
    new_text = BASE.replace(*edit, 1)
    assert new_text != BASE
    found = _drift(tmp_path, BASE, new_text)
    assert found, "expected drift"
    assert all(f.kind is Kind.DRIFT for f in found)
    assert any(f.detail.get("change") == change and f.server == server for f in found), [
        (f.detail.get("change"), f.server) for f in found
    ]
    assert all(f.runbook_url == "https://lbguard.dev/runbooks/drift/" for f in found)


def test_changes_are_ranked_by_the_traffic_they_move(tmp_path: Path) -> None:
    new_text = (
        BASE.replace("timeout server 30s", "timeout server 60s")
        .replace("web-02 10.0.1.12:8080 check weight 1", "web-02 10.0.1.12:8080 check weight 2")
        .replace(
            "web-03 10.0.1.13:8080 check weight 1", "web-03 10.0.1.13:8080 check weight 1 backup"
        )
    )
    found = _drift(tmp_path, BASE, new_text)
    changes = [(f.detail["change"], f.server) for f in found]
    assert changes[:2] == [("backup", "web-03"), ("weight", "web-02")]
    assert changes[-1] == ("timeout server", None)
    # web-03 had 1/5 of the traffic; taking it out moves exactly that share.
    assert found[0].impact == pytest.approx(0.2, abs=0.01)
    # web-02 1 -> 2 alone: 3:1:1 becomes 3:2:1, which moves 2/15 of the requests.
    assert found[1].impact == pytest.approx(2 / 15, abs=0.01)
    assert found[-1].impact == 0.0
    assert found[0].line == 19  # the server line in the new file
    assert found[0].detail["shares_after"]["web-03"] == 0.0


def test_hashing_pool_reports_keys_remapped(tmp_path: Path) -> None:
    new_text = BASE.replace(
        "    server c2 10.0.2.2:80 check\n",
        "    server c2 10.0.2.2:80 check\n    server c3 10.0.2.3:80 check\n",
    )
    (added,) = [f for f in _drift(tmp_path, BASE, new_text) if f.pool == "cache"]
    assert added.detail["change"] == "server added"
    # consistent hashing moves about a third of the keys to the new server, not all.
    assert 0.15 < added.detail["keys_remapped"] < 0.5


def test_rebuilt_pool_predicts_what_the_parsed_pool_predicts(tmp_path: Path) -> None:
    state, config = _state(tmp_path, BASE)
    for pool in config.pools:  # type: ignore[attr-defined]
        rebuilt = to_pool(pool.name, unpack_pool(state["pools"][pool.name], state["server_fields"]))
        got = predict(rebuilt, Dialect.HAPROXY).predicted
        want = predict(pool, Dialect.HAPROXY).predicted
        assert share_shift(got, want) < 1e-9


def test_secrets_are_masked_before_hashing_and_hash_consistently(tmp_path: Path) -> None:
    with_secret = BASE + "\nuserlist admins\n    user ops password $6$s3cretHashValue\n"
    a, _ = _state(tmp_path, with_secret, "a.cfg")
    other = with_secret.replace("$6$s3cretHashValue", "$6$an0therSecret99")
    b, _ = _state(tmp_path, other, "b.cfg")
    again, _ = _state(tmp_path, with_secret, "a.cfg")
    assert "s3cretHashValue" not in repr(a)
    # Only the secret differs, and it is masked before hashing: same content hash.
    assert list(a["files"].values()) == list(b["files"].values())
    assert a["files"] == again["files"]


def test_new_findings_ignore_moved_lines(tmp_path: Path) -> None:
    old, _ = _state(tmp_path, BASE)
    moved, config = _state(tmp_path, "\n\n# moved down\n" + BASE)
    assert new_findings(old, moved, config) == []  # type: ignore[arg-type]
    bad = BASE.replace("web-02 10.0.1.12:8080 check weight 1", "web-02 :8080 check weight 1")
    new, config = _state(tmp_path, bad)
    found = new_findings(old, new, config)  # type: ignore[arg-type]
    assert [f.detail["code"] for f in found if f.severity.label == "error"] == ["LBG105"]
    assert all(f.kind is Kind.NEW_FINDINGS for f in found)


def test_findings_match_however_the_path_is_spelt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Approved as an absolute path, audited from its directory (and through a symlink).
    old, _ = _state(tmp_path, BASE)
    assert old["findings"], "BASE must have findings for this test to mean anything"
    monkeypatch.chdir(tmp_path)
    (st,) = read_states(["haproxy.cfg"], SETTINGS, native=False)
    assert {f["path"] for f in st.state["findings"]} == {"haproxy.cfg"}  # as given
    assert new_findings(old, st.state, st.config) == []
    (tmp_path / "current.cfg").symlink_to(tmp_path / "haproxy.cfg")
    (st,) = read_states(["current.cfg"], SETTINGS, native=False)
    assert new_findings(old, st.state, st.config) == []


def test_no_baseline_is_itself_drift(tmp_path: Path) -> None:
    new, config = _state(tmp_path, BASE)
    (only,) = config_drift("haproxy.cfg", None, new, config)  # type: ignore[arg-type]
    assert only.kind is Kind.DRIFT and "no approved baseline" in only.message


def test_nginx_includes_are_hashed_and_their_changes_are_drift(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    main = tmp_path / "nginx.conf"
    main.write_text(
        "events {}\nhttp {\n    include conf.d/*.conf;\n"
        "    server { listen 8080; location / { proxy_pass http://app; } }\n}\n"
    )
    upstream = tmp_path / "conf.d" / "app.conf"
    upstream.write_text("upstream app {\n    server 10.0.0.1:80;\n    server 10.0.0.2:80;\n}\n")
    (old,) = read_states([str(main)], SETTINGS, native=False)
    assert set(old.state["files"]) == {str(main.resolve()), str(upstream.resolve())}
    upstream.write_text(
        "# edited\nupstream app {\n    server 10.0.0.1:80;\n    server 10.0.0.2:80 down;\n}\n"
    )
    (new,) = read_states([str(main)], SETTINGS, native=False)
    assert (
        old.state["files"][str(upstream.resolve())] != new.state["files"][str(upstream.resolve())]
    )
    (only,) = config_drift(old.key, old.state, new.state, new.config)
    assert only.message.startswith("upstream app, server 10.0.0.2:80: down no -> yes")
    assert (Path(only.path or "").name, only.line) == ("app.conf", 4)
    assert only.impact == pytest.approx(0.5, abs=0.01)


def test_many_changes_in_one_pool_are_ranked_without_simulating_each(tmp_path: Path) -> None:
    """A default-server edit changes every server; the approved state is never mutated."""
    import copy

    servers = "".join(f"    server s{i:03d} 10.9.{i // 250}.{i % 250 + 1}:80\n" for i in range(250))
    old_text = f"backend big\n    balance roundrobin\n    default-server maxconn 100\n{servers}"
    new_text = old_text.replace("maxconn 100", "maxconn 50").replace(
        "server s007 10.9.0.8:80", "server s007 10.9.0.8:80 weight 11"
    )
    old, _ = _state(tmp_path, old_text)
    new, config = _state(tmp_path, new_text)
    frozen = copy.deepcopy(old)
    found = config_drift("haproxy.cfg", old, new, config)  # type: ignore[arg-type]
    assert old == frozen
    assert len(found) == 251
    top = found[0]
    assert (top.server, top.detail["change"]) == ("s007", "weight")
    # s007 goes from 1/250 to 11/260 of the traffic.
    assert top.impact == pytest.approx(11 / 260 - 1 / 250, abs=0.002)
    assert all(f.impact == 0 for f in found[1:])


def test_past_the_simulation_budget_servers_rank_by_their_own_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lbguard.audit.drift as drift

    monkeypatch.setattr(drift, "MAX_SIMULATED_CHANGES", 2)
    servers = "".join(f"    server s{i} 10.0.0.{i + 1}:80\n" for i in range(6))
    old_text = f"backend app\n    balance roundrobin\n{servers}"
    new_text = old_text
    for i in range(4):  # four weight changes, four distinct shapes
        new_text = new_text.replace(
            f"s{i} 10.0.0.{i + 1}:80", f"s{i} 10.0.0.{i + 1}:80 weight {i + 2}"
        )
    old, _ = _state(tmp_path, old_text)
    new, config = _state(tmp_path, new_text)
    found = drift.config_drift("haproxy.cfg", old, new, config)  # type: ignore[arg-type]
    assert len(found) == 4
    after = found[0].detail["shares_after"]
    by_server = {f.server: f.impact for f in found}
    # s0 and s1 were simulated alone (1 -> 3 of six equal servers moves 3/8 - 1/6) ...
    assert by_server["s1"] == pytest.approx(3 / 8 - 1 / 6, abs=1e-3)
    # ... s2 and s3 were past the budget: ranked by how far their own share moved.
    for name in ("s2", "s3"):
        assert by_server[name] == pytest.approx(abs(after[name] - 1 / 6), abs=1e-3)
