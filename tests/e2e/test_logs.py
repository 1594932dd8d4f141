"""What `keyward serve` and `keyward worker` write to stderr: keyward's own lines at
KEYWARD_LOG_LEVEL, once each, beside uvicorn's lines and the gateway's JSON access lines, which
stay as they are.

Logging does not depend on the database, so these run on SQLite only.
"""

import json
import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx2 as httpx
import pytest

from keyward.core.keys import generate_key
from keyward.core.sealing import Sealer
from keyward.db.engine import Database
from keyward.domains.keys import service as keys
from tests.backends import SqliteDatabases
from tests.e2e.processes import GatewayProcess, cli, free_port, serve, serve_gateway
from tests.factories import admin, make_workspace

pytestmark = pytest.mark.e2e

# UTC time with milliseconds, level, [process id], logger: message.
SEALER = Sealer([b"s" * 32])
KEYWARD_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?P<level>[A-Z]+) \[(?P<pid>\d+)\] "
    r"(?P<logger>keyward(?:\.\w+)*): (?P<message>.*)$"
)


def _listening(line: str, url: str) -> re.Match[str] | None:
    """The line if it is the gateway's listening line, at INFO, in keyward's format."""
    found = KEYWARD_LINE.match(line)
    if found is None:
        return None
    said = (found["level"], found["logger"], found["message"])
    return found if said == ("INFO", "keyward.gateway", f"gateway listening on {url}") else None


def _wait_for(gateway: GatewayProcess, enough: Callable[[list[str]], bool]) -> list[str]:
    deadline = time.monotonic() + 30
    while not enough(lines := gateway.lines()):
        if time.monotonic() > deadline:
            pytest.fail("stderr did not say it in 30 s:\n" + "\n".join(lines))
        time.sleep(0.05)
    return lines


def _access_lines(lines: list[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_serve_gateway_says_it_listens_once_in_each_of_its_processes(
    sqlite: SqliteDatabases, tmp_path: Path
) -> None:
    with serve_gateway(sqlite.create(), tmp_path, KEYWARD_GATEWAY_WORKERS="2") as gateway:
        _wait_for(gateway, lambda lines: sum(bool(_listening(x, gateway.url)) for x in lines) >= 2)
        for _ in range(4):
            assert httpx.get(f"{gateway.url}/unlogged", timeout=10).status_code == 404
    lines = gateway.lines()
    assert all(KEYWARD_LINE.match(line) for line in lines), "the access log is off: no lines"
    listening = [found for line in lines if (found := _listening(line, gateway.url))]
    pids = sorted(int(found["pid"]) for found in listening)
    assert len(pids) == len(set(pids)) == 2, lines
    assert gateway.pid in pids, "the process started, and the worker it spawned"
    assert sum("gateway listening" in line for line in lines) == 2, "no line written twice"


def test_access_lines_stay_one_json_line_per_request_beside_keywards_lines(
    sqlite: SqliteDatabases, tmp_path: Path
) -> None:
    with serve_gateway(sqlite.create(), tmp_path, KEYWARD_GATEWAY_ACCESS_LOG="true") as gateway:
        with httpx.Client(base_url=gateway.url, timeout=10) as client:
            for path in ("/one", "/two", "/three"):
                assert client.get(path).status_code == 404
        _wait_for(gateway, lambda lines: len(_access_lines(lines)) >= 3)
    lines = gateway.lines()
    access = _access_lines(lines)
    assert [(line["target"], line["status"]) for line in access] == [
        ("/one", 404),
        ("/two", 404),
        ("/three", 404),
    ]
    others = [line for line in lines if not line.startswith("{")]
    assert others, "keyward's lines are there too"
    assert all(KEYWARD_LINE.match(line) for line in others), others
    assert not any("keyward.gateway.access" in line for line in others)


def test_log_level_warning_hides_the_listening_line_but_not_the_access_log(
    sqlite: SqliteDatabases, tmp_path: Path
) -> None:
    with serve_gateway(
        sqlite.create(),
        tmp_path,
        KEYWARD_LOG_LEVEL="WARNING",
        KEYWARD_GATEWAY_ACCESS_LOG="true",
    ) as gateway:
        # Answered after the gateway logged that it listens (nothing is awaited in between).
        assert httpx.get(f"{gateway.url}/after-start", timeout=10).status_code == 404
        _wait_for(gateway, lambda lines: len(_access_lines(lines)) >= 1)
    lines = gateway.lines()
    assert not any("gateway listening" in line for line in lines), lines
    assert [line["target"] for line in _access_lines(lines)] == ["/after-start"]
    levels = {found["level"] for line in lines if (found := KEYWARD_LINE.match(line))}
    assert levels <= {"WARNING", "ERROR"}, lines
    assert all(line.startswith("{") or KEYWARD_LINE.match(line) for line in lines), lines


@pytest.mark.parametrize("part", ["gateway", "api", "all"])
def test_an_unknown_log_level_stops_serve_with_a_message_saying_what_to_set(
    part: str, sqlite: SqliteDatabases
) -> None:
    ports = ("--port", str(free_port()), "--gateway-port", str(free_port()))
    refused = cli(sqlite.create(), "serve", part, *ports, KEYWARD_LOG_LEVEL="loud")
    assert refused.code == 1
    assert refused.stderr == (
        "error [invalid_log_level]: KEYWARD_LOG_LEVEL is 'loud', which is not a log level: "
        "set it to one of critical, error, warning, info, debug, trace.\n"
    )


def test_serve_writes_keywards_lines_and_uvicorns_once_each(
    sqlite: SqliteDatabases, tmp_path: Path
) -> None:
    with serve(sqlite.create(), tmp_path) as server:
        pass
    lines = server.log.read_text().splitlines()
    [listening] = [line for line in lines if "gateway listening" in line]
    assert _listening(listening, server.gateway_url), listening
    assert sum("Uvicorn running on" in line for line in lines) == 1, lines


def test_the_worker_writes_keywards_lines_and_refuses_an_unknown_level(
    sqlite: SqliteDatabases,
) -> None:
    url = sqlite.create()
    database = Database.connect(url)
    try:
        set_up = make_workspace(database)
        with database.transaction() as uow:  # the admin is e-mailed about the rotation
            keys.rotate_key(
                uow, admin(database, set_up), set_up.admin_key.id, timedelta(0), sealer=SEALER
            )
    finally:
        database.dispose()
    refused = cli(url, "worker", "--once", KEYWARD_LOG_LEVEL="loud")
    assert (refused.code, refused.stderr.startswith("error [invalid_log_level]")) == (1, True)
    ran = cli(url, "worker", "--once")
    assert ran.code == 0, ran.stderr
    given_up = [line for line in ran.stderr.splitlines() if "given up" in line]
    assert given_up, ran.stderr
    for line in given_up:
        found = KEYWARD_LINE.match(line)
        assert found is not None, line
        assert (found["level"], found["logger"]) == ("WARNING", "keyward.jobs.worker")
        assert "no SMTP server is configured" in found["message"]


def test_no_line_of_any_process_shows_a_key_however_it_was_sent(
    sqlite: SqliteDatabases, tmp_path: Path
) -> None:
    url = sqlite.create()
    key = generate_key().secret
    encoded = key.replace("_", "%5F", 1)
    with serve(url, tmp_path, KEYWARD_GATEWAY_ACCESS_LOG="true", KEYWARD_LOG_LEVEL="debug") as s:
        for base in (s.url, s.gateway_url):
            with httpx.Client(base_url=base, timeout=10) as client:
                client.get(f"/nowhere?api_key={key}")
                client.get(f"/nowhere?key%5B0%5D={key}&other={encoded}")
                client.get(f"/v1/me?x={key}", headers={"X-Api-Key": key})
                client.get(f"/{key}/path")
    text = s.log.read_text()
    assert "[key]" in text
    assert key not in text
    assert encoded not in text
    assert key[3:] not in text
