"""`keyward keys rotate --grace`: a grace beyond the key policy's maximum is refused, naming the
maximum, and nothing changes; the maximum itself is accepted."""

from tests.e2e.processes import cli


def test_a_grace_beyond_the_maximum_is_refused_naming_it(fresh_url: str) -> None:
    assert cli(fresh_url, "init", "--json").code == 0
    made = cli(
        fresh_url, "keys", "create", "--name", "deploy", "--permission", "keys:read", "--json"
    )
    assert made.code == 0, made.stderr
    key_id = made.json()["id"]
    too_long = cli(fresh_url, "keys", "rotate", key_id, "--grace", "P8D", "--json")
    assert too_long.code == 1
    assert '"grace_too_long"' in too_long.stderr
    assert "P7D" in too_long.stderr
    shown = cli(fresh_url, "keys", "show", key_id, "--json")
    assert shown.json()["rotated_at"] is None
    rotated = cli(fresh_url, "keys", "rotate", key_id, "--grace", "P7D", "--json")
    assert rotated.code == 0, rotated.stderr
    assert rotated.json()["previous_key_expires_at"] is not None
