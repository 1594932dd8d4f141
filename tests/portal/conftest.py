"""The portal in a real headless Chromium (Debian's, driven by Playwright) against a real
`keyward serve api` on its own port and SQLite database: one per test (`site`), or one per module
(`shared_site`) for tests that each make their own people (`Site.email`).

Every browser test ends by saving a screenshot of its page under `tests/portal/screenshots/`
and by checking that the browser reported no Content-Security-Policy violation.
"""

import atexit
import functools
import itertools
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Dialog, Locator, Page, sync_playwright

from tests.backends import IN_CI
from tests.e2e.processes import Server, cli, serve
from tests.jobs.receivers import Mailbox, smtp_server

CHROMIUM = Path(os.environ.get("KEYWARD_TEST_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
# Where the README's pictures are written, when asked for:
# `KEYWARD_README_SCREENSHOTS=docs/screenshots pytest tests/portal/test_acquisitions.py`.
README_SCREENSHOTS = os.environ.get("KEYWARD_README_SCREENSHOTS")
PASSWORD = "correct horse battery staple"


# Per module, not per session: Playwright's sync API runs an event loop in the test process
# while it is started, and tests of other modules (run by the same worker) call asyncio.run.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@dataclass
class Site:
    """A running portal: its server, its admin key, and the people made in it."""

    server: Server
    database_url: str
    admin_key: str
    admin_id: str
    members: dict[str, str] = field(default_factory=dict)
    # What `email` puts in every address, so that tests sharing one server never meet.
    tag: str = ""

    @property
    def url(self) -> str:
        return self.server.url

    def email(self, name: str) -> str:
        """The address of `name` (alex: alex@example.com), of this test's own on a shared site."""
        return f"{name}.{self.tag}@example.com" if self.tag else f"{name}@example.com"

    def named(self, name: str) -> str:
        """`name` for something that must be unique in the workspace: on a shared site, with
        this test's tag after it."""
        return f"{name} {self.tag}" if self.tag else name

    def api(self, key: str | None = None) -> httpx.Client:
        client = self.server.client(key)
        # A server just started on a busy machine may take a while over its first answers.
        client.timeout = httpx.Timeout(60)
        return client

    def add_member(
        self,
        email: str,
        name: str,
        roles: tuple[str, ...] = ("acquirer",),
        permissions: tuple[str, ...] = (),
        password: str = PASSWORD,
    ) -> str:
        with self.api(self.admin_key) as client:
            answer = client.post(
                "/v1/members",
                json={
                    "email": email,
                    "name": name,
                    "password": password,
                    "roles": list(roles),
                    "permissions": list(permissions),
                },
            )
        assert answer.status_code == 201, answer.text
        member_id: str = answer.json()["id"]
        self.members[email] = member_id
        return member_id

    def key_of(self, email: str, name: str, *permissions: str) -> dict[str, str]:
        """An account key the member makes for themselves (with the CLI, as them)."""
        flags = [flag for p in permissions or ("keys:read",) for flag in ("-p", p)]
        made = cli(
            self.database_url, "--as", email, "keys", "create", "--name", name, *flags, "--json"
        )
        assert made.code == 0, made.stderr
        created: dict[str, str] = made.json()
        return created

    def me(self, key: str) -> int:
        with self.api(key) as client:
            return client.get("/v1/me").status_code


@functools.cache
def _initialised() -> tuple[Path, dict[str, Any]]:
    """A database `keyward init` made, once per test process (it costs a process start and
    every migration); each site starts from a copy of it, so every site has the same admin."""
    folder = Path(tempfile.mkdtemp(prefix="keyward-initialised-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    database = folder / "keyward.db"
    made = cli(f"sqlite:///{database}", "init", "--json")
    assert made.code == 0, made.stderr
    first: dict[str, Any] = made.json()
    return database, first


@contextmanager
def running_site(tmp_path: Path, part: str = "api", **env: str) -> Iterator[Site]:
    """A new SQLite database as `keyward init` leaves it, then `keyward serve api` (or `part`)
    over it."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    initialised, first = _initialised()
    database = tmp_path / "keyward.db"
    with (
        closing(sqlite3.connect(initialised)) as source,
        closing(sqlite3.connect(database)) as copy,
    ):
        source.backup(copy)
    database_url = f"sqlite:///{database}"
    with serve(database_url, tmp_path, None, None, part=part, **env) as server:
        yield Site(server, database_url, first["admin_key"], first["admin_member_id"])


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with running_site(tmp_path / "site") as running:
        yield running


_tags = itertools.count(1)


@pytest.fixture(scope="module")
def module_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("site")) as running:
        yield running


@pytest.fixture
def shared_site(module_site: Site) -> Site:
    """The module's `keyward serve api` (one in each xdist worker that runs its tests), for a
    test that makes its own people with `Site.email` and looks only at what they own: other
    tests' people are there too."""
    return replace(module_site, members={}, tag=f"t{next(_tags)}")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server in the test process, keeping what it receives."""
    with smtp_server() as box:
        yield box


def _mailing(tmp_path: Path, mailbox: Mailbox) -> AbstractContextManager[Site]:
    return running_site(
        tmp_path,
        part="all",
        KEYWARD_SMTP_HOST=mailbox.host,
        KEYWARD_SMTP_PORT=str(mailbox.port),
        KEYWARD_SMTP_SECURITY="none",
        KEYWARD_WORKER_INTERVAL="0.2",
    )


@pytest.fixture
def mailing_site(tmp_path: Path, mailbox: Mailbox) -> Iterator[Site]:
    """`keyward serve` (API, portal, gateway, worker) whose worker mails `mailbox`."""
    with _mailing(tmp_path / "site", mailbox) as site:
        yield site


@pytest.fixture(scope="module")
def module_mailbox() -> Iterator[Mailbox]:
    """One SMTP server for a whole module: its tests find their mail by recipient."""
    with smtp_server() as box:
        yield box


@pytest.fixture(scope="module")
def module_mailing_site(
    tmp_path_factory: pytest.TempPathFactory, module_mailbox: Mailbox
) -> Iterator[Site]:
    """One `mailing_site` for a whole module, mailing `module_mailbox`, for tests that each use
    people, organizations and APIs no other test of the module names."""
    with _mailing(tmp_path_factory.mktemp("site"), module_mailbox) as site:
        yield site


@dataclass
class Visit:
    """A browser tab, the dialogs scripts opened in it and what its console said."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


def _screenshot_name(node: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name)


@pytest.fixture
def visit(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Visit]:
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    seen = Visit(page)

    def on_dialog(dialog: Dialog) -> None:
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda message: seen.console.append(message.text))
    try:
        yield seen
    finally:
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(
            path=str(SCREENSHOTS / f"{_screenshot_name(request.node)}.png"), full_page=True
        )
        context.close()
    violations = [line for line in seen.console if "Content Security Policy" in line]
    assert violations == []


def sign_in(page: Page, url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button:has-text('Sign in')")


def readme_screenshot(target: Page | Locator, name: str) -> None:
    """A picture for the README, written only when KEYWARD_README_SCREENSHOTS names a folder."""
    if README_SCREENSHOTS:
        path = Path(README_SCREENSHOTS) / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(target, Page):
            target.screenshot(path=str(path), full_page=True)
        else:
            target.screenshot(path=str(path))
