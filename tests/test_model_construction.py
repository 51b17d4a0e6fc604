"""positional_constructor must make exactly the instance the dataclass constructor makes."""

from __future__ import annotations

import dataclasses

import pytest

from lbguard.model import Directive, Location, Server, positional_constructor


def test_location_is_the_same_value_and_type() -> None:
    new = positional_constructor(Location)
    made = new("a.cfg", 3, 5, 3, 9)
    want = Location("a.cfg", 3, 5, 3, 9)
    assert type(made) is Location
    assert made == want
    assert hash(made) == hash(want)
    assert made < Location("a.cfg", 3, 6, 3, 9)
    assert str(made) == "a.cfg:3:5"


def test_server_fields_all_set_and_frozen() -> None:
    loc = Location("a.cfg", 1, 1, 1, 10)
    values = [f"v{i}" for i in range(len(dataclasses.fields(Server)))]
    values[3] = loc
    made = positional_constructor(Server)(*values)
    assert type(made) is Server
    assert made == Server(*values)
    assert dataclasses.astuple(made) == dataclasses.astuple(Server(*values))
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.name = "other"  # type: ignore[misc]
    assert dataclasses.replace(made, name="x").name == "x"


def test_directive_keeps_defaults_out_of_the_way() -> None:
    loc = Location("a.cfg", 1)
    made = positional_constructor(Directive)("balance", ("source",), loc, None, (9,))
    assert made == Directive("balance", ("source",), loc, None, (9,))
    assert made.arg_location(0) == Location("a.cfg", 1, 9, 1, 14)


def test_rejects_a_class_it_cannot_mirror() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    with pytest.raises(TypeError):
        positional_constructor(NoSlots)
