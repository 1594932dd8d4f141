"""Where the server secrets are kept by default: outside the data directory, made on first use,
readable by their owner only; a key file an older keyward made in ./var keeps working."""

import os
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from keyward.settings import Settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and configuration directory, and no secret in the
    environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("KEYWARD_SECRET_KEY", "KEYWARD_SECRET_KEY_FILE", "KEYWARD_RETIRED_SECRET_KEYS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_the_key_file_is_made_in_the_configuration_directory_not_beside_the_data(
    home: Path,
) -> None:
    settings = Settings()
    [secret] = settings.server_secrets()
    made = home / "config" / "keyward" / "secret.key"
    assert made.read_text().split() == [secret.decode()]
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    assert not (home / "var").exists()
    assert Settings().server_secrets() == [secret]


def test_a_key_file_left_in_var_by_an_older_keyward_is_still_used(home: Path) -> None:
    (home / "var").mkdir()
    (home / "var" / "secret.key").write_text("the secret an older keyward made\n")
    assert Settings().secret_file() == Path("./var/secret.key")
    assert Settings().server_secrets() == [b"the secret an older keyward made"]
    assert not (home / "config").exists()


def test_retired_secrets_open_after_the_current_one(home: Path) -> None:
    settings = Settings.model_validate(
        {"secret_key": "the current secret, long", "retired_secret_keys": "old one , older one"}
    )
    assert settings.server_secrets() == [
        b"the current secret, long",
        b"old one",
        b"older one",
    ]


def test_processes_starting_together_agree_on_one_secret(home: Path) -> None:
    with ProcessPoolExecutor(max_workers=4) as pool:
        found = set(pool.map(_first_secret, [str(home)] * 8))
    [made] = (home / "config" / "keyward" / "secret.key").read_text().split()
    assert found == {made}
    assert [path.name for path in (home / "config" / "keyward").iterdir()] == ["secret.key"]


def _first_secret(home: str) -> str:
    os.environ["XDG_CONFIG_HOME"] = str(Path(home) / "config")
    [secret] = Settings().server_secrets()
    return secret.decode()
