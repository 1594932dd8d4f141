"""How the acquirer's pages say periods, limits and offerings in words."""

from datetime import timedelta

from keyward.domains.offerings.schemas import OfferingLimit, OfferingOut

_UNITS = (
    (timedelta(days=365), "year"),
    (timedelta(days=1), "day"),
    (timedelta(hours=1), "hour"),
    (timedelta(minutes=1), "minute"),
    (timedelta(seconds=1), "second"),
)


def span(value: timedelta | None, never: str = "No end") -> str:
    """`value` in the largest unit that measures it exactly (`90 days`, `1 year`, `12 hours`);
    None is `never`."""
    if value is None:
        return never
    if value <= timedelta(0):
        return "At once"
    for unit, name in _UNITS:
        count, rest = divmod(value, unit)
        if count and not rest:
            return f"{count} {name}{'' if count == 1 else 's'}"
    return f"{int(value.total_seconds())} seconds"


def limit(rule: OfferingLimit) -> str:
    who = "per key" if rule.scope.value == "key" else "per acquisition (all its keys)"
    per = span(rule.per).removeprefix("1 ")
    return f"{rule.requests:,} requests {who} per {per}"


def includes(offering: OfferingOut) -> list[str]:
    """What an acquisition of the offering may call, and how much."""
    selection = offering.operations
    parts = []
    if selection is None:
        parts.append("Every operation of the API")
    else:
        if selection.tags:
            parts.append("Operations tagged " + ", ".join(selection.tags))
        if selection.operation_ids:
            parts.append("Operations " + ", ".join(selection.operation_ids))
    parts.extend(limit(rule) for rule in offering.limits)
    return parts
