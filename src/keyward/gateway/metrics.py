"""Counting the gateway's exchanges for the metrics: per process, in a plain dict, on the event
loop that answers them, so a request costs one dict update and no lock."""

from collections.abc import Mapping

RequestKey = tuple[str, str, int, str]
"""API id, operationId, status, error code: every part bounded by the catalog or the
vocabulary of codes, never a raw path or key ("" where it does not apply)."""


class ExchangeCounts:
    """Finished exchanges by `RequestKey`, since the process started."""

    __slots__ = ("requests",)

    def __init__(self) -> None:
        self.requests: dict[RequestKey, int] = {}

    def count(self, status: int, fields: Mapping[str, str]) -> None:
        """One exchange answered `status` (0: none sent), from the decision's log fields."""
        key = (
            fields.get("api_id", ""),
            fields.get("operation", ""),
            status,
            fields.get("code", ""),
        )
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
