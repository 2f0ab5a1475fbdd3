"""Hypothesis strategies shared by the property tests: times, signals, segmentations, rows.

Imported as ``from property.strategies import ...`` (``tests/`` is on the path).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
from hypothesis import strategies as st

from pipeline.io.names import printable
from pipeline.segments.segfile import IDLE_LABEL, Segment

LABELS = ("active", IDLE_LABEL)

# energies and features: finite, from exact zeros to large magnitudes (no NaN/inf: the
# segmenters reject those with a documented error, tested on their own)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
nonneg = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def increasing_times(draw, n: int, *, t0_max: float = 5.0) -> np.ndarray:
    """(n,) strictly increasing finite times: a start and positive spacings (uneven allowed)."""
    t0 = draw(st.floats(0.0, t0_max))
    uniform = draw(st.booleans())
    if uniform:
        dt_ = draw(st.floats(0.01, 2.0))
        return t0 + dt_ * np.arange(n, dtype=np.float64)
    steps = draw(st.lists(st.floats(0.01, 2.0), min_size=n, max_size=n))
    t = t0 + np.concatenate([[0.0], np.cumsum(steps[:-1])]) if n else np.zeros(0)
    return np.asarray(t, dtype=np.float64)


@st.composite
def energy_curves(draw, *, min_n: int = 1, max_n: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """(energy (n,), times (n,)): arbitrary non-negative curves plus the degenerate shapes
    (constant, all zero, one window, on/off steps)."""
    n = draw(st.integers(min_n, max_n))
    kind = draw(st.sampled_from(["any", "constant", "zero", "steps"]))
    if kind == "any":
        e = np.asarray(draw(st.lists(nonneg, min_size=n, max_size=n)), dtype=np.float64)
    elif kind == "constant":
        e = np.full(n, draw(nonneg))
    elif kind == "zero":
        e = np.zeros(n)
    else:
        level = draw(st.floats(1e-3, 1e3))
        e = np.asarray(draw(st.lists(st.sampled_from([0.0, level]), min_size=n, max_size=n)))
    return e, draw(increasing_times(n))


@st.composite
def segmentations(
    draw, *, duration: float | None = None, max_segments: int = 8, contiguous: bool = True
) -> tuple[list[Segment], float]:
    """(segments, duration): sorted, non-overlapping segments inside ``[0, duration]``.

    ``contiguous`` ones cover it exactly (each starts where the previous ended); otherwise gaps
    may be left between, before and after them. Boundaries sit on a 0.01 s grid so that gaps
    are either 0 or clearly larger than float rounding."""
    d = duration if duration is not None else draw(st.integers(10, 6000)) / 100.0
    ticks = int(round(d * 100))
    k = draw(st.integers(0 if not contiguous else 1, max_segments))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, ticks - 1)), max_size=2 * k)))
    edges = [0, *[c for c in cuts if 0 < c < ticks], ticks]
    pieces = list(zip(edges[:-1], edges[1:], strict=True))
    labels = draw(st.lists(st.sampled_from(LABELS), min_size=len(pieces), max_size=len(pieces)))
    segs = [Segment(a / 100.0, b / 100.0, lab) for (a, b), lab in zip(pieces, labels, strict=True)]
    if contiguous:
        segs[-1] = Segment(segs[-1].start_sec, d, segs[-1].label)
        return segs, d
    keep = draw(st.lists(st.booleans(), min_size=len(segs), max_size=len(segs)))
    return [s for s, k_ in zip(segs, keep, strict=True) if k_], d


def assert_contiguous_cover(
    segs: list[Segment], start: float, end: float, *, labels=LABELS, tol: float = 0.0
) -> None:
    """Non-empty segments, each starting where the previous ended, from ``start`` to ``end``."""
    assert segs, "no segments"
    assert abs(segs[0].start_sec - start) <= tol, (segs[0], start)
    assert abs(segs[-1].end_sec - end) <= tol, (segs[-1], end)
    for a, b in zip(segs[:-1], segs[1:], strict=True):
        assert b.start_sec == a.end_sec, (a, b)
    for s in segs:
        assert s.end_sec > s.start_sec, s
        if labels is not None:
            assert s.label in labels, s


# --- Arrow rows, derived from a table's schema ------------------------------------------------
# "valid" values of each Arrow type, extremes included: the full integer range, floats with
# inf/NaN (Parquet stores them), every Unicode scalar (surrogates excluded: UTF-8 cannot hold
# them; the code stores such names escaped, see ``names``), microsecond UTC timestamps.
_UTC_MIN = dt.datetime(1, 1, 2)
_UTC_MAX = dt.datetime(9999, 12, 30)


def _int(bits: int) -> st.SearchStrategy[int]:
    return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def value_strategy(typ: pa.DataType) -> st.SearchStrategy:
    if pa.types.is_string(typ):
        return st.text(st.characters(exclude_categories=["Cs"]), max_size=20) | names()
    if pa.types.is_binary(typ):
        return st.binary(max_size=40)
    if pa.types.is_boolean(typ):
        return st.booleans()
    if pa.types.is_integer(typ):
        return _int(typ.bit_width)
    if pa.types.is_float64(typ):
        return st.floats(allow_nan=True, allow_infinity=True)
    if pa.types.is_float32(typ):
        return st.floats(width=32, allow_nan=True, allow_infinity=True)
    if pa.types.is_timestamp(typ):
        return st.datetimes(_UTC_MIN, _UTC_MAX, timezones=st.just(dt.UTC))
    if pa.types.is_list(typ):
        return st.lists(value_strategy(typ.value_type), max_size=6)
    raise NotImplementedError(f"no strategy for {typ}")


def row_strategy(schema: pa.Schema) -> st.SearchStrategy[dict]:
    fields = {}
    for f in schema:
        value = value_strategy(f.type)
        fields[f.name] = st.none() | value if f.nullable else value
    return st.fixed_dictionaries(fields)


def rows_strategy(schema: pa.Schema, *, max_rows: int = 5) -> st.SearchStrategy[list[dict]]:
    return st.lists(row_strategy(schema), max_size=max_rows)


@st.composite
def names(draw) -> str:
    """A file name as the pipeline stores it: decoded from raw bytes with surrogateescape (how
    Python lists a name that is not UTF-8), then made printable (``\\xNN`` for such bytes)."""
    raw = draw(st.binary(min_size=1, max_size=24))
    return printable(raw.decode("utf-8", "surrogateescape"))


def same_value(a, b) -> bool:
    """Equality of decoded Arrow values, NaN equal to NaN, recursing into lists."""
    if isinstance(a, float) and isinstance(b, float):
        return (np.isnan(a) and np.isnan(b)) or a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return a == b and type(a) is type(b)


def same_rows(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(same_value(x[k], y[k]) for k in x)
        for x, y in zip(a, b, strict=True)
    )
