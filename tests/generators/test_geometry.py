"""Properties of the panel relation function and the InternVL box notation."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipeline.geometry import (
    Horizontal,
    Relation,
    Vertical,
    centre,
    internvl_box,
    internvl_ref,
    relation,
    relation_px,
    side_by_side,
)
from schemas import Box

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
tols = st.floats(min_value=0.0, max_value=0.3, allow_nan=False)


@st.composite
def boxes(draw) -> Box:
    x0, x1 = sorted(draw(st.tuples(unit, unit)))
    y0, y1 = sorted(draw(st.tuples(unit, unit)))
    assume(x1 > x0 and y1 > y0)
    return Box(x0=x0, y0=y0, x1=x1, y1=y1)


@settings(deadline=None)  # a loaded 2-core machine must not make these flaky
@given(boxes(), boxes(), tols)
def test_relation_is_antisymmetric(a: Box, b: Box, tol: float) -> None:
    ab, ba = relation(a, b, tol), relation(b, a, tol)
    assert ba == ab.inverse()
    assert (ab.horizontal is Horizontal.LEFT_OF) == (ba.horizontal is Horizontal.RIGHT_OF)
    assert (ab.vertical is Vertical.ABOVE) == (ba.vertical is Vertical.BELOW)


@settings(deadline=None)  # a loaded 2-core machine must not make these flaky
@given(boxes(), boxes(), tols)
def test_same_row_and_column_follow_the_tolerance(a: Box, b: Box, tol: float) -> None:
    (ax, ay), (bx, by) = centre(a), centre(b)
    r = relation(a, b, tol)
    assert (r.horizontal is Horizontal.SAME_COLUMN) == (abs(ax - bx) <= tol or side_by_side(a.x0, a.x1, b.x0, b.x1))
    assert (r.vertical is Vertical.SAME_ROW) == (abs(ay - by) <= tol or side_by_side(a.y0, a.y1, b.y0, b.y1))
    if r.vertical is Vertical.ABOVE:  # a side is claimed only for boxes that overlap little on that axis
        assert min(a.y1, b.y1) - max(a.y0, b.y0) < 0.5 * min(a.y1 - a.y0, b.y1 - b.y0)


@settings(deadline=None)  # a loaded 2-core machine must not make these flaky
@given(boxes(), boxes(), tols, tols)
def test_a_larger_tolerance_only_merges(a: Box, b: Box, t1: float, t2: float) -> None:
    small, large = sorted((t1, t2))
    rs, rl = relation(a, b, small), relation(a, b, large)
    # growing the tolerance can turn left/right into same-column, never flip a side
    assert rl.horizontal in (rs.horizontal, Horizontal.SAME_COLUMN)
    assert rl.vertical in (rs.vertical, Vertical.SAME_ROW)


@settings(deadline=None)  # a loaded 2-core machine must not make these flaky
@given(
    st.lists(st.integers(min_value=0, max_value=2000), min_size=8, max_size=8),
    st.integers(min_value=1, max_value=9),
    tols,
)
def test_relation_is_invariant_to_scaling_the_image(coords: list[int], k: int, tol: float) -> None:
    width, height = 2001, 2001
    xa, xb, xc, xd = coords[0:4]
    ya, yb, yc, yd = coords[4:8]
    assume(xa != xb and xc != xd and ya != yb and yc != yd)
    a = Box(x0=min(xa, xb), x1=max(xa, xb), y0=min(ya, yb), y1=max(ya, yb))
    b = Box(x0=min(xc, xd), x1=max(xc, xd), y0=min(yc, yd), y1=max(yc, yd))
    scaled = [Box(x0=v.x0 * k, y0=v.y0 * k, x1=v.x1 * k, y1=v.y1 * k) for v in (a, b)]
    assert relation_px(a, b, width, height, tol) == relation_px(*scaled, width * k, height * k, tol)


def test_concrete_layout() -> None:
    left = Box(x0=0.0, y0=0.0, x1=0.5, y1=0.5)
    right = Box(x0=0.5, y0=0.02, x1=1.0, y1=0.5)
    below = Box(x0=0.0, y0=0.5, x1=0.5, y1=1.0)
    assert relation(left, right, 0.05) == Relation(Horizontal.LEFT_OF, Vertical.SAME_ROW)
    assert relation(below, left, 0.05) == Relation(Horizontal.SAME_COLUMN, Vertical.BELOW)
    assert relation(below, right, 0.05) == Relation(Horizontal.LEFT_OF, Vertical.BELOW)
    assert relation(left, right, 0.05).describe("Panel A", "Panel B") == "Panel A is to the left of Panel B, in the same row."
    assert Relation.from_code("left_of,below").code == "left_of,below"


def test_a_full_height_panel_is_beside_the_stacked_ones_not_above_or_below() -> None:
    """A tall panel A on the left, B and C stacked on the right (the CTSZ heat-map figure's layout):
    A's centre is level with neither, but A is simply to their left."""
    a = Box(x0=0.006, y0=0.002, x1=0.374, y1=1.0)
    b = Box(x0=0.404, y0=0.012, x1=0.990, y1=0.517)
    c = Box(x0=0.567, y0=0.557, x1=0.802, y1=0.936)
    assert relation(a, b, 0.05).describe("Panel A", "Panel B") == "Panel A is to the left of Panel B, in the same row."
    assert relation(a, c, 0.05) == Relation(Horizontal.LEFT_OF, Vertical.SAME_ROW)
    assert relation(c, b, 0.05) == Relation(Horizontal.SAME_COLUMN, Vertical.BELOW)  # stacked: a side holds
    # two trees side by side, tops level, one shorter: beside, not "below"
    tall, short = Box(x0=0.046, y0=0.035, x1=0.557, y1=0.979), Box(x0=0.553, y0=0.037, x1=0.995, y1=0.728)
    assert relation(tall, short, 0.05) == Relation(Horizontal.LEFT_OF, Vertical.SAME_ROW)
    # panels that overlap less than half of the shorter extent keep their side
    upper, lower = Box(x0=0.0, y0=0.0, x1=0.4, y1=0.6), Box(x0=0.6, y0=0.4, x1=1.0, y1=1.0)
    assert relation(upper, lower, 0.05) == Relation(Horizontal.LEFT_OF, Vertical.ABOVE)


def test_internvl_notation() -> None:
    box = Box(x0=0.1234, y0=0.0, x1=1.0, y1=0.5)
    assert internvl_box(box) == [123, 0, 1000, 500]
    assert internvl_ref("Panel A", box) == "<ref>Panel A</ref><box>[[123, 0, 1000, 500]]</box>"
