"""What a Rekognition Video job is expected to cost, before anyone pays for it."""

from __future__ import annotations

# Rekognition Video celebrity recognition on stored video, list price (us-east-1, first tier),
# in USD per minute of video. The template's PricePerMinute parameter overrides it.
DEFAULT_PRICE_PER_MINUTE = 0.10


def estimated_cost_usd(minutes: float, price_per_minute: float) -> float:
    """minutes x price, to a hundredth of a cent (an estimate: tiers and credits are not
    modelled). A negative input is a caller's bug, not a free video."""
    if minutes < 0 or price_per_minute < 0:
        raise ValueError(f"minutes ({minutes}) and price ({price_per_minute}) must be >= 0")
    return round(minutes * price_per_minute, 4)
