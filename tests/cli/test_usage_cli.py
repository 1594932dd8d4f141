"""`keyward keys|acquisitions|offerings|apis usage` as real processes: the counts the usage writer
stored, as a table of the buckets that counted something or as JSON, and the refusals."""

from keyward.core.clock import SystemClock
from keyward.db.engine import Database
from tests.domains.usage_market import Market, make_market, send
from tests.e2e.processes import cli


def stored_market(url: str) -> Market:
    database = Database.connect(url)
    try:
        market = make_market(database)
        send(database, SystemClock(), market, {"alice": [200, 200, 404], "eve": [503]})
        return market
    finally:
        database.dispose()


def test_usage_of_a_key_acquisition_offering_and_api_from_the_command_line(
    fresh_url: str,
) -> None:
    market = stored_market(fresh_url)
    workspace = ["--workspace", market.admin.workspace_id]
    for noun, ident, expected in (
        ("keys", market.keys["alice"], {"2xx": 2, "3xx": 0, "4xx": 1, "5xx": 0}),
        ("acquisitions", market.acquisition_id, {"2xx": 2, "3xx": 0, "4xx": 1, "5xx": 0}),
        ("offerings", market.offering_id, {"2xx": 2, "3xx": 0, "4xx": 1, "5xx": 1}),
        ("apis", market.api_id, {"2xx": 2, "3xx": 0, "4xx": 1, "5xx": 1}),
    ):
        shown = cli(fresh_url, *workspace, noun, "usage", ident, "--json")
        assert shown.code == 0, shown.stderr
        document = shown.json()
        assert document["totals"] == expected
        assert (document["granularity"], len(document["data"])) == ("hour", 25)
        table = cli(fresh_url, *workspace, noun, "usage", ident, "--granularity", "day")
        assert table.code == 0, table.stderr
        lines = table.stdout.splitlines()
        header = next(i for i, line in enumerate(lines) if line.startswith("START"))
        rows = lines[header + 1 :]
        assert len(rows) == 1, "buckets without responses are left out"
        assert rows[0].split()[1:] == [str(expected[c]) for c in ("2xx", "3xx", "4xx", "5xx")]
    alice = market.keys["alice"]
    unused = cli(fresh_url, *workspace, "keys", "usage", alice, "--since", "P3D", "--until", "P2D")
    assert unused.code == 0, unused.stderr
    assert unused.stdout.endswith("(no responses in this range)\n")


def test_usage_refusals_exit_non_zero_with_the_error_on_stderr(fresh_url: str) -> None:
    market = stored_market(fresh_url)
    workspace = ["--workspace", market.admin.workspace_id]
    acquirer = [*workspace, "--as", market.acquirer.member_id or ""]
    refused = cli(fresh_url, *acquirer, "apis", "usage", market.api_id, "--json")
    assert refused.code != 0
    assert refused.stdout == ""
    assert refused.error()["error"]["code"] == "permission_denied"
    stranger = [*workspace, "--as", market.stranger.member_id or ""]
    hidden = cli(fresh_url, *stranger, "acquisitions", "usage", market.acquisition_id, "--json")
    assert hidden.code != 0
    assert hidden.error()["error"]["code"] == "acquisition_not_found"
    too_long = cli(
        fresh_url, *workspace, "offerings", "usage", market.offering_id, "--since", "P90D"
    )
    assert too_long.code != 0
    assert "usage_range_too_large" in too_long.stderr
