"""The budget guarantee: what to say when a choice misses the band.

The band search (`dais_keras.select.band`) never leaves the cost above the
target when some allowed choice fits under it. `above_target` says why a
result stays above it, `below_band` why it stays under the band.
"""


def format_cost(value, cost):
    """`value` in the unit of `cost`: `"1,234 MACs"` or `"3.250 ms"`."""
    if getattr(cost, "kind", "macs") == "latency":
        return f"{value:.3f} ms"
    return f"{value:,.0f} MACs"


def above_target(value, target, min_width, round_to, cost):
    """Why a cost `value` stays above `target`: the minimum widths."""
    return (
        f"the minimum widths (min_width={min_width!r}"
        + (f", round_to={round_to}" if round_to else "")
        + f") keep {format_cost(value, cost)}, {value / target - 1:.1%} above the target of "
        f"{format_cost(target, cost)}; lower `min_width`"
        + (" or `round_to`" if round_to else "")
        + " or raise `budget`."
    )


def below_band(value, target, band, round_to, exhausted, cost):
    """Why a cost `value` stays below the band `[(1 - band) target, target]`.

    Args:
        value: The cost kept.
        target: The largest allowed cost.
        band: The accepted shortfall.
        round_to: Width alignment, or `None`.
        exhausted: How many width combinations were all tried, or `None`.
        cost: The cost model (for the unit).

    Returns:
        The message, with the shortfall and what to change.
    """
    shortfall = (
        f"{format_cost(value, cost)}, {1 - value / target:.1%} below the target of "
        f"{format_cost(target, cost)} (shortfall {format_cost(target - value, cost)}; "
        f"the band allows {band:.1%})"
    )
    if exhausted:
        reason = (
            f"none of the {exhausted:,} combinations of allowed widths lies in the band; "
            f"the closest below gives {shortfall}"
        )
    else:
        reason = f"the search found no widths in the band; the closest gives {shortfall}"
    if round_to:
        return (
            f"round_to={round_to} cannot reach the band: {reason}; use a smaller `round_to` "
            "or a wider `band`."
        )
    return f"{reason}; use a wider `band` or a smaller `min_width`."
