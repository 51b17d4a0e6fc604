"""Generate docs/rules/ from the rule classes, so the docs cannot drift from the code."""

from __future__ import annotations

import sys
from pathlib import Path

from lbguard.rules import RULES, Rule

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "rules"


def render_rule_page(rule: type[Rule]) -> str:
    dialects = ", ".join(sorted(d.value for d in rule.dialects))
    lines = [
        f"# {rule.code} {rule.name}",
        "",
        f"- Severity: {rule.severity.label}",
        f"- Balancers: {dialects}",
        f"- Suppress with: `# lbguard: ignore={rule.code} <reason>`",
        "",
    ]
    doc = rule.doc().splitlines()
    lines.append(f"{doc[0]}")
    lines.extend(doc[1:])
    if rule.options:
        lines += [
            "",
            "## Settings",
            "",
            "In `lbguard.toml`:",
            "",
            "```toml",
            f"[rules.{rule.code}]",
        ]
        for opt in rule.options:
            value = repr(opt.default) if not isinstance(opt.default, str) else f'"{opt.default}"'
            lines.append(f"{opt.name} = {value}  # {opt.doc}")
        lines.append("```")
    return "\n".join(lines).rstrip() + "\n"


def render_index() -> str:
    lines = [
        "# Rules",
        "",
        "| code | name | severity | balancers | summary |",
        "|---|---|---|---|---|",
    ]
    for rule in RULES:
        dialects = ", ".join(sorted(d.value for d in rule.dialects))
        lines.append(
            f"| [{rule.code}]({rule.code}.md) | {rule.name} | {rule.severity.label} | "
            f"{dialects} | {rule.summary()} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    DOCS.mkdir(parents=True, exist_ok=True)
    for rule in RULES:
        (DOCS / f"{rule.code}.md").write_text(render_rule_page(rule), encoding="utf-8")
    (DOCS / "index.md").write_text(render_index(), encoding="utf-8")
    print(f"wrote {len(RULES)} rule pages to {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
