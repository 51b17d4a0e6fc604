"""The part of the shell language that config-writing scripts use, as a syntax tree.

The parser keeps the source offset of every word part, because the renderer must
say which script character produced each rendered one.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Lit:
    text: str
    offset: int
    quoted: bool = False
    # Offsets per character when they are not contiguous (escapes, $'...').
    offsets: list[int] | None = None


@dataclass
class Param:
    """`$name`, `${name op word}`, `${#name}`, `${arr[@]}`."""

    name: str
    offset: int
    end: int
    quoted: bool
    op: str = ""
    word: Word | None = None
    index: Word | None = None  # arr[index]
    length: bool = False  # ${#name}
    indirect: bool = False  # ${!name}
    word2: Word | None = None  # ${x/pat/REPLACEMENT}, ${x:off:LEN}


@dataclass
class CmdSub:
    body: Node | None
    text: str
    offset: int
    end: int
    quoted: bool


@dataclass
class Arith:
    expr: str
    offset: int
    end: int
    quoted: bool


Part = Lit | Param | CmdSub | Arith


@dataclass
class Word:
    parts: list[Part]
    offset: int
    end: int

    @property
    def quoted(self) -> bool:
        return any(getattr(p, "quoted", False) for p in self.parts)

    def literal(self) -> str | None:
        """The word's text when it contains no expansion."""
        if all(isinstance(p, Lit) for p in self.parts):
            return "".join(p.text for p in self.parts if isinstance(p, Lit))
        return None

    def plain(self) -> str | None:
        """The word's text when it is one unquoted literal (reserved words, names)."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Lit) and not self.parts[0].quoted:
            return self.parts[0].text
        return None


@dataclass
class HereDoc:
    delimiter: str
    quoted: bool
    strip_tabs: bool
    body: Word
    closed: bool
    offset: int  # the `<<`


@dataclass
class Redir:
    op: str  # > >> < <<< << >& &> >| 2> ...
    fd: int | None
    target: Word | None
    heredoc: HereDoc | None
    offset: int


@dataclass
class Assign:
    name: str
    append: bool
    value: Word | None
    array: list[Word] | None
    offset: int
    index: Word | None = None


@dataclass
class Simple:
    assigns: list[Assign]
    words: list[Word]
    redirs: list[Redir]
    offset: int
    end: int


@dataclass
class Pipeline:
    commands: list[Node]
    negate: bool
    offset: int


@dataclass
class AndOr:
    first: Node
    rest: list[tuple[str, Node]]
    offset: int


@dataclass
class Seq:
    items: list[Node]
    offset: int


@dataclass
class Group:
    body: Node
    subshell: bool
    offset: int
    redirs: list[Redir] = field(default_factory=list)


@dataclass
class For:
    var: str
    words: list[Word] | None  # None: "$@"
    body: Node
    offset: int
    redirs: list[Redir] = field(default_factory=list)


@dataclass
class ArithFor:
    init: str
    cond: str
    step: str
    body: Node
    offset: int
    redirs: list[Redir] = field(default_factory=list)


@dataclass
class If:
    clauses: list[tuple[Node, Node]]
    else_body: Node | None
    offset: int
    redirs: list[Redir] = field(default_factory=list)


@dataclass
class While:
    cond: Node
    body: Node
    until: bool
    offset: int
    redirs: list[Redir] = field(default_factory=list)


@dataclass
class Case:
    word: Word
    items: list[tuple[list[Word], Node | None]]
    offset: int
    redirs: list[Redir] = field(default_factory=list)


@dataclass
class FuncDef:
    name: str
    body: Node
    offset: int


@dataclass
class ArithCmd:
    expr: str
    offset: int


@dataclass
class TestCmd:
    """`[[ ... ]]`: its words, with && || ( ) ! kept as words."""

    words: list[Word]
    offset: int


Node = (
    (Simple | Pipeline | AndOr | Seq | Group | For | ArithFor | If | While | Case | FuncDef)
    | ArithCmd
    | TestCmd
)
