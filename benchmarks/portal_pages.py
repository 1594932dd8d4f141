"""How long the portal's key lists take to render with 10,000 keys behind them.

`python -m benchmarks.portal_pages` sets up a migrated SQLite database through the services: an
API with two offerings, an acquirer organization that acquired both, and one of its members
(with a password) who created **10,000 named keys** in the first acquisition, 10 in the second,
and 10,000 account keys of their own; a second member of the organization holds 10 account keys.
It starts `keyward serve api` on a free port, signs both members in over HTTP (GET /login for the
form token, POST /login), and then times, one request after another on keep-alive connections:

- `GET /acquisitions/{id}` of the acquisition with 10,000 keys: the first page, and the page
  after the 5,000th newest key, by its cursor;
- the same first page of the acquisition with 10 keys: the reference, so the ratio shows whether
  the cost grows with the number of keys;
- `GET /account/keys` of the member with 10,000 account keys, and of the member with 10;
- `GET /keys` of the member with 10,000 keys in each acquisition and account keys (20,010 keys
  listed): the first page, the page after the 5,000th newest acquisition key, the active keys
  only; and, as their reference, the same page filtered to the acquisition of 10 keys.

Every round asks each page once, in an order that rotates and reverses from round to round;
`--warmup` rounds first, then `--rounds` measured. Median and p95 in milliseconds. Goal, from
the issues: a page listing 10,000 keys renders in at most 300 ms here, checked on p95 of the
acquisition's two pages and of the three `/keys` pages. Exit status 1 when it is missed.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
from pydantic import SecretStr

from benchmarks.databases import migrated
from benchmarks.gateway_setup import (
    KEYWARD,
    SERVER_SECRET,
    SPEC,
    UPSTREAM_ALLOW,
    free_port,
    progress,
    sqlite_url,
)
from keyward.core.actors import Actor, Via
from keyward.db.engine import Database
from keyward.domains.acquisitions.schemas import AcquisitionCreate, AcquisitionKeyCreate
from keyward.domains.acquisitions.service import acquire, create_key
from keyward.domains.apis.schemas import ApiImport
from keyward.domains.apis.service import import_api
from keyward.domains.keys.schemas import AccountKeyCreate
from keyward.domains.keys.service import issue_account_key
from keyward.domains.members.schemas import MemberCreate
from keyward.domains.members.service import create_member
from keyward.domains.offerings.schemas import OfferingCreate
from keyward.domains.offerings.service import create_offering
from keyward.domains.organizations.schemas import OrganizationCreate, OrganizationKind
from keyward.domains.organizations.service import create_organization
from keyward.domains.pagination import encode_cursor
from keyward.domains.workspaces.service import actor_for_member
from keyward.settings import Settings

NAME = "portal_pages"
MANY = 10_000
FEW = 10
GOAL_MS = 300.0
ROUNDS = 50
WARMUP = 5
KEYS_PER_TRANSACTION = 2_500
PASSWORD = "a long passphrase for the portal benchmark"  # noqa: S105
START_TIMEOUT = 60.0
NEXT_PAGE = re.compile(r'href="[^"]*cursor=([A-Za-z0-9_-]+)[^"]*" rel="next"')


@dataclass(frozen=True, slots=True)
class Portfolio:
    """What the benchmark set up: the two acquisitions, and keys to find on their pages."""

    many_id: str
    few_id: str
    # Ids of the acquisition's 10,000 keys, oldest first; names are "key 1" … "key 10000".
    many_key_ids: tuple[str, ...]


def _acquisition_keys(
    database: Database, actor: Actor, acquisition_id: str, count: int, settings: Settings
) -> list[str]:
    made: list[str] = []
    while len(made) < count:
        with database.transaction() as uow:
            for _ in range(min(KEYS_PER_TRANSACTION, count - len(made))):
                body = AcquisitionKeyCreate(name=f"key {len(made) + 1}")
                made.append(create_key(uow, actor, acquisition_id, body, settings).id)
    return made


def _account_keys(database: Database, actor: Actor, count: int) -> None:
    made = 0
    while made < count:
        with database.transaction() as uow:
            for _ in range(min(KEYS_PER_TRANSACTION, count - made)):
                made += 1
                body = AccountKeyCreate(name=f"account key {made}", permissions=["apis:read"])
                issue_account_key(uow, actor, body)


def populate(url: str, many: int) -> Portfolio:
    """The database at `url`, migrated, holding what the module's docstring describes."""
    with migrated(url) as bench:
        database, admin = bench.database, bench.admin
        # One acquisition holds every benchmark key: the cap is raised to the population.
        settings = Settings(
            database_url=url, upstream_allow=UPSTREAM_ALLOW, max_keys_per_acquisition=max(many, 1)
        )
        body = ApiImport.model_validate(
            {
                "name": "bench",
                "upstream_url": "http://127.0.0.1:9",
                "mount_path": "bench",
                "spec": SPEC,
            }
        )
        with database.transaction() as uow:
            api = import_api(uow, admin, body, settings)
            acquirer = create_organization(
                uow, admin, OrganizationCreate(name="acquirer", kind=OrganizationKind.ACQUIRER)
            )
            acquired = []
            for name in ("bench", "bench, few keys"):
                offering = create_offering(uow, admin, OfferingCreate(api_id=api.id, name=name))
                acquired.append(
                    acquire(
                        uow,
                        admin,
                        AcquisitionCreate(offering_id=offering.id, organization_id=acquirer.id),
                    )
                )
            members = [
                create_member(
                    uow,
                    admin,
                    MemberCreate(
                        email=email,
                        name=email.split("@")[0].title(),
                        password=SecretStr(PASSWORD),
                        roles=["acquirer"],
                        organization_ids=[acquirer.id],
                    ),
                )
                for email in ("holder@example.com", "few@example.com")
            ]
        with database.transaction(write=False) as uow:
            holder, few = (
                actor_for_member(uow, bench.workspace_id, member.id, Via.SYSTEM)
                for member in members
            )
        many_ids = _acquisition_keys(database, holder, acquired[0].id, many, settings)
        progress(NAME, f"{many:,} keys in one acquisition")
        _acquisition_keys(database, holder, acquired[1].id, FEW, settings)
        _account_keys(database, holder, many)
        _account_keys(database, few, FEW)
        progress(NAME, f"{many:,} and {FEW} account keys")
        return Portfolio(acquired[0].id, acquired[1].id, tuple(many_ids))


@contextmanager
def serving(database_url: str, log: Path) -> Iterator[str]:
    """`keyward serve api` on a free port, answering /healthz, until the block ends."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KEYWARD_")}
    environment.update(
        KEYWARD_DATABASE_URL=database_url,
        KEYWARD_SECRET_KEY=SERVER_SECRET,
        KEYWARD_LOG_LEVEL="warning",
    )
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [KEYWARD, "serve", "api", "--port", str(port), "--gateway-port", str(free_port())],
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"keyward serve exited:\n{log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"keyward serve did not answer within {START_TIMEOUT:g} s")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(30)


def signed_in(base: str, email: str) -> httpx.Client:
    """A client holding a portal session of `email`: the sign-in form's token, then POST."""
    client = httpx.Client(base_url=base, timeout=30)
    form = client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if form.status_code != 200 or found is None:
        raise RuntimeError(f"GET /login answered {form.status_code} without a form token")
    answer = client.post(
        "/login",
        data={"csrf_token": found.group(1), "email": email, "password": PASSWORD, "next": "/"},
    )
    if answer.status_code != 303 or "keyward_session" not in client.cookies:
        raise RuntimeError(f"POST /login for {email} answered {answer.status_code}")
    return client


@dataclass(frozen=True, slots=True)
class Page:
    label: str
    client: httpx.Client
    path: str
    expect: str  # text the page must hold: a key it lists


def fetch(page: Page) -> float:
    """Seconds from sending the GET to its whole body read; refuses a wrong answer."""
    started = time.perf_counter()
    answer = page.client.get(page.path)
    took = time.perf_counter() - started
    if answer.status_code != 200 or page.expect not in answer.text:
        raise RuntimeError(f"{page.path} answered {answer.status_code} without {page.expect!r}")
    return took


def timed(
    pages: Sequence[Page], rounds: int, warmup: int, name: str = NAME
) -> dict[str, list[float]]:
    """Milliseconds of each page, per measured round; every round asks each page once, in an
    order that rotates and reverses from round to round (progress reported as `name`)."""
    found: dict[str, list[float]] = {page.label: [] for page in pages}
    for number in range(warmup + rounds):
        shift = number % len(pages)
        order = list(pages[shift:]) + list(pages[:shift])
        if number % 2:
            order.reverse()
        for page in order:
            took = fetch(page) * 1e3
            if number >= warmup:
                found[page.label].append(took)
        if (number + 1) % 10 == 0:
            progress(name, f"round {number + 1} of {warmup + rounds}")
    return found


def p95(values: Sequence[float]) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def report(found: dict[str, list[float]], reference: dict[str, str]) -> str:
    rows = [("page", "median ms", "p95 ms", "max ms", "x reference median")]
    for label, values in found.items():
        base = reference.get(label)
        ratio = f"{statistics.median(values) / statistics.median(found[base]):.2f}" if base else ""
        rows.append(
            (
                label,
                f"{statistics.median(values):.1f}",
                f"{p95(values):.1f}",
                f"{max(values):.1f}",
                ratio,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more")
        return value

    return parse


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m benchmarks.{NAME}",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--rounds", type=_count(2), default=ROUNDS, help=f"measured rounds (default {ROUNDS})"
    )
    parser.add_argument(
        "--warmup", type=_count(0), default=WARMUP, help=f"warm-up rounds (default {WARMUP})"
    )
    parser.add_argument(
        "--keys",
        type=_count(2 * FEW),
        default=MANY,
        help=f"keys in the large acquisition, and account keys of its holder (default {MANY:,})",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    many: int = arguments.keys
    with tempfile.TemporaryDirectory() as directory:
        url = sqlite_url(Path(directory))
        started = time.monotonic()
        portfolio = populate(url, many)
        progress(NAME, f"set up in {time.monotonic() - started:.0f} s")
        with serving(url, Path(directory) / "serve.log") as base:
            holder = signed_in(base, "holder@example.com")
            few = signed_in(base, "few@example.com")
            try:
                middle = many // 2
                # The page after the key `middle` positions from the newest, newest first.
                after = portfolio.many_key_ids[many - middle]
                later = f"key {many - middle}"
                many_first = f"{many:,} keys: first page"
                many_later = f"{many:,} keys: page after the {middle:,}th"
                few_first = f"{FEW} keys: first page (reference)"
                accounts_many = f"account keys, {many:,}"
                accounts_few = f"account keys, {FEW} (reference)"
                visible = 2 * many + FEW
                api_keys_first = f"API keys, {visible:,} visible: first page"
                api_keys_later = f"API keys, {visible:,} visible: page after the {middle:,}th"
                api_keys_active = f"API keys, {visible:,} visible: active only"
                api_keys_few = f"API keys of the acquisition of {FEW} (reference)"
                pages = [
                    Page(many_first, holder, f"/acquisitions/{portfolio.many_id}", f"key {many}"),
                    Page(
                        many_later,
                        holder,
                        f"/acquisitions/{portfolio.many_id}?cursor={encode_cursor(after)}",
                        later,
                    ),
                    Page(few_first, holder, f"/acquisitions/{portfolio.few_id}", f"key {FEW}"),
                    Page(accounts_many, holder, "/account/keys", f"account key {many}"),
                    Page(accounts_few, few, "/account/keys", f"account key {FEW}"),
                    Page(api_keys_first, holder, "/keys", f"account key {many}"),
                    Page(api_keys_later, holder, f"/keys?cursor={encode_cursor(after)}", later),
                    Page(api_keys_active, holder, "/keys?state=active", f"account key {many}"),
                    Page(api_keys_few, holder, f"/keys?acquisition={portfolio.few_id}", "key 1<"),
                ]
                first = holder.get(pages[0].path)
                if not NEXT_PAGE.search(first.text):
                    raise RuntimeError("the first page of 10,000 keys links no next page")
                found = timed(pages, arguments.rounds, arguments.warmup)
            finally:
                holder.close()
                few.close()
    reference = {
        many_first: few_first,
        many_later: few_first,
        accounts_many: accounts_few,
        api_keys_first: api_keys_few,
        api_keys_later: api_keys_few,
        api_keys_active: api_keys_few,
    }
    print(f"{arguments.rounds} rounds after {arguments.warmup} warm-up rounds, sequential")
    print(report(found, reference))
    worst = max(
        p95(found[label])
        for label in (many_first, many_later, api_keys_first, api_keys_later, api_keys_active)
    )
    met = worst <= GOAL_MS
    print(
        f"\nslowest p95 of a page listing {many:,} keys or more: {worst:.1f} ms "
        f"(goal <= {GOAL_MS:g} ms: {'met' if met else 'MISSED'})"
    )
    if not met:
        print(f"{NAME}: a page of {many:,} keys took {worst:.1f} ms at p95", file=sys.stderr)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
