"""Errors that end a command with a one-line message and a documented exit code.

Exit codes (the same for every command):
  0  no findings at or above --fail-on
  1  findings at or above --fail-on
  2  usage, I/O or configuration error: the input could not be checked at all
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class LbguardError(Exception):
    """A problem with the input or the invocation, reported as one line, never a traceback."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigReadError(LbguardError):
    """A config file could not be read as text: missing, unreadable, binary, too large."""


class SettingsError(LbguardError):
    """lbguard.toml or [tool.lbguard] is invalid."""
