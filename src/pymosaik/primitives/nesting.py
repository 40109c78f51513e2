"""How deeply raw MessagePack nests, found without recursion and without decoding.

msgspec decodes untyped values (``Any``, bare ``dict``/``list``) by recursing
once per nesting level, guarded only by Python's recursion limit; a process
that runs with a raised limit overflows the C stack (SIGSEGV) on ~100 KB of
``[[[[...]]]]`` before the guard trips. `check_nesting` walks the bytes with an
explicit stack and refuses anything deeper than `MAX_DEPTH` before msgspec sees
it. It only bounds depth: malformed or truncated input is left for msgspec to
report, so the scanner stops quietly where it cannot go on.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_DEPTH", "NestingError", "check_nesting"]

#: The deepest nesting (arrays and maps, structs included) a decoded value may have.
#: Ten times the deepest type the project sends (a discovery entry's ticket is ~6).
MAX_DEPTH: Final = 64


class NestingError(ValueError):
    """Input nests deeper than the limit."""


def _table() -> tuple[list[int], list[int]]:
    """Per first byte: the item's fixed size (0: look closer) and its length-field width."""
    fixed = [0] * 256
    width = [0] * 256
    for b in range(256):
        if b <= 0x7F or b >= 0xE0 or b in (0xC0, 0xC2, 0xC3):  # fixints, nil, bools
            fixed[b] = 1
        elif 0xA0 <= b <= 0xBF:  # fixstr
            fixed[b] = 1 + (b & 0x1F)
    for b, size in {0xCA: 5, 0xCB: 9, 0xCC: 2, 0xCD: 3, 0xCE: 5, 0xCF: 9}.items():
        fixed[b] = size  # floats, uints
    for b, size in {0xD0: 2, 0xD1: 3, 0xD2: 5, 0xD3: 9}.items():
        fixed[b] = size  # ints
    for b, size in {0xD4: 3, 0xD5: 4, 0xD6: 6, 0xD7: 10, 0xD8: 18}.items():
        fixed[b] = size  # fixext
    for b, w in {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}.items():
        width[b] = w  # bin, str: header, length, payload
    for b, w in {0xC7: 1, 0xC8: 2, 0xC9: 4}.items():
        width[b] = -w  # ext: header, length, type byte, payload
    return fixed, width


_FIXED, _WIDTH = _table()
#: Every byte that can open an array or a map (fixmap, fixarray, 16/32-bit forms).
_OPENERS: Final = bytes([*range(0x80, 0xA0), 0xDC, 0xDD, 0xDE, 0xDF])


def check_nesting(data: bytes, limit: int = MAX_DEPTH) -> None:
    """Raise `NestingError` if the first value in ``data`` nests deeper than ``limit``.

    Cost is one step per item (strings and binaries are skipped whole). Each
    level takes at least one opener byte, so input with at most ``limit`` of
    them (counted at C speed) cannot nest deeper and is not walked.
    """
    n = len(data)
    if n <= limit or n - len(bytes(data).translate(None, _OPENERS)) <= limit:
        return
    fixed, width = _FIXED, _WIDTH
    stack: list[int] = []  # items left to read in each enclosing container
    left = 1  # items left to read at the current level (the top level holds one)
    pos = 0
    while True:
        while left == 0:
            if not stack:
                return
            left = stack.pop()
        if pos >= n:
            return  # truncated: msgspec reports it
        b = data[pos]
        left -= 1
        size = fixed[b]
        if size:
            pos += size
            continue
        w = width[b]
        if w:
            body = pos + 1 + abs(w)
            pos = body + int.from_bytes(data[pos + 1 : body], "big") + (w < 0)
            continue
        if 0x80 <= b <= 0x9F:  # fixmap, fixarray
            count, pos = (b & 0x0F) << (b < 0x90), pos + 1
        elif 0xDC <= b <= 0xDF:  # array16/32, map16/32
            w = 2 if b in (0xDC, 0xDE) else 4
            count = int.from_bytes(data[pos + 1 : pos + 1 + w], "big") << (b >= 0xDE)
            pos += 1 + w
        else:
            return  # 0xc1 is never used: msgspec refuses it
        if len(stack) >= limit:
            raise NestingError(f"input nests deeper than {limit} levels")
        if count:
            stack.append(left)
            left = count
