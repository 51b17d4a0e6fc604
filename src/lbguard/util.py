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
