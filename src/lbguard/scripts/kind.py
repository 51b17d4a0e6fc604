"""Which files `check` renders as config-writing scripts or templates.

Kept apart from `lbguard.scripts.check` because every `lbguard check` asks this of
every file, and importing the script interpreter just to answer "no" for a plain
config cost 40 ms of start-up.
"""

from __future__ import annotations

import os
import re

SHELL_SUFFIXES = (".sh", ".bash")
JINJA_SUFFIXES = (".j2", ".jinja", ".jinja2")
GO_SUFFIXES = (".tmpl", ".ctmpl", ".gotmpl")
SCRIPT_SUFFIXES = SHELL_SUFFIXES + JINJA_SUFFIXES + (".erb",) + GO_SUFFIXES
_SHEBANG = re.compile(r"^#!\s*\S*?(?:/|\benv\s+)(?:ba|da|k|z|a)?sh\b")


def script_kind(path: str, text: str) -> str | None:
    """shell, jinja, erb or gotmpl; None for a plain config file."""
    name = os.path.basename(path).lower()
    if name.endswith(JINJA_SUFFIXES):
        return "jinja"
    if name.endswith(".erb"):
        return "erb"
    if name.endswith(GO_SUFFIXES):
        return "gotmpl"
    if name.endswith(SHELL_SUFFIXES) or _SHEBANG.match(text):
        return "shell"
    parts = os.path.normpath(path).split(os.sep)
    if "templates" in parts[:-1] and ("{{" in text or "{%" in text):
        return "jinja"
    return None


def is_script(path: str, text: str) -> bool:
    """Whether `check` should render this file rather than parse it as a config."""
    return script_kind(path, text) is not None
