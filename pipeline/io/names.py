"""File names as the file system gives them, and as the tables store them.

POSIX names are bytes; Python decodes them with ``surrogateescape``, so a name that is not UTF-8
keeps its undecodable bytes as lone surrogates, which no UTF-8 writer accepts. Tables therefore
store two forms: ``printable`` text (undecodable bytes shown as ``\\xNN``: for people and
queries) and ``raw_bytes`` (exact: for finding the file again). Nothing is lost.
"""

from __future__ import annotations

__all__ = ["is_utf8", "printable", "raw_bytes"]


def is_utf8(text: str) -> bool:
    """Whether a name decoded from the file system is valid UTF-8 (no surrogate escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """A name as UTF-8 text, undecodable bytes shown as ``\\xNN`` (for people: a literal
    backslash in a name makes it ambiguous; ``raw_bytes`` is the exact form)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def raw_bytes(text: str) -> bytes:
    """The exact bytes of a name as the file system gave it (undecodable bytes were kept as
    surrogate escapes): what the tables store beside the printable text, so nothing is lost."""
    return text.encode("utf-8", "surrogateescape")
