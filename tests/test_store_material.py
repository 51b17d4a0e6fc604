"""The trail's hashed text, spelled out for speed, is exactly the canonical JSON."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lbguard.store.canonical import canonical_json
from lbguard.store.trail import hash_material

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ['"', "\\", "\n\t\x00\x1f", "é€𝄞", "\u2028\u2029", '{"a":[1,"b"]}']
)


@given(
    st.integers(min_value=0, max_value=2**53),
    text,
    text,
    st.none() | text,
    text,
    text,
)
def test_hash_material_is_canonical_json(
    seq: int, at: str, kind: str, subject: str | None, prev: str, body: str
) -> None:
    expected = canonical_json([seq, at, kind, subject, prev, body])
    assert hash_material(seq, at, kind, subject, prev, body) == expected
