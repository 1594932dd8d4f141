"""Loading uploaded OpenAPI documents: JSON and YAML read as JSON values, hostile input refused."""

import json
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from keyward.core.openapi.loading import (
    MAX_ALIAS_EXPANSION,
    MAX_DEPTH,
    LoadedDocument,
    load,
)
from keyward.core.openapi.problems import Problem, SpecError
from tests.fixtures import OPENAPI_FIXTURES, corpus_files, openapi_fixtures

OPENAPI3_HEAD = 'openapi: "3.0.3"\ninfo: {title: t, version: "1"}\npaths: {}\n'
# A bomb must be refused long before it could do harm; a real expansion would take hours.
BOMB_SECONDS = 5.0
BOMB_PEAK_BYTES = 20 * 1024 * 1024


def openapi3(**fields: Any) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}, **fields}


def as_json(document: Any) -> bytes:
    return json.dumps(document).encode()


def yaml_text(body: str) -> bytes:
    """An OpenAPI 3.0 document in YAML with `body` appended at the top level."""
    return (OPENAPI3_HEAD + body).encode()


def refusal(raw: bytes, **options: Any) -> SpecError:
    with pytest.raises(SpecError) as caught:
        load(raw, **options)
    return caught.value


def only_problem(raw: bytes, **options: Any) -> Problem:
    error = refusal(raw, **options)
    assert len(error.problems) == 1, error.problems
    return error.problems[0]


def walk(value: Any) -> Iterator[Any]:
    pending = [value]
    while pending:
        current = pending.pop()
        yield current
        if isinstance(current, dict):
            pending.extend(current.keys())
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)


JSON_TYPES = (dict, list, str, int, float, bool, type(None))


@pytest.fixture(params=["libyaml", "pure-python"])
def yaml_reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test with each YAML reader `load` can use (libyaml when installed, else Python)."""
    if request.param == "pure-python":
        monkeypatch.setattr(yaml, "__with_libyaml__", False)
    elif not yaml.__with_libyaml__:
        pytest.skip("PyYAML is installed without libyaml")
    return str(request.param)


# The corpus


def corpus_name(path: Path) -> str:
    return str(path.relative_to(OPENAPI_FIXTURES))


@pytest.mark.parametrize("path", corpus_files(), ids=corpus_name)
def test_every_corpus_document_loads_as_json_values(path: Path) -> None:
    openapi_fixtures()
    raw = path.read_bytes()
    loaded = load(raw)
    # s2o-golden/petstore/openapi.yaml is JSON: the content decides, not the file's name.
    assert loaded.media_type == ("json" if raw.lstrip().startswith(b"{") else "yaml")
    expected_version = "2.0" if "swagger" in loaded.document else loaded.document["openapi"][:3]
    assert loaded.version == expected_version
    values = list(walk(loaded.document))
    assert all(isinstance(value, JSON_TYPES) for value in values)
    assert all(isinstance(key, str) for value in values if isinstance(value, dict) for key in value)


def test_the_corpus_is_not_empty() -> None:
    openapi_fixtures()
    assert len(corpus_files()) > 40


def test_unquoted_swagger_2_0_in_the_corpus_is_the_string_2_0() -> None:
    path = openapi_fixtures() / "s2o-golden" / "issue6" / "swagger.yaml"
    assert b"swagger: 2.0" in path.read_bytes()
    loaded = load(path.read_bytes())
    assert loaded.document["swagger"] == "2.0"
    assert loaded.version == "2.0"


# What YAML values become


def test_numeric_version_fields_keep_their_text() -> None:
    assert load(b"swagger: 2.0\ninfo: {title: t, version: 1}\npaths: {}\n").document["swagger"] == (
        "2.0"
    )
    assert load(b"openapi: 3.1\n").version == "3.1"
    assert load(b'{"swagger": 2.0, "paths": {}}').document["swagger"] == "2.0"


def test_yaml_response_codes_and_other_scalar_keys_become_the_text_written(
    yaml_reader: str,
) -> None:
    loaded = load(yaml_text("x-keys: {200: a, 2XX: b, true: c, null: d, 1.50: e, ~: f}\n"))
    assert list(loaded.document["x-keys"]) == ["200", "2XX", "true", "null", "1.50", "~"]


def test_yaml_reads_by_the_1_2_core_schema_so_dates_and_yes_stay_strings(yaml_reader: str) -> None:
    loaded = load(
        yaml_text(
            "x-values: [2001-12-14, 2001-12-14t21:59:43.10-05:00, yes, no, on, off, 1:30, "
            "0012, 012345678912345678, 0b101, true, False, null, ~, '', 12, -3, 0x1F, 0o17, "
            "1.5, 1e3, -.5]\n"
        )
    )
    assert loaded.document["x-values"] == [
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "yes",
        "no",
        "on",
        "off",
        "1:30",
        "0012",
        "012345678912345678",
        "0b101",
        True,
        False,
        None,
        None,
        "",
        12,
        -3,
        31,
        15,
        1.5,
        1000.0,
        -0.5,
    ]


def test_explicit_timestamps_become_their_text(yaml_reader: str) -> None:
    loaded = load(yaml_text("x-when: !!timestamp 2001-12-14 21:59:43.10 -5\n"))
    assert loaded.document["x-when"] == "2001-12-14 21:59:43.10 -5"


def test_anchors_aliases_and_merge_keys_load_as_separate_copies(yaml_reader: str) -> None:
    loaded = load(
        yaml_text(
            "x-common: &error {description: failed, code: 500}\n"
            "x-one: *error\n"
            "x-two:\n  <<: *error\n  code: 404\n"
        )
    )
    document = loaded.document
    assert document["x-one"] == {"description": "failed", "code": 500}
    assert document["x-two"] == {"description": "failed", "code": 404}
    assert document["x-one"] is not document["x-common"]
    document["x-one"]["code"] = 1
    assert document["x-common"]["code"] == 500


def test_documents_are_json_when_they_start_with_a_brace_and_yaml_otherwise() -> None:
    assert load(b'  \n{"openapi": "3.0.3"}').media_type == "json"
    assert load(b"\xef\xbb\xbf" + as_json(openapi3())).media_type == "json"
    assert load(b"openapi: 3.0.3\n").media_type == "yaml"
    assert load(b'# a comment first\n{"openapi": "3.0.3"}').media_type == "yaml"


def test_a_loaded_document_says_its_version_family() -> None:
    assert load(as_json(openapi3())) == LoadedDocument(openapi3(), "json", "3.0")
    assert load(b"openapi: 3.1.0\n").version == "3.1"
    assert load(b'swagger: "2.0"\n').version == "2.0"


# Refusals: size, encoding, syntax


def test_a_document_over_the_size_limit_is_refused_as_too_large() -> None:
    raw = as_json(openapi3(description="x" * 1000))
    error = refusal(raw, max_bytes=len(raw) - 1)
    assert error.too_large
    assert [problem.code for problem in error.problems] == ["document_too_large"]
    assert load(raw, max_bytes=len(raw)).version == "3.0"


def test_refusals_other_than_size_are_not_too_large() -> None:
    assert not refusal(b"{").too_large


def test_a_document_that_is_not_utf8_is_refused() -> None:
    raw = "openapi: 3.0.3\ninfo: {title: caf\xe9}\n".encode("latin-1")
    problem = only_problem(raw)
    assert problem.code == "invalid_utf8"
    assert f"at byte {raw.index(0xE9)}" in problem.message
    assert only_problem('{"openapi": "3.0.3"}'.encode("utf-16")).code == "invalid_utf8"


def test_json_syntax_errors_give_line_and_column() -> None:
    problem = only_problem(b'{\n  "openapi": "3.0.3",\n  "info": }')
    assert problem == Problem(
        "", "The document is not valid JSON: Expecting value at line 3, column 11.", "syntax_error"
    )


def test_yaml_syntax_errors_give_line_and_column(yaml_reader: str) -> None:
    problem = only_problem(b"openapi: 3.0.3\ninfo: [title\npaths: {}\n")
    assert problem.code == "syntax_error"
    assert problem.pointer == ""
    assert "line 3, column 6" in problem.message


def test_several_yaml_documents_in_one_stream_are_refused(yaml_reader: str) -> None:
    assert only_problem(b"openapi: 3.0.3\n---\nopenapi: 3.1.0\n").code == "syntax_error"


def test_control_characters_are_refused(yaml_reader: str) -> None:
    problem = only_problem(b"openapi: 3.0.3\ninfo: \x01\n")
    assert problem.code == "syntax_error"
    assert "U+0001" in problem.message


@pytest.mark.parametrize(
    "raw",
    [
        b'{"openapi": "3.0.3", "x-n": NaN}',
        b'{"openapi": "3.0.3", "x-n": Infinity}',
        b'{"openapi": "3.0.3", "x-n": -Infinity}',
        b'{"openapi": "3.0.3", "x-n": 1e999}',
        b"openapi: 3.0.3\nx-n: .nan\n",
        b"openapi: 3.0.3\nx-n: -.Inf\n",
        b"openapi: 3.0.3\nx-n: 1e999\n",
    ],
    ids=["NaN", "Infinity", "-Infinity", "json-overflow", ".nan", "-.Inf", "yaml-overflow"],
)
def test_nan_and_infinite_numbers_are_refused(raw: bytes) -> None:
    assert only_problem(raw).code == "number_not_finite"


def test_numbers_beyond_pythons_digit_limit_are_refused_cleanly() -> None:
    assert only_problem(b'{"openapi": "3.0.3", "x-n": ' + b"9" * 5000 + b"}").code == (
        "syntax_error"
    )
    assert only_problem(b"openapi: 3.0.3\nx-n: " + b"9" * 5000 + b"\n").code == "syntax_error"


# Refusals: what the document is


@pytest.mark.parametrize(
    "raw", [b"[]", b'"openapi"', b"", b"- openapi: 3.0.3\n", b"just text\n"], ids=repr
)
def test_a_root_that_is_not_a_mapping_is_refused(raw: bytes) -> None:
    assert only_problem(raw).code == "root_not_mapping"


def test_a_document_without_a_version_field_is_refused() -> None:
    assert only_problem(b"info: {title: t}\n").code == "version_missing"
    swagger_1 = only_problem(b'{"swaggerVersion": "1.2", "apis": []}')
    assert swagger_1.code == "version_missing"
    assert "Swagger 1.x" in swagger_1.message


@pytest.mark.parametrize(
    ("raw", "pointer"),
    [
        (b'swagger: "1.2"\n', "/swagger"),
        (b"swagger: 3.0\n", "/swagger"),
        (b"openapi: 4.0.0\n", "/openapi"),
        (b"openapi: 3.2.0\n", "/openapi"),
        (b"openapi: 2.0\n", "/openapi"),
        (b"openapi: 3\n", "/openapi"),
        (b"openapi: [3, 0]\n", "/openapi"),
    ],
    ids=repr,
)
def test_unsupported_versions_are_refused(raw: bytes, pointer: str) -> None:
    problem = only_problem(raw)
    assert (problem.code, problem.pointer) == ("version_unsupported", pointer)


# Refusals: hostile YAML


def billion_laughs(levels: int = 10, width: int = 10) -> bytes:
    lines = ['x-a0: &a0 "lol"']
    for level in range(1, levels):
        aliases = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"x-a{level}: &a{level} [{aliases}]")
    return yaml_text("\n".join(lines) + "\n")


def merge_key_bomb(levels: int = 10, width: int = 10) -> bytes:
    lines = ["x-m0: &m0 {a: 1, b: 2, c: 3}"]
    for level in range(1, levels):
        aliases = ", ".join([f"*m{level - 1}"] * width)
        lines.append(f"x-m{level}: &m{level}\n  <<: [{aliases}]")
    return yaml_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("bomb", [billion_laughs, merge_key_bomb], ids=lambda bomb: bomb.__name__)
def test_alias_bombs_are_refused_at_once_without_expanding(bomb: Any, yaml_reader: str) -> None:
    raw = bomb()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        problem = only_problem(raw)
        took = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problem.code == "yaml_alias_expansion_too_large"
    assert took < BOMB_SECONDS
    assert peak < BOMB_PEAK_BYTES


def test_a_few_aliases_are_within_the_expansion_budget(yaml_reader: str) -> None:
    # Five levels of ten add about 12,000 nodes once expanded; seven add about 1.2 million.
    assert 12_000 < MAX_ALIAS_EXPANSION < 1_200_000
    loaded = load(billion_laughs(levels=5))
    assert len(loaded.document["x-a4"]) == 10
    assert loaded.document["x-a4"][9][9][9][9] == "lol"
    assert only_problem(billion_laughs(levels=7)).code == "yaml_alias_expansion_too_large"


def test_an_alias_inside_its_own_anchor_is_refused(yaml_reader: str) -> None:
    problem = only_problem(yaml_text("x-loop: &loop {next: *loop}\n"))
    assert (problem.code, problem.pointer) == ("yaml_alias_cycle", "/x-loop/next")


@pytest.mark.parametrize(
    "value",
    [
        '!!python/object/apply:os.system ["echo owned"]',
        "!!python/object:builtins.dict {}",
        "!!python/name:os.system",
        "!!binary aGVsbG8=",
        "!!set {a, b}",
        "!!omap [a: 1]",
        "!custom thing",
    ],
)
def test_tags_beyond_json_values_are_refused(value: str, yaml_reader: str) -> None:
    problem = only_problem(yaml_text(f"x-value: {value}\n"))
    assert (problem.code, problem.pointer) == ("yaml_tag_not_allowed", "/x-value")
    assert "line 4, column 10" in problem.message


def test_tagged_keys_are_refused(yaml_reader: str) -> None:
    problem = only_problem(yaml_text("x-map: {!!python/name:os.system x: 1}\n"))
    assert problem.code == "yaml_tag_not_allowed"


@pytest.mark.parametrize("key", ["? [a, b]\n: c", "? {a: b}\n: c"], ids=["list", "mapping"])
def test_keys_that_are_not_scalars_are_refused(key: str, yaml_reader: str) -> None:
    assert only_problem(yaml_text(key + "\n")).code == "yaml_key_not_string"


# Refusals: nesting


def nested_json(depth: int) -> bytes:
    return b'{"openapi": "3.0.3", "x-deep": ' + b"[" * depth + b"]" * depth + b"}"


def test_json_nested_100000_deep_is_refused() -> None:
    problem = only_problem(b"[" * 100_000 + b"]" * 100_000)
    assert problem.code == "document_too_deep"


def test_json_nesting_is_bounded_exactly() -> None:
    # The root object is one level, "x-deep" adds the rest.
    assert load(nested_json(MAX_DEPTH - 1)).version == "3.0"
    problem = only_problem(nested_json(MAX_DEPTH))
    assert problem.code == "document_too_deep"
    # The root object and 99 lists are within the bound; the pointer names the 100th list.
    assert problem.pointer == "/x-deep" + "/0" * (MAX_DEPTH - 1)


@pytest.mark.parametrize(
    "deep",
    [
        "x-deep: " + "[" * 100_000 + "]" * 100_000,
        "x-deep: " + "{a: " * 100_000 + "}" * 100_000,
        "x-deep:\n" + "- " * 100_000 + "leaf",
    ],
    ids=["flow-sequences", "flow-mappings", "block-sequences"],
)
def test_yaml_nested_100000_deep_is_refused(deep: str, yaml_reader: str) -> None:
    started = time.perf_counter()
    assert only_problem(yaml_text(deep)).code == "document_too_deep"
    assert time.perf_counter() - started < BOMB_SECONDS


def test_yaml_nesting_is_bounded_exactly(yaml_reader: str) -> None:
    depth = MAX_DEPTH - 1
    assert load(yaml_text("x-deep: " + "[" * depth + "]" * depth)).version == "3.0"
    depth = MAX_DEPTH
    assert only_problem(yaml_text("x-deep: " + "[" * depth + "]" * depth)).code == (
        "document_too_deep"
    )


def test_aliases_cannot_nest_a_document_deeper_than_written(yaml_reader: str) -> None:
    # Each anchor is 60 levels deep and contains the previous one: 180 levels once expanded.
    half = MAX_DEPTH * 6 // 10
    lines = []
    for level in range(3):
        inner = f"*n{level - 1}" if level else "leaf"
        lines.append(f"x-n{level}: &n{level} " + "[" * half + inner + "]" * half)
    problem = only_problem(yaml_text("\n".join(lines) + "\n"))
    assert problem.code == "document_too_deep"


# Refusals: keys written twice


def test_a_json_key_written_twice_is_refused_with_where() -> None:
    raw = (
        b'{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"get": '
        b'{"security": [{"k": []}], "responses": {}, "security": []}}}}'
    )
    problem = only_problem(raw)
    assert (problem.code, problem.pointer) == ("duplicate_key", "/paths/~1a/get")
    assert "'security'" in problem.message


def test_a_yaml_key_written_twice_is_refused_with_where(yaml_reader: str) -> None:
    problem = only_problem(yaml_text("x-op:\n  security: [{k: []}]\n  security: []\n"))
    assert (problem.code, problem.pointer) == ("duplicate_key", "/x-op")
    assert "'security'" in problem.message
    assert "line 6, column 3" in problem.message


def test_yaml_keys_that_read_the_same_are_the_same_key(yaml_reader: str) -> None:
    problem = only_problem(yaml_text("x-codes:\n  200: a\n  '200': b\n"))
    assert (problem.code, problem.pointer) == ("duplicate_key", "/x-codes")


def test_a_key_overriding_a_merged_one_is_not_a_duplicate(yaml_reader: str) -> None:
    loaded = load(yaml_text("x-base: &b {a: 1, c: 3}\nx-use:\n  <<: *b\n  a: 2\n"))
    assert loaded.document["x-use"] == {"a": 2, "c": 3}
