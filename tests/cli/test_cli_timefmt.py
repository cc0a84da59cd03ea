"""Positions as people type them, and as the tables print them."""

from __future__ import annotations

import pytest

from cameo_cli.timefmt import format_ms, parse_position


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("0", 0),
        ("42", 42_000),
        ("90.5", 90_500),  # plain seconds may exceed a minute
        ("1:30", 90_000),
        ("01:02.003", 62_003),
        ("1:02:03", 3_723_000),
        ("01:02:03.4", 3_723_400),
        ("0:00:10.500", 10_500),
        ("12:00:00", 43_200_000),
    ],
)
def test_accepted_positions_become_milliseconds(text: str, ms: int) -> None:
    assert parse_position(text) == ms


@pytest.mark.parametrize(
    "text",
    ["", "abc", "1:75", "1:60:00", "-5", "1.2345", "1:2:3:4", "1::2", ":30", "1:30.", "1e3"],
)
def test_malformed_positions_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_position(text)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0:00:00.000"),
        (10_500, "0:00:10.500"),
        (3_723_004, "1:02:03.004"),
        (36_000_000, "10:00:00.000"),
    ],
)
def test_milliseconds_print_as_h_mm_ss_mmm(ms: int, text: str) -> None:
    assert format_ms(ms) == text
    assert parse_position(text) == ms
