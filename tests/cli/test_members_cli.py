"""`keyward members password`: giving a member the password they sign in to the portal with."""

from tests.e2e.processes import cli


def test_a_password_is_set_from_standard_input_and_never_echoed(fresh_url: str) -> None:
    first = cli(fresh_url, "init")
    assert first.code == 0, first.stderr
    assert "members password mem_" in first.stdout
    done = cli(
        fresh_url,
        "members",
        "password",
        "admin@example.com",
        "--stdin",
        "--json",
        stdin="a long enough passphrase\n",
    )
    assert done.code == 0, done.stderr
    assert done.json()["has_password"] is True
    assert "passphrase" not in done.stdout + done.stderr

    short = cli(
        fresh_url, "members", "password", "admin@example.com", "--stdin", "--json", stdin="tiny1\n"
    )
    assert short.code == 1
    assert short.error()["error"]["code"] == "validation_failed"
    assert "tiny1" not in short.stdout + short.stderr

    easy = cli(
        fresh_url,
        "members",
        "password",
        "admin@example.com",
        "--stdin",
        "--json",
        stdin="passwordpassword\n",
    )
    assert easy.code == 1
    assert "too easy to guess" in easy.error()["error"]["message"] + str(easy.error())

    unknown = cli(
        fresh_url,
        "members",
        "password",
        "nobody@example.com",
        "--stdin",
        "--json",
        stdin="a long enough passphrase\n",
    )
    assert unknown.code == 1
    assert unknown.error()["error"]["code"] == "member_not_found"
