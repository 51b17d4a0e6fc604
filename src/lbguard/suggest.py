"""Did-you-mean hints, shared by every parser and rule so they read the same everywhere."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, candidates: Iterable[str], cutoff: float = 0.75) -> str:
    """'; did you mean 'x'?' for the closest candidate, or '' when none is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return f"; did you mean '{matches[0]}'?" if matches else ""
