"""lbguard over every HAProxy file in the shared corpus, against the real binary's verdicts.

No file may crash lbguard. Where HAProxy 2.6 rejects a file for syntax, lbguard must
report a parse error at the same line; where it accepts the file, lbguard must not
invent one.
"""

from __future__ import annotations

import csv
import re

import pytest

from conftest import CORPUS, require_shared
from lbguard.check import Unit, parse_unit, run_rules
from lbguard.errors import LbguardError
from lbguard.model import Dialect
from lbguard.settings import Settings

_LINE = re.compile(r"parsing \[[^\]]*?:(\d+)\]")
# The corpus files these as "syntax", but the cause is a file missing on the machine
# that ran the check (a map or pattern file): lbguard leaves that to the native check.
_MISSING_FILE = re.compile(r"failed to open pattern file")


def _verdicts() -> list[tuple[str, str, str, str]]:
    """(saved_name, bare class, deep class, message) for every HAProxy corpus file."""
    if not (CORPUS / "NATIVE.tsv").exists():
        return []
    with (CORPUS / "NATIVE.tsv").open(encoding="utf-8") as fh:
        bare = {
            r["saved_name"]: r for r in csv.DictReader(fh, delimiter="\t") if r["kind"] == "haproxy"
        }
    with (CORPUS / "NATIVE-deep.tsv").open(encoding="utf-8") as fh:
        deep = {
            r["saved_name"]: r for r in csv.DictReader(fh, delimiter="\t") if r["kind"] == "haproxy"
        }
    out = []
    for name, row in sorted(bare.items()):
        d = deep.get(name, row)
        # The bare run stops at the first environment failure; the deep run shows what
        # the binary says about the file itself once the machine is stubbed.
        effective = d if row["class"] == "environment" else row
        out.append((name, row["class"], effective["class"], effective["message"]))
    return out


VERDICTS = _verdicts()


def test_corpus_is_present() -> None:
    require_shared()
    assert len(VERDICTS) == 82


@pytest.mark.parametrize(
    ("name", "bare", "verdict", "message"), VERDICTS, ids=[v[0][:60] for v in VERDICTS]
)
def test_corpus_file(name: str, bare: str, verdict: str, message: str) -> None:
    path = CORPUS / "haproxy" / name
    try:
        parsed = parse_unit(Unit(Dialect.HAPROXY, [str(path)]))
    except LbguardError as exc:  # a clean one-line refusal is not a crash
        pytest.fail(f"lbguard refused a file HAProxy reads: {exc.message}")
    run_rules(parsed.config, Settings())  # rules must not crash either
    errors = sorted(
        {
            f.location.line
            for f in parsed.findings
            if f.code == "PARSE" and f.severity.label == "error"
        }
    )
    if verdict == "ok":
        assert errors == [], f"lbguard reports syntax errors HAProxy accepts: lines {errors}"
    elif verdict == "syntax" and not _MISSING_FILE.search(message):
        m = _LINE.search(message)
        assert errors, f"HAProxy rejects this file ({message}) but lbguard found nothing"
        if m is not None:
            assert int(m.group(1)) in errors, f"HAProxy: {message}; lbguard lines: {errors}"
