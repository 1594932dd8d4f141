"""A newcomer's first commands, as real processes: no database made by accident, one clear line
for every mistake (naming what and where), the demo's key in `init --demo --json`, broken specs
explained by JSON pointer, and e-mails kept as files when there is no SMTP server."""

import email
import json
import socket
import stat
import subprocess
from email import policy
from pathlib import Path

from tests.e2e.processes import KEYWARD, cli, environment, free_port

BROKEN_SPEC = """\
openapi: 3.0.3
info: {title: Broken}
paths:
  /a:
    get:
      security: [{nokey: []}]
      responses: {}
"""


def _one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_a_command_before_init_makes_no_database_and_names_where_it_looked(
    tmp_path: Path,
) -> None:
    database = tmp_path / "nowhere" / "keyward.db"
    refused = cli(f"sqlite:///{database}", "keys", "list")
    assert refused.code == 1
    line = _one_line(refused.stderr)
    assert line.startswith("error [not_initialised]: ")
    assert str(database) in line
    assert "keyward init" in line
    assert not database.parent.exists(), "only `keyward init` creates a database"
    made = cli(f"sqlite:///{database}", "init", "--json")
    assert made.code == 0, made.stderr
    assert database.is_file()


def test_a_database_keyward_does_not_support_is_one_line_without_its_password() -> None:
    refused = cli("mysql://alex:hunter2-secret@db.example/keyward", "keys", "list")
    assert refused.code == 1
    line = _one_line(refused.stderr)
    assert line.startswith("error [unsupported_database]: ")
    assert "'mysql'" in line
    assert "hunter2" not in line
    as_json = cli("mysql://alex:hunter2-secret@db.example/keyward", "init", "--json")
    assert as_json.error()["error"]["code"] == "unsupported_database"


def test_an_unreachable_postgresql_server_is_named_without_its_password() -> None:
    with socket.socket() as closed:  # a port on which nothing listens
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"postgresql://alex:hunter2-secret@127.0.0.1:{port}/keyward"
    for command in (("keys", "list"), ("init",)):
        refused = cli(url, *command)
        assert refused.code == 1
        line = _one_line(refused.stderr)
        assert line.startswith("error [database_unavailable]: Cannot reach the database at ")
        assert f"127.0.0.1:{port}/keyward" in line
        assert "hunter2" not in line


def test_a_missing_file_is_one_line_naming_it(fresh_url: str, tmp_path: Path) -> None:
    assert cli(fresh_url, "init", "--demo", "--json").code == 0
    for command in (
        ("apis", "import", str(tmp_path / "missing.yaml")),
        ("apis", "policy", "api_01aaaaaaaaaaaaaaaaaaaaaaaa", "--set", str(tmp_path / "p.json")),
        ("restore", str(tmp_path / "missing.tar")),
    ):
        refused = cli(fresh_url, *command)
        assert refused.code == 1
        line = _one_line(refused.stderr)
        assert line.startswith("error [file_not_found]: ")
        assert str(tmp_path) in line
    directory = cli(fresh_url, "apis", "import", str(tmp_path), "--json")
    assert directory.error()["error"]["code"] == "file_unreadable"
    # An export written where it cannot be: one error naming the place, nothing else written.
    (acquisition,) = cli(fresh_url, "acquisitions", "list", "--json").json()["data"]
    for place, reason in (
        (tmp_path / "no folder" / "pets.json", f"there is no folder {tmp_path / 'no folder'}"),
        (tmp_path, "it is a directory"),
    ):
        refused = cli(fresh_url, "export", acquisition["id"], "-o", str(place))
        assert refused.code == 1
        error = json.loads(_one_line(refused.stderr))["error"]
        assert error["code"] == "file_not_written"
        assert error["message"] == f"The export {place} cannot be written: {reason}."
        assert refused.stdout == ""


def test_a_broken_spec_is_explained_problem_by_problem_before_any_option(
    fresh_url: str, tmp_path: Path
) -> None:
    assert cli(fresh_url, "init", "--json").code == 0
    spec = tmp_path / "broken.yaml"
    spec.write_text(BROKEN_SPEC)
    # No --upstream, and the spec names no server: the spec's problems are still what is shown.
    refused = cli(fresh_url, "apis", "import", str(spec))
    assert refused.code == 1
    first, *problems = refused.stderr.splitlines()
    assert first.startswith("error [invalid_spec]: The spec has 3 problem(s)")
    assert sorted(line.split(":")[0] for line in problems) == [
        "  - /info",
        "  - /paths/~1a/get/responses",
        "  - /paths/~1a/get/security/0/nokey",
    ]
    assert "upstream" not in refused.stderr
    assert "'nokey'" in refused.stderr
    assert "Traceback" not in refused.stderr
    listed = cli(fresh_url, "apis", "list", "--json").json()
    assert listed["data"] == [], "nothing was stored"


def test_init_demo_json_includes_the_demo_key_and_it_verifies(fresh_url: str) -> None:
    made = cli(fresh_url, "init", "--demo", "--json")
    assert made.code == 0, made.stderr
    demo = made.json()["demo"]
    assert demo["members"] == [
        "provider@example.com",
        "acquirer@example.com",
        "auditor@example.com",
    ]
    assert demo["password"]
    verified = cli(fresh_url, "keys", "verify", demo["acquisition_key"], "--json")
    assert verified.code == 0, verified.stdout
    assert verified.json()["valid"] is True
    again = cli(fresh_url, "init", "--demo", "--json").json()
    assert again["admin_key"] is None, "keys are shown once"


def test_serve_on_a_port_in_use_says_which_in_one_line(fresh_url: str) -> None:
    assert cli(fresh_url, "init", "--json").code == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        other = str(free_port())
        for part, options, what, option in (
            ("all", ["--port", str(port), "--gateway-port", other], "the management API", "--port"),
            ("gateway", ["--gateway-port", str(port)], "the gateway", "--gateway-port"),
        ):
            done = subprocess.run(
                [KEYWARD, "serve", part, *options],
                env=environment(fresh_url),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 1
            line = _one_line(done.stderr)
            assert line.startswith(
                f"error [address_in_use]: keyward cannot listen on 127.0.0.1:{port} for {what}"
            )
            assert f"another port with {option} " in line


def test_without_smtp_each_email_is_kept_as_a_readable_file(fresh_url: str, tmp_path: Path) -> None:
    assert cli(fresh_url, "init", "--json").code == 0
    made = cli(fresh_url, "keys", "create", "--name", "ci", "-p", "keys:read", "--json")
    assert made.code == 0, made.stderr
    key = made.json()
    mail = tmp_path / "mail"
    ran = cli(fresh_url, "worker", "--once", KEYWARD_MAIL_DIR=str(mail))
    assert ran.code == 0, ran.stderr
    assert "given up" not in ran.stderr
    files = sorted(mail.glob("*.eml"))
    assert files, ran.stderr
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}, "links may sign in"
    texts = [f.read_text() for f in files]  # read as text, not quoted-printable
    (text,) = [t for t in texts if key["id"] in t]
    message = email.message_from_string(text, policy=policy.default)
    assert message["X-Keyward-Event"] == "key.created"
    assert "admin@example.com" in message["To"]
    assert key["start"].count("…") == 1
    assert f"starts {key['start']})" in text, "the key's start, with its one ellipsis"
    assert "……" not in text


def test_an_unusable_secret_key_file_is_one_line_naming_it(fresh_url: str, tmp_path: Path) -> None:
    assert cli(fresh_url, "init", "--json").code == 0
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    for path, reason in ((empty, "holds no secret"), (tmp_path, "it is a directory")):
        refused = cli(fresh_url, "secrets", "status", KEYWARD_SECRET_KEY_FILE=str(path))
        assert refused.code == 1
        line = _one_line(refused.stderr)
        assert line.startswith(f"error [secret_key_file_unusable]: The server secret file {path} ")
        assert reason in line
    assert empty.read_text() == "\n", "an empty key file is not silently replaced"
