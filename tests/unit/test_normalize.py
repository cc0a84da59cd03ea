"""Property tests of the pure normalizer: detections -> appearances."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cameo_core.normalize import AppearanceBuilder, OutOfOrderError, Summaries, normalize

CELEBRITIES = ["1a2b3c", "4d5e6f", "7g8h9i", "0j1k2l"]


def detection(ts: int, cid: str, confidence: float = 99.0) -> dict:
    return {
        "Timestamp": ts,
        "Celebrity": {
            "Id": cid,
            "Name": f"Person {cid}",
            "Urls": [f"www.example.com/{cid}"],
            "Confidence": confidence,
            "KnownGender": {"Type": "Female"},
            "Face": {"BoundingBox": {"Width": 0.1, "Height": 0.2, "Left": 0.3, "Top": 0.4}},
        },
    }


detections = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=60_000),
        st.sampled_from(CELEBRITIES),
        st.floats(min_value=50, max_value=100),
    ),
    max_size=150,
).map(lambda rows: [detection(ts, cid, conf) for ts, cid, conf in rows])
gaps = st.integers(min_value=0, max_value=5_000)


def stream(items: list[dict], gap: int, page_size: int) -> list:
    """What the results handler does: time-ordered pages through one streaming builder."""
    ordered = sorted(items, key=lambda d: (d["Timestamp"], d["Celebrity"]["Id"]))
    builder = AppearanceBuilder(gap)
    out = []
    for start in range(0, len(ordered), page_size):
        out.extend(builder.feed(ordered[start : start + page_size]))
    out.extend(builder.close())
    return sorted(out, key=lambda a: (a.start_ms, a.celebrity.id))


@given(detections, gaps)
def test_every_detection_lands_in_exactly_one_appearance_of_its_celebrity(items, gap):
    appearances = normalize(items, gap)
    for item in items:
        ts, cid = item["Timestamp"], item["Celebrity"]["Id"]
        holders = [a for a in appearances if a.celebrity.id == cid and a.start_ms <= ts <= a.end_ms]
        assert len(holders) == 1
    assert sum(a.detections for a in appearances) == len(items)


@given(detections, gaps)
def test_appearances_of_one_celebrity_never_overlap(items, gap):
    by_celebrity = defaultdict(list)
    for appearance in normalize(items, gap):
        by_celebrity[appearance.celebrity.id].append(appearance)
    for runs in by_celebrity.values():
        runs.sort(key=lambda a: a.start_ms)
        for earlier, later in itertools.pairwise(runs):
            assert earlier.end_ms < later.start_ms


@given(detections, gaps, st.randoms(use_true_random=False), st.integers(1, 40))
def test_result_does_not_depend_on_input_order_or_page_size(items, gap, rng, page_size):
    shuffled = items[:]
    rng.shuffle(shuffled)
    expected = normalize(items, gap)
    assert normalize(shuffled, gap) == expected
    assert stream(shuffled, gap, page_size) == expected


@given(detections, gaps)
def test_splits_happen_exactly_at_gaps_above_the_threshold(items, gap):
    by_celebrity = defaultdict(list)
    for appearance in normalize(items, gap):
        by_celebrity[appearance.celebrity.id].append(appearance)
    for cid, runs in by_celebrity.items():
        runs.sort(key=lambda a: a.start_ms)
        # Between consecutive appearances there is a gap strictly above the threshold ...
        for earlier, later in itertools.pairwise(runs):
            assert later.start_ms - earlier.end_ms > gap
        # ... and inside one, consecutive detections are at most the threshold apart.
        stamps = sorted({d["Timestamp"] for d in items if d["Celebrity"]["Id"] == cid})
        for run in runs:
            inside = [t for t in stamps if run.start_ms <= t <= run.end_ms]
            assert all(b - a <= gap for a, b in itertools.pairwise(inside))


@settings(max_examples=50)
@given(detections, gaps)
def test_open_appearances_stay_bounded_by_celebrities_on_screen(items, gap):
    # The streaming memory bound: after each detection at time t, only celebrities seen in
    # [t - gap, t] can still grow, so only they may be held open (and each of them must be,
    # or an appearance would be cut short).
    builder = AppearanceBuilder(gap)
    ordered = sorted(items, key=lambda d: d["Timestamp"])
    for index, item in enumerate(ordered):
        list(builder.feed([item]))
        now = item["Timestamp"]
        on_screen = {
            seen["Celebrity"]["Id"]
            for seen in ordered[: index + 1]
            if now - seen["Timestamp"] <= gap
        }
        assert builder.open_count <= len(on_screen)
        assert builder.open_count == len(on_screen)


def test_confidence_stats_and_representative_box_come_from_the_best_detection():
    best = detection(400, "1a2b3c", 99.5)
    best["Celebrity"]["Face"]["BoundingBox"] = {"Width": 0.5, "Height": 0.5, "Left": 0, "Top": 0}
    items = [detection(0, "1a2b3c", 90.0), best, detection(800, "1a2b3c", 95.0)]
    [appearance] = normalize(items, gap_ms=1000)
    assert (appearance.start_ms, appearance.end_ms, appearance.detections) == (0, 800, 3)
    assert appearance.max_confidence == 99.5
    assert appearance.mean_confidence == pytest.approx((90 + 99.5 + 95) / 3)
    assert appearance.bounding_box == {"Width": 0.5, "Height": 0.5, "Left": 0, "Top": 0}
    assert appearance.celebrity.known_gender == "Female"


def test_detections_below_min_confidence_are_dropped_but_counted():
    builder = AppearanceBuilder(gap_ms=1000, min_confidence=80)
    items = [detection(0, "1a2b3c", 60.0), detection(200, "1a2b3c", 85.0)]
    [appearance] = [*builder.feed(items), *builder.close()]
    assert appearance.start_ms == 200
    assert (builder.detections_seen, builder.detections_used) == (2, 1)


def test_streaming_builder_refuses_out_of_order_input():
    builder = AppearanceBuilder(gap_ms=1000)
    list(builder.feed([detection(5000, "1a2b3c")]))
    with pytest.raises(OutOfOrderError):
        list(builder.feed([detection(1000, "1a2b3c")]))


def test_summaries_add_up_screen_time_and_extremes():
    items = [detection(t, "1a2b3c") for t in (0, 500, 1000, 9000, 9500)]
    items += [detection(t, "4d5e6f", 88.0) for t in (2000, 2200)]
    summaries = Summaries()
    for appearance in normalize(items, gap_ms=1000):
        summaries.add(appearance)
    first, second = list(summaries)
    assert (first.celebrity.id, first.appearances, first.screen_time_ms) == ("1a2b3c", 2, 1500)
    assert (first.first_seen_ms, first.last_seen_ms) == (0, 9500)
    assert (second.screen_time_ms, second.best_confidence) == (200, 88.0)


def test_large_shuffled_input_matches_time_ordered_stream():
    rng = random.Random(7)
    items = [detection(rng.randrange(0, 3_600_000), rng.choice(CELEBRITIES)) for _ in range(5000)]
    assert stream(items, 2000, 1000) == normalize(items, 2000)
