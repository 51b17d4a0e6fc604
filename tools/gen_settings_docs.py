"""Generate docs/operating/configuration.md from lbguard's pydantic settings models.

Every key, its type, default and description come from `lbguard.settings`, so the
reference cannot drift from what lbguard accepts. Nested models (a `[watch]` table,
say) get their own section, found by walking the fields, not by a list kept here.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from lbguard.settings import Settings
from lbguard.watch.settings import WatchSettings

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "operating" / "configuration.md"

INTRO = """\
# Configuration reference

lbguard reads `lbguard.toml`, or the `[tool.lbguard]` table of `pyproject.toml`,
found upward from the current directory (stopping at the repository root), or the
file named with `--settings`. Keys are written with dashes. Unknown keys are
rejected with their name, because a misspelt threshold that silently falls back to
its default is worse than an error: lbguard exits 2 with one line saying which key.

```toml
fail-on = "warning"          # error | warning | info
disable = ["LBG202"]         # codes or names
native = true                # run haproxy -c / nginx -t when installed
[rules.LBG103]               # per-rule options and severity
max-share = 0.7
severity = "error"
```

Per-rule options are listed on each rule's page in the [rule reference](../rules/index.md).

This page is generated from the settings models by `tools/gen_settings_docs.py`
(`make docs-settings`); the test suite fails when it is stale.
"""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        # Never "|": the result goes into a Markdown table cell.
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" (optional)" if type(None) in args else "")
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{json.dumps(a)}`" for a in args)
    if origin in (tuple, list, set, frozenset):
        inner = _type_name(args[0]) if args else "value"
        return f"list of {inner}"
    if origin is dict:
        inner = _type_name(args[1]) if len(args) == 2 else "value"
        return "table of tables" if inner.startswith("table") else f"table of {inner}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", Any: "any"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "see its table"
    if isinstance(value, tuple | list | set | frozenset):
        value = list(value)
    return f"`{json.dumps(value)}`" if value is not None else "unset"


def _nested(annotation: Any, key: str) -> tuple[type[BaseModel], str] | None:
    """The model of a field that holds tables of its own, and how TOML heads them:
    `key` (a table, perhaps optional), `[key]` (an array of tables) or `key.NAME`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, key
    origin = typing.get_origin(annotation)
    for arg in typing.get_args(annotation):
        found = _nested(arg, key)
        if found is not None:
            if origin in (list, tuple):
                return found[0], f"[{found[1]}]"
            if origin is dict:
                return found[0], f"{found[1]}.NAME"
            return found
    return None


# Tables kept raw in Settings so that only their own command pays for validating them;
# documented from the model that command validates them with.
RAW_TABLES: dict[str, type[BaseModel]] = {"watch": WatchSettings}


def _key(name: str, field: FieldInfo) -> str:
    return field.alias or name.replace("_", "-")


def render_model(model: type[BaseModel], table: str) -> list[str]:
    title = f"`[{table}]`" if table else "Top level"
    doc = (model.__doc__ or "").strip().splitlines()
    lines = ["", f"## {title}", ""]
    if doc and table:
        lines += [doc[0], ""]
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    subtables = []
    for name, field in model.model_fields.items():
        key = _key(name, field)
        sub = _nested(field.annotation, f"{table}.{key}" if table else key)
        raw = RAW_TABLES.get(key) if not table and sub is None else None
        if raw is not None:
            sub = (raw, key)
        if sub is not None:
            subtables.append(sub)
        meaning = (field.description or "").replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| `{key}` | {'table' if raw else _type_name(field.annotation)} | "
            f"{'see its table' if raw else _default(field)} | {meaning} |"
        )
    for sub, path in subtables:
        lines += render_model(sub, path)
    return lines


def render() -> str:
    return INTRO + "\n".join(render_model(Settings, "")) + "\n"


def main() -> int:
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
