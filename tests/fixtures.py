"""The shared corpus of real OpenAPI documents (`../shared/fixtures/openapi/`), read in place.

Never copied into the repository. CI always has it; elsewhere tests that need it skip with a
message when it is absent. `KEYWARD_OPENAPI_FIXTURES` points somewhere else.
"""

import os
from pathlib import Path

import pytest

from tests.backends import IN_CI

ROOT = Path(__file__).resolve().parents[1]
OPENAPI_FIXTURES = Path(
    os.environ.get("KEYWARD_OPENAPI_FIXTURES", ROOT.parent / "shared" / "fixtures" / "openapi")
)


def openapi_fixtures() -> Path:
    """The corpus directory; skips the test (fails it under CI=true) when it is missing."""
    if not OPENAPI_FIXTURES.is_dir():
        message = f"the OpenAPI corpus is not at {OPENAPI_FIXTURES}"
        if IN_CI:
            pytest.fail(f"{message}; CI must have it.")
        pytest.skip(f"{message}; set KEYWARD_OPENAPI_FIXTURES to run these tests.")
    return OPENAPI_FIXTURES


def corpus_files() -> list[Path]:
    """Every single-file spec of the corpus (multi-file petstore-separate and options.yaml aside).

    Collected at import time for parametrisation, so it returns [] when the corpus is absent;
    tests then call `openapi_fixtures()` to skip or fail with the reason.
    """
    if not OPENAPI_FIXTURES.is_dir():
        return []
    return sorted(
        p
        for p in OPENAPI_FIXTURES.rglob("*")
        if p.suffix in (".json", ".yaml", ".yml")
        and "petstore-separate" not in p.parts
        and p.name != "options.yaml"
    )
