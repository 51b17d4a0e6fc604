from collections.abc import Callable
from typing import Any

class Builder:
    cls: type
    def __init__(self, cls: type, names: tuple[str, ...]) -> None: ...
    def __call__(self, *args: Any) -> Any: ...

class WordTable:
    def __len__(self) -> int: ...

def lex_run(
    lines: list[str],
    start: int,
    stop: int,
    path: str,
    sections: frozenset[str],
    stmt_builder: Builder,
    unquoted: frozenset[int],
    max_words: int,
    seen: WordTable | None,
) -> tuple[list[Any], int]: ...
def check_pool(
    body: list[Any],
    names: dict[str, int],
    clean_options: set[tuple[str, ...]],
    stmt_builder: Builder,
    check_server: Callable[[Any], object],
    check_other: Callable[[Any], object],
) -> None: ...
def build_pool(
    body: list[Any],
    servers: list[Any],
    state: tuple[list[tuple[str, str | None]], dict[tuple[str, ...], Any]],
    stmt_builder: Builder,
    location_builder: Builder,
    server_builder: Builder,
    make_server: Callable[[Any, list[tuple[str, str | None]], dict[tuple[str, ...], Any]], Any],
    apply: Callable[[Any], tuple[list[tuple[str, str | None]], dict[tuple[str, ...], Any]]],
) -> None: ...
def plain_columns(text: str, words: tuple[str, ...]) -> tuple[int, ...]: ...
def stmt_directive(
    stmt_builder: Builder,
    location_builder: Builder,
    directive_builder: Builder,
    stmt: Any,
    inherited_from: str | None,
) -> Any: ...
