"""Exports written as text: YAML a person or any tool reads as it is, without anchors."""

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from keyward.core.openapi.export import export_as
from keyward.core.openapi.rendering import Format, render
from keyward.core.openapi.security import KeyLocation, KeyRole, Location


def keyed_petstore() -> dict[str, Any]:
    """Every operation takes the same key: exporting gives each the same requirement."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Pets", "version": "1"},
        "servers": [{"url": "https://api.example.com/v1"}],
        "security": [{"key": []}],
        "components": {
            "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"}}
        },
        "paths": {
            "/pets": {
                "get": {"operationId": "listPets", "responses": {"200": {"description": "ok"}}},
                "post": {"operationId": "addPet", "responses": {"201": {"description": "made"}}},
            }
        },
    }


def test_an_exported_yaml_spec_has_no_anchors_or_aliases() -> None:
    doc = keyed_petstore()
    key = KeyLocation("key", Location.HEADER, "X-Key", KeyRole.KEY)
    for version in ("3.0", "2.0"):
        exported = export_as(
            doc, [key], version=version, server_url="https://gw.example.com/pets", realm="Pets"
        ).document
        text = render(exported, Format.YAML).decode()
        assert "&id" not in text
        assert "*id" not in text
        assert yaml.safe_load(text) == exported
        for operation in yaml.safe_load(text)["paths"]["/pets"].values():
            assert operation["security"] == [{"key": []}]


leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))
trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(min_size=1, max_size=5), children, max_size=3),
    ),
    max_leaves=10,
)


@settings(max_examples=50, deadline=None)
@given(shared=trees, names=st.lists(st.text(min_size=1, max_size=5), min_size=2, unique=True))
def test_a_value_shared_by_several_places_is_written_out_at_each(
    shared: Any, names: list[str]
) -> None:
    doc = dict.fromkeys(names, shared)
    text = render(doc, Format.YAML).decode()
    assert "&id" not in text
    assert yaml.safe_load(text) == doc
