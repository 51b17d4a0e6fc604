"""Mutation test: whenever haproxy -c rejects a mutant for syntax, lbguard flags the same line.

Mutants are made from configs HAProxy accepts, with four operators: a typo in a
keyword, a dropped argument, a keyword moved to a section that does not take it,
and a stray character. The real binary decides which mutants are broken; lbguard
has to agree on every one of those.
"""

from __future__ import annotations

import csv
import random
import re
import subprocess
from pathlib import Path

import pytest

from conftest import CORPUS, EXAMPLES, require_haproxy, require_shared
from lbguard.parsers.haproxy import parse_haproxy
from lbguard.parsers.haproxy_lexer import tokenize

SEED = 20261124
MUTANTS_PER_FILE = 12
_POS = re.compile(r"\[ALERT\].*?parsing \[[^\]]*?:(\d+)\]\s*:?\s*(.*)")
# Messages that come from this machine, not from the syntax of the file.
_ENVIRONMENT = re.compile(
    r"unable to stat|error opening file|cannot find user|cannot find group|invalid address|"
    r"No such file|unable to load|could not resolve|unable to find|expects an address",
    re.IGNORECASE,
)


def _valid_configs() -> list[Path]:
    paths = [EXAMPLES / "incident" / "haproxy.fixed.cfg"]
    native = CORPUS / "NATIVE.tsv"
    if native.exists():
        with native.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                if row["kind"] == "haproxy" and row["class"] == "ok":
                    paths.append(CORPUS / "haproxy" / row["saved_name"])
    return paths


def _statement_lines(lines: list[str]) -> list[int]:
    out = []
    for i, line in enumerate(lines):
        s = line.strip()
        if s and not s.startswith("#") and not s.startswith(".") and line[:1] in " \t":
            out.append(i)
    return out


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 3:
        return word + "x"
    i = rng.randrange(1, len(word) - 1)
    choice = rng.randrange(3)
    if choice == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if choice == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + rng.choice("aeiouxz") + word[i:]


def mutate(lines: list[str], rng: random.Random) -> tuple[list[str], int, str] | None:
    candidates = _statement_lines(lines)
    if not candidates:
        return None
    idx = rng.choice(candidates)
    line = lines[idx]
    tok = tokenize(line, idx + 1, {})
    if not tok.words:
        return None
    indent = line[: len(line) - len(line.lstrip())]
    op = rng.randrange(4)
    out = list(lines)
    if op == 0:
        out[idx] = indent + " ".join([_typo(tok.words[0], rng), *tok.words[1:]])
        return out, idx + 1, "typo"
    if op == 1 and len(tok.words) >= 2:
        cut = rng.randrange(1, len(tok.words))
        out[idx] = indent + " ".join(tok.words[:cut])
        return out, idx + 1, "dropped-argument"
    if op == 2:
        moved = rng.choice(["server x 127.0.0.1:80", "bind 127.0.0.1:1", "balance roundrobin"])
        out.insert(idx, indent + moved)
        return out, idx + 1, "misplaced"
    stray = rng.choice(["~", "{", "}", "%", "]"])
    out.insert(idx, indent + stray)
    return out, idx + 1, "stray"


@pytest.mark.native
def test_mutants_agree_with_haproxy(tmp_path: Path) -> None:
    require_shared()
    exe = require_haproxy()
    rng = random.Random(SEED)
    checked = 0
    misses: list[str] = []
    for source in _valid_configs():
        text = source.read_text(encoding="utf-8")
        lines = text.split("\n")
        for _ in range(MUTANTS_PER_FILE):
            result = mutate(lines, rng)
            if result is None:
                continue
            mutant, lineno, op = result
            path = tmp_path / f"m{checked}.cfg"
            path.write_text("\n".join(mutant), encoding="utf-8")
            proc = subprocess.run(
                [exe, "-c", "-dr", "-f", str(path)],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=30,
            )
            alerts = [m for m in _POS.finditer(proc.stdout + proc.stderr)]
            syntax = [
                int(m.group(1))
                for m in alerts
                if int(m.group(1)) == lineno and not _ENVIRONMENT.search(m.group(2))
            ]
            if proc.returncode == 0 or not syntax:
                continue
            checked += 1
            ours = {
                f.location.line
                for f in parse_haproxy([str(path)], env={}).findings
                if f.code == "PARSE" and f.severity.label == "error"
            }
            if lineno not in ours:
                misses.append(f"{source.name}:{lineno} ({op}): {mutant[lineno - 1].strip()!r}")
    assert checked >= 50, f"too few rejected mutants to judge ({checked})"
    assert not misses, f"{len(misses)} of {checked} mutants missed:\n" + "\n".join(misses)
