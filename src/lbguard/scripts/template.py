"""What every template renderer returns: the rendered text with origins, and notes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from lbguard.scripts.rendered import PStr
from lbguard.scripts.shell import Note

TEMPLATE_SUFFIXES = (".j2", ".jinja", ".jinja2", ".erb", ".tmpl", ".ctmpl", ".gotmpl", ".tpl")


@dataclass
class TemplateRender:
    """A rendered template: `text` carries, per character, its offset in the template."""

    target: str
    text: PStr
    notes: list[Note] = field(default_factory=list)
    # True when lines map exactly; False when the mapping is a best effort.
    exact: bool = True


def target_name(path: str) -> str:
    """The file a template renders to: `haproxy.cfg.j2` -> `haproxy.cfg`."""
    base = os.path.basename(path)
    for suffix in TEMPLATE_SUFFIXES:
        if base.endswith(suffix):
            return base[: -len(suffix)] or base
    return base
