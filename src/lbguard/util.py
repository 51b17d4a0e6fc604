"""Small helpers with no better home."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a large acyclic object graph.

    Parsing a 125k-line config allocates a few hundred thousand small objects and no
    cycles; letting the collector scan them again and again costs a third of the time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def is_digits(text: str) -> bool:
    """Whether `text` is a non-empty run of ASCII digits: what `int()` may safely be given.

    `str.isdigit()` is also true of '²' and other Unicode digits that `int()` refuses,
    so a config value such as `weight ²` would pass that test and then crash the
    conversion. Balancers, shells and the runtime API only read ASCII digits.
    """
    return text.isascii() and text.isdigit()
