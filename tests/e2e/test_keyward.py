"""keyward end to end: real `keyward serve` processes and real CLI processes sharing a database.

Each test runs on SQLite and on PostgreSQL, in a database of its own.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx2 as httpx
import pytest
import yaml

from tests.e2e.processes import KEYWARD, Server, cli, environment, free_port, serve

pytestmark = pytest.mark.e2e


def _init(url: str) -> tuple[str, str]:
    """A fresh database with its workspace; returns (workspace id, admin key)."""
    result = cli(url, "init", "--json")
    assert result.code == 0, result.stderr
    body = result.json()
    return body["workspace_id"], body["admin_key"]


def _wait_for_status(server: Server, key: str, status: int, deadline: float = 5.0) -> float:
    """Seconds until `key` gets `status` on `server` (fails after `deadline`)."""
    started = time.monotonic()
    with server.client(key) as client:
        while time.monotonic() - started < deadline:
            if client.get("/v1/me").status_code == status:
                return time.monotonic() - started
            time.sleep(0.02)
    pytest.fail(f"{server.url} did not answer {status} within {deadline} s")


def test_init_prints_the_admin_key_once_and_then_explains(fresh_url: str) -> None:
    _, admin_key = _init(fresh_url)
    assert admin_key.startswith("kw_")
    again = cli(fresh_url, "init", "--json")
    assert again.code == 0
    assert again.json()["admin_key"] is None
    human = cli(fresh_url, "init")
    assert "cannot be shown again" in human.stdout
    assert "keys create --name admin --permission '*:*'" in human.stdout
    assert admin_key not in human.stdout + again.stdout


def test_the_demo_prints_curl_lines_that_work_as_printed(fresh_url: str, tmp_path: Path) -> None:
    port, gateway_port = free_port(), free_port()
    ports = {
        "KEYWARD_PORT": str(port),
        "KEYWARD_GATEWAY_PORT": str(gateway_port),
        "KEYWARD_GATEWAY_URL": f"http://127.0.0.1:{gateway_port}",
    }
    printed = cli(fresh_url, "init", "--demo", **ports)
    assert printed.code == 0, printed.stderr
    lines = [line.strip() for line in printed.stdout.splitlines() if "curl -s" in line]
    assert len(lines) == 6
    with serve(
        fresh_url,
        tmp_path,
        port,
        gateway_port,
        KEYWARD_DEMO_UPSTREAM="true",
        KEYWARD_GATEWAY_ACCESS_LOG="true",
        **ports,
    ) as server:
        answers = []
        for line in lines:
            done = subprocess.run(
                ["bash", "-c", f"{line} --fail-with-body"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert done.returncode == 0, f"{line}\n{done.stdout}"
            answers.append(done.stdout)
        portal = re.search(
            r"The portal: (\S+)/ .*?shown this once:\n\n    (\S+)\n", printed.stdout, re.S
        )
        assert portal is not None, printed.stdout
        assert portal.group(1) == server.url
        password = portal.group(2)
        with httpx.Client(base_url=server.url) as browser:
            form = browser.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token is not None
            signed_in = browser.post(
                "/login",
                data={
                    "csrf_token": token.group(1),
                    "email": "acquirer@example.com",
                    "password": password,
                    "next": "/account/keys",
                },
            )
            assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/account/keys")
            assert "Alex Acquirer" in browser.get("/account/keys").text
        assert password not in server.log.read_text()
    me, members, created, pets, verified, exported = answers
    logged = [
        json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")
    ]
    [call] = [line for line in logged if line["target"] == "/petstore/v1/pets?limit=2"]
    assert (call["status"], call["key_id"]) == (200, json.loads(verified)["key_id"])
    assert all(
        secret not in server.log.read_text() for secret in re.findall(r"kw_\w+", printed.stdout)
    )
    called = json.loads(pets)
    assert [pet["name"] for pet in called["pets"]] == ["Rex", "Tom"]
    assert called["served_for_acquisition"] == json.loads(verified)["acquisition_id"]
    assert json.loads(me)["member"]["email"] == "admin@example.com"
    emails = {member["email"] for member in json.loads(members)["data"]}
    assert {"provider@example.com", "acquirer@example.com", "auditor@example.com"} <= emails
    assert json.loads(created)["key"].startswith("kw_")
    assert (json.loads(verified)["valid"], json.loads(verified)["code"]) == (True, "valid")
    spec = yaml.safe_load(exported)
    assert spec["swagger"] == "2.0"
    assert spec["info"]["title"] == "Petstore"
    [scheme] = spec["securityDefinitions"].values()
    assert (scheme["in"], scheme["name"]) == ("header", "X-API-Key")


def test_the_cli_manages_the_key_lifecycle(fresh_url: str) -> None:
    _init(fresh_url)
    created = cli(fresh_url, "keys", "create", "--name", "ci", "-p", "keys:read", "--json")
    assert created.code == 0, created.stderr
    key = created.json()
    assert {"id", "name", "key", "start", "expires_at"} <= set(key)
    verified = cli(fresh_url, "keys", "verify", key["key"], "--json")
    assert verified.code == 0
    assert (verified.json()["valid"], verified.json()["code"]) == (True, "valid")
    from_stdin = cli(fresh_url, "keys", "verify", "-", "--json", stdin=key["key"] + "\n")
    assert from_stdin.json()["key_id"] == key["id"]
    listed = cli(fresh_url, "keys", "list", "--json").json()
    assert key["id"] in {k["id"] for k in listed["data"]}
    assert key["key"] not in str(listed)
    shown = cli(fresh_url, "keys", "show", key["id"], "--json").json()
    assert shown["name"] == "ci"
    assert "key" not in shown
    used = cli(fresh_url, "keys", "usage", key["id"], "--json").json()
    assert used["last_used_at"] is not None
    assert (used["granularity"], len(used["data"])) == ("hour", 25)
    assert used["totals"] == {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
    weekly = cli(fresh_url, "keys", "usage", key["id"], "--since", "P7D", "--granularity", "day")
    assert weekly.code == 0, weekly.stderr
    assert weekly.stdout.endswith("\n\n(no responses in this range)\n"), "no row of zeros"
    too_long = cli(
        fresh_url, "keys", "usage", key["id"], "--since", "P7D", "--granularity", "minute", "--json"
    )
    assert too_long.code == 1
    assert too_long.error()["error"]["code"] == "usage_range_too_large"
    refused = cli(fresh_url, "keys", "delete", key["id"], "--json")
    assert refused.code == 1
    assert refused.stdout == ""
    assert refused.error()["error"]["code"] == "key_not_revoked"
    assert cli(fresh_url, "keys", "revoke", key["id"], "--json").json()["state"] == "revoked"
    invalid = cli(fresh_url, "keys", "verify", key["key"], "--json")
    assert invalid.code == 1
    assert (invalid.json()["valid"], invalid.json()["code"]) == (False, "key_revoked")
    assert cli(fresh_url, "keys", "delete", key["id"], "--json").code == 0
    gone = cli(fresh_url, "keys", "show", key["id"], "--json")
    assert gone.code == 1
    assert gone.error()["error"]["code"] == "key_not_found"


def test_cli_errors_are_json_on_stderr_with_a_non_zero_exit(fresh_url: str) -> None:
    uninitialised = cli(fresh_url.replace(".db", "-missing.db"), "keys", "list", "--json")
    if "sqlite" in fresh_url:
        assert uninitialised.code == 1
        assert uninitialised.error()["error"]["code"] == "not_initialised"
    _init(fresh_url)
    bad = cli(fresh_url, "keys", "create", "--name", "x", "-p", "keys:fly", "--json")
    assert bad.code == 1
    assert bad.stdout == ""
    assert bad.error()["error"]["code"] == "validation_failed"
    human = cli(fresh_url, "keys", "create", "--name", "x", "-p", "keys:fly")
    assert human.code == 1
    assert human.stderr.startswith("error [validation_failed]")


def test_an_invalid_setting_is_named_without_its_value(fresh_url: str) -> None:
    refused = cli(fresh_url, "keys", "list", KEYWARD_PORT="eighty", KEYWARD_SMTP_TIMEOUT="-s3cr3t")
    assert refused.code == 1
    assert refused.stdout == ""
    lines = refused.stderr.splitlines()
    assert (
        lines[0]
        == "error [invalid_settings]: A KEYWARD_* setting is not valid: see details.errors."
    )
    assert sorted(line.split(":")[0] for line in lines[1:]) == [
        "  - KEYWARD_PORT",
        "  - KEYWARD_SMTP_TIMEOUT",
    ]
    assert "s3cr3t" not in refused.stderr
    assert "Traceback" not in refused.stderr


def test_members_and_rights_from_the_cli(fresh_url: str) -> None:
    _init(fresh_url)
    member = cli(
        fresh_url,
        "members", "create", "--email", "dev@example.com", "--name", "Dev",
        "-p", "keys:create", "-p", "keys:read", "--json",
    ).json()  # fmt: skip
    key = cli(
        fresh_url, "--as", "dev@example.com",
        "keys", "create", "--name", "dev", "-p", "keys:read", "--json",
    ).json()  # fmt: skip
    assert key["creator_member_id"] == member["id"]
    escalation = cli(
        fresh_url, "--as", "dev@example.com",
        "keys", "create", "--name", "x", "-p", "members:read", "--json",
    )  # fmt: skip
    assert escalation.error()["error"]["code"] == "permission_escalation"
    cli(fresh_url, "members", "grant", member["id"], "-p", "keys:create", "--json")
    verified = cli(fresh_url, "keys", "verify", key["key"], "--json").json()
    assert verified["valid"]
    assert verified["permissions"] == []
    cli(fresh_url, "members", "update", member["id"], "--inactive", "--json")
    disabled = cli(fresh_url, "keys", "verify", key["key"], "--json")
    assert disabled.code == 1
    assert disabled.json()["code"] == "key_disabled"


def test_two_servers_see_a_cli_revocation_within_a_second(fresh_url: str, tmp_path: Path) -> None:
    _, admin_key = _init(fresh_url)
    with serve(fresh_url, tmp_path) as first, serve(fresh_url, tmp_path) as second:
        with first.client(admin_key) as client:
            response = client.post("/v1/keys", json={"name": "shared", "permissions": []})
        assert response.status_code == 201
        key = response.json()
        for server in (first, second):
            with server.client(key["key"]) as client:
                assert client.get("/v1/me").status_code == 200
        revoked = cli(fresh_url, "keys", "revoke", key["id"], "--json")
        revoked_at = time.monotonic()
        assert revoked.code == 0
        seen = [_wait_for_status(server, key["key"], 401) for server in (first, second)]
        assert time.monotonic() - revoked_at < 1.5, seen
        with second.client(key["key"]) as client:
            assert client.get("/v1/me").json()["error"]["code"] == "key_revoked"
        # A change made through one server reaches the other through the feed too.
        with first.client(admin_key) as client:
            member = client.post(
                "/v1/members",
                json={"email": "ops@example.com", "name": "Ops", "permissions": ["keys:create"]},
            ).json()
    logs = first.log.read_text() + second.log.read_text()
    assert "GET /v1/me" in logs
    for secret in (admin_key, key["key"]):
        assert secret not in logs
    assert member["email"] == "ops@example.com"


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _gateway_with_workers(url: str, port: int) -> tuple["subprocess.Popen[bytes]", list[int]]:
    """`keyward serve gateway` in three processes, once its two workers serve `port`."""
    process = subprocess.Popen(
        [KEYWARD, "serve", "gateway", "--gateway-port", str(port)],
        env=environment(url, KEYWARD_GATEWAY_WORKERS="3"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    workers: list[int] = []
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        workers = [pid for pid in _children(process.pid) if _listens(pid, port)]
    if len(workers) < 2:
        process.kill()
        process.wait()
        pytest.fail(f"two more processes serve the port; found {workers}")
    return process, workers


def test_the_gateway_runs_in_several_processes_on_one_port(fresh_url: str) -> None:
    _init(fresh_url)
    port = free_port()
    process, workers = _gateway_with_workers(fresh_url, port)
    try:
        answers = set()
        for _ in range(20):
            with httpx.Client(timeout=10) as client:  # a new connection each time
                answers.add(client.get(f"http://127.0.0.1:{port}/nothing").status_code)
        assert answers == {404}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)


def test_workers_stop_when_the_gateway_process_is_killed(fresh_url: str) -> None:
    """A parent that cannot stop its workers (SIGKILL, or SIGTERM while it starts) does not
    leave them serving the port."""
    _init(fresh_url)
    port = free_port()
    process, workers = _gateway_with_workers(fresh_url, port)
    process.kill()
    process.wait(timeout=10)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers), "the workers outlive their parent"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/nothing", timeout=5)
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether process `pid` runs: an orphaned worker is reaped by init once it exits."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _listens(pid: int, port: int) -> bool:
    """Whether process `pid` holds a socket listening on 127.0.0.1:`port`."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    listening = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == listening and fields[3] == "0A" and fields[9] in inodes:
            return True
    return False


def test_serve_runs_the_gateway_in_a_process_of_its_own(fresh_url: str, tmp_path: Path) -> None:
    """Whatever holds the API's interpreter (a big import, a stopped process) holds nothing
    of the gateway's; and the gateway does not outlive `keyward serve`."""
    _init(fresh_url)
    with serve(fresh_url, tmp_path) as server:
        gateway_port = int(server.gateway_url.rsplit(":", 1)[1])
        assert not _listens(server.pid, gateway_port)
        [gateway] = [pid for pid in _children(server.pid) if _listens(pid, gateway_port)]
        os.kill(server.pid, signal.SIGSTOP)
        try:
            answer = httpx.get(f"{server.gateway_url}/nothing", timeout=10)
            assert answer.status_code == 404
            assert answer.json()["error"]["code"] == "api_not_found"
            with pytest.raises(httpx.TimeoutException):
                httpx.get(f"{server.url}/healthz", timeout=1)
        finally:
            os.kill(server.pid, signal.SIGCONT)
        os.kill(server.pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _alive(gateway):
            time.sleep(0.1)
        assert not _alive(gateway), "the gateway outlives keyward serve"


def test_serve_stops_saying_why_when_the_gateway_cannot_listen(fresh_url: str) -> None:
    _init(fresh_url)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        refused = cli(fresh_url, "serve", "--port", str(free_port()), "--gateway-port", str(port))
    assert refused.code == 1
    assert refused.stderr.startswith("error [gateway_not_started]: the gateway cannot listen on ")
    assert f":{port}: Address already in use." in refused.stderr


@pytest.mark.parametrize("part", [[], ["gateway"]])
def test_serve_stops_in_one_line_when_the_metrics_port_is_taken(
    fresh_url: str, part: list[str]
) -> None:
    _init(fresh_url)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        ports = ["--port", str(free_port()), "--gateway-port", str(free_port())]
        refused = cli(fresh_url, "serve", *part, *ports, KEYWARD_METRICS_PORT=str(port))
    assert refused.code == 1
    assert refused.stderr.startswith("error [address_in_use]: "), refused.stderr
    assert f"127.0.0.1:{port}" in refused.stderr
    assert "Address already in use. Stop what uses it, or choose another port with " in (
        refused.stderr
    )
    assert refused.stderr.endswith("KEYWARD_METRICS_PORT.\n")
    assert len(refused.stderr.splitlines()) == 1, refused.stderr
