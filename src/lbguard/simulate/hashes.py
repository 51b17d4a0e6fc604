"""The hash functions HAProxy and nginx apply to balancing keys, bit for bit."""

from __future__ import annotations

import zlib

MASK = 0xFFFFFFFF


def sdbm(data: bytes) -> int:
    h = 0
    for c in data:
        h = (c + (h << 6) + (h << 16) - h) & MASK
    return h


def djb2(data: bytes) -> int:
    h = 5381
    for c in data:
        h = (h * 33 + c) & MASK
    return h


def _rotl(x: int, n: int) -> int:
    n &= 31
    if n == 0:
        return x
    return ((x << n) | (x >> (32 - n))) & MASK


def wt6(data: bytes) -> int:
    h0, h1 = 0xA53C965A, 0x5CA6953A
    step0, step1 = 6, 18
    for t in data:
        h0 = ~(h0 ^ t) & MASK
        h1 = ~(h1 + t) & MASK
        h0, h1 = _rotl(h1, step0), _rotl(h0, step1)
        u = ((h0 >> 16) ^ h1) & 0xFFFF
        step0 = u & 31
        step1 = u >> 11
    return (h0 ^ h1) & MASK


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & MASK


def full_hash(a: int) -> int:
    """HAProxy's avalanche (Bob Jenkins' 32-bit integer hash, then x 3221225473)."""
    a &= MASK
    a = ((a + 0x7ED55D16) + (a << 12)) & MASK
    a = ((a ^ 0xC761C23C) ^ (a >> 19)) & MASK
    a = ((a + 0x165667B1) + (a << 5)) & MASK
    a = ((a + 0xD3A2646C) ^ (a << 9)) & MASK
    a = ((a + 0xFD7046C5) + (a << 3)) & MASK
    a = ((a ^ 0xB55A4F09) ^ (a >> 16)) & MASK
    return (a * 3221225473) & MASK


HAPROXY_FUNCTIONS = {"sdbm": sdbm, "djb2": djb2, "wt6": wt6, "crc32": crc32}
