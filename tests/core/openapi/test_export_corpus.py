"""Every document of the real-world corpus imports, and exports valid in OpenAPI 3.0 and 2.0.

The import is `read_spec` (what `POST /v1/apis` stores); the export is `export_as` with the
default key policy (the spec's own `apiKey` schemes, else the keyward header), as an acquirer
downloads it. Each export is validated by openapi-spec-validator.
"""

from functools import cache
from pathlib import Path

import pytest

from keyward.core.openapi import Document
from keyward.core.openapi.documents import iter_operations
from keyward.core.openapi.export import UNAUTHORIZED, export_as
from keyward.core.openapi.intake import Spec, read_spec
from keyward.core.openapi.security import KeyRole, default_locations
from tests.core.openapi.conversion_support import validation_errors
from tests.fixtures import OPENAPI_FIXTURES, corpus_files, openapi_fixtures

GATEWAY = "https://gateway.example.com/corpus"
CORPUS = corpus_files()


def _id(path: Path) -> str:
    return str(path.relative_to(OPENAPI_FIXTURES))


@cache
def _spec(path: Path) -> Spec:
    return read_spec(path.read_bytes(), max_bytes=64 << 20)


def _imported(path: Path) -> Document:
    return _spec(path).normalized


def _export(path: Path, version: str) -> Document:
    document = _imported(path)
    return export_as(
        document, default_locations(document), version=version, server_url=GATEWAY, realm="Corpus"
    ).document


@pytest.fixture(autouse=True)
def _corpus_present() -> None:
    openapi_fixtures()


@pytest.mark.parametrize("path", CORPUS, ids=_id)
def test_openapi3_export_is_valid_and_documents_the_gateway(path: Path) -> None:
    exported = _export(path, "3.0")
    assert str(exported["openapi"]).startswith("3.0")
    assert exported["servers"] == [{"url": GATEWAY, "description": "keyward gateway for Corpus"}]
    assert validation_errors(exported) == []
    keyed = {
        location.scheme
        for location in default_locations(_imported(path))
        if location.role is KeyRole.KEY
    }
    for _, _, operation in iter_operations(exported):
        if any(keyed.intersection(requirement) for requirement in operation["security"]):
            assert operation["responses"]["401"]["$ref"].startswith(
                f"#/components/responses/{UNAUTHORIZED}"
            )


@pytest.mark.parametrize("path", CORPUS, ids=_id)
def test_swagger2_export_is_valid(path: Path) -> None:
    # No corpus document keys by cookie, which 2.0 cannot say (test_openapi3.py covers that).
    exported = _export(path, "2.0")
    assert exported["swagger"] == "2.0"
    assert exported["host"] == "gateway.example.com"
    assert exported["basePath"] == "/corpus"
    assert validation_errors(exported) == []


def test_the_corpus_imports_every_openapi_version() -> None:
    sources = {_spec(path).source_version[:3] for path in CORPUS}
    normalized = {str(_imported(path)["openapi"])[:3] for path in CORPUS}
    assert sources == {"2.0", "3.0", "3.1"}
    assert normalized == {"3.0", "3.1"}
