"""The metrics' sum over gateway processes: what an ended process counted stays in it, so a
counter never goes back when a worker dies; its feed position and the process do not."""

from keyward.metrics import EMPTY, MetricsHub, Snapshot


def _snapshot(requests: int, hits: int, current_at: float) -> Snapshot:
    return EMPTY._replace(
        requests={("api_1", "list_pets", 200, ""): requests},
        hits=hits,
        current_at=current_at,
        processes=1,
    )


def test_an_ended_process_counts_stay_in_the_sum_and_the_oldest_feed_read_wins() -> None:
    hub = MetricsHub()
    hub.update("worker-0", _snapshot(3, 1, 1000.0))
    hub.update("worker-1", _snapshot(4, 2, 990.0))
    total = hub.total()
    assert (total.requests, total.hits, total.processes) == (
        {("api_1", "list_pets", 200, ""): 7},
        3,
        2,
    )
    assert total.current_at == 990.0, "the process furthest behind"

    hub.end("worker-1")
    hub.update("worker-1", _snapshot(1, 0, 1010.0))  # its replacement starts from zero
    total = hub.total()
    assert total.requests == {("api_1", "list_pets", 200, ""): 8}
    assert (total.hits, total.processes, total.current_at) == (3, 2, 1000.0)
