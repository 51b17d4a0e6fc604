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
            if _kept is not None:
                # What was built here is kept until exit: leave it out of every later
                # collection, which would otherwise walk all of it at once.
                gc.freeze()
            gc.enable()


def is_digits(text: str) -> bool:
    """Whether `text` is a non-empty run of ASCII digits: what `int()` may safely be given.

    `str.isdigit()` is also true of '²' and other Unicode digits that `int()` refuses,
    so a config value such as `weight ²` would pass that test and then crash the
    conversion. Balancers, shells and the runtime API only read ASCII digits.
    """
    return text.isascii() and text.isdigit()


# Objects never to be freed, or None to free as usual. `lbguard check` ends with
# os._exit once its report is written, so what it built need not be freed at all:
# freeing a 125k-line config's model and parse scratch object by object, when the
# functions holding them return, took 0.05 s of a 0.5 s check.
_kept: list[object] | None = None


def keep_until_exit() -> None:
    """From now on, `keep` holds what it is given until the process exits."""
    global _kept
    if _kept is None:
        _kept = []


def keep(obj: object) -> None:
    """Never free `obj` if this process exits without teardown (`keep_until_exit`)."""
    if _kept is not None:
        _kept.append(obj)
