"""A gateway worker's body that ends as it starts, for the supervision tests: small, so that a
spawned interpreter imports it at once."""

from multiprocessing.connection import Connection


def exit_at_once(metrics: Connection) -> None:
    raise SystemExit(3)
