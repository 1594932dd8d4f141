"""Reading an uploaded OpenAPI document: bytes to a plain JSON-like dict, hostile input refused.

`load` decides JSON or YAML, parses with bounded cost and returns a `LoadedDocument`: a tree of
dicts, lists, str, int, float, bool and None whose mapping keys are all strings, like JSON's.
Everything else is a `SpecError`, never a crash:

- over `max_bytes` (checked before anything is decoded): `too_large`;
- not UTF-8, or not parseable (the message gives line and column);
- nested deeper than `MAX_DEPTH` containers (the validator and the converters recurse);
- NaN or infinite numbers (not JSON);
- a key written twice in one mapping (parsers would silently keep the last one, so a second
  `security` could quietly make an operation public);
- YAML only: tags other than the JSON-compatible ones, so no Python objects, sets or binary;
  mapping keys that are not scalars; aliases that refer to themselves; aliases (and `<<` merge
  keys) that would expand the document by more than `MAX_ALIAS_EXPANSION` nodes, which stops
  "billion laughs" bombs before anything is expanded;
- a root that is not a mapping, no `openapi`/`swagger` field, or a version other than 2.0,
  3.0.x and 3.1.x.

A document whose first non-blank character is `{` or `[` is JSON and is read strictly by the
json module (JSON is YAML too, but the json module is many times faster). Anything else is YAML,
read with the YAML 1.2 core schema that OpenAPI recommends, not PyYAML's YAML 1.1 default: `yes`,
`on`, `2001-12-14` and `1:30` stay strings, as every other OpenAPI tool reads them. One
departure from the core schema: digits with a leading zero (`0012`, an id or a postcode) stay a
string rather than losing the zeros, which is also how PyYAML writes such strings (unquoted)
and so reads them back. Mapping keys are kept as written, so a response code written `200:` is
the key "200"; `swagger: 2.0` and `openapi: 3.1` written unquoted keep their text too. Values
an alias or merge key repeats are copied, so the result shares no object between two places,
exactly as JSON would.
"""

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.error import MarkedYAMLError
from yaml.events import AliasEvent, Event, MappingStartEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from keyward.core.openapi import Document
from keyward.core.openapi.documents import pointer_to
from keyward.core.openapi.problems import Problem, SpecError

MediaType = Literal["json", "yaml"]
Version = Literal["2.0", "3.0", "3.1"]

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# Real specs nest about 25 deep (Stripe: 23). The validator spends several stack frames per
# level and the process's recursion limit is about 1,000 frames, so the bound leaves it room.
MAX_DEPTH = 100
# Nodes that aliases and merge keys may add to a YAML document beyond those written out. A few
# shared responses cost hundreds; ten levels of ten aliases ("billion laughs") cost 10**10.
MAX_ALIAS_EXPANSION = 100_000

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_SCALAR_TAGS = frozenset({_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP, _MERGE})
_JSON_START = re.compile(r"[ \t\r\n]*[\[{]")
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class LoadedDocument:
    """A parsed document, the syntax it was written in, and its OpenAPI version family."""

    document: Document
    media_type: MediaType
    version: Version


def load(raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> LoadedDocument:
    """Parse an uploaded OpenAPI 2.0, 3.0 or 3.1 document, JSON or YAML.

    Raises `SpecError` (with `too_large` set for the size limit) for anything that is not such a
    document, as listed in the module's docstring. The document's content is not checked
    against OpenAPI here: that is `validation.check`.
    """
    if len(raw) > max_bytes:
        raise SpecError(
            [
                Problem(
                    "",
                    f"The document is {len(raw):,} bytes, over the limit of {max_bytes:,} "
                    "bytes; upload a smaller document.",
                    "document_too_large",
                )
            ],
            too_large=True,
        )
    text = _decoded(raw)
    media_type: MediaType
    if _JSON_START.match(text):
        document, media_type = _parse_json(text), "json"
    else:
        document, media_type = _parse_yaml(text), "yaml"
    if not isinstance(document, dict):
        raise _refusal(
            "",
            "The document must be an object (a mapping) with an `openapi` or `swagger` field.",
            "root_not_mapping",
        )
    return LoadedDocument(document, media_type, _version(document))


def _refusal(pointer: str, message: str, code: str) -> SpecError:
    return SpecError([Problem(pointer, message, code)])


def _decoded(raw: bytes) -> str:
    try:
        return raw.removeprefix(_UTF8_BOM).decode("utf-8")
    except UnicodeDecodeError as error:
        offset = error.start + (len(_UTF8_BOM) if raw.startswith(_UTF8_BOM) else 0)
        raise _refusal(
            "",
            f"The document is not valid UTF-8 (at byte {offset:,}); save it as UTF-8.",
            "invalid_utf8",
        ) from None


def _too_deep(pointer: str, where: str = "") -> SpecError:
    return _refusal(
        pointer,
        f"The document nests more than {MAX_DEPTH} levels deep{where}; flatten it, for example "
        "with `$ref`s to components.",
        "document_too_deep",
    )


def _not_finite() -> SpecError:
    return _refusal(
        "",
        "The document contains NaN or an infinite number, which JSON does not allow; write a "
        "finite number or a string.",
        "number_not_finite",
    )


# JSON


def _refuse_constant(name: str) -> float:
    raise _not_finite()


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # "1e999" overflows to infinity
        raise _not_finite()
    return value


class _Duplicated(dict[str, Any]):
    """An object in which `key` was written more than once (marks where, for the refusal)."""

    key: str | None


def _first_repeated(keys: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    return None


def _duplicate_key(pointer: str, key: str | None, where: str = "") -> SpecError:
    return _refusal(
        pointer,
        f"The key {key!r} is written more than once in one mapping{where}; a reader would "
        "silently keep only one of them. Write each key once.",
        "duplicate_key",
    )


def _parse_json(text: str) -> Any:
    duplicated: list[_Duplicated] = []

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) == len(pairs) or duplicated:
            return result
        marked = _Duplicated(result)
        marked.key = _first_repeated(key for key, _ in pairs)
        duplicated.append(marked)
        return marked

    try:
        document = json.loads(
            text,
            object_pairs_hook=build,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except json.JSONDecodeError as error:
        raise _refusal(
            "",
            f"The document is not valid JSON: {error.msg} at line {error.lineno}, "
            f"column {error.colno}.",
            "syntax_error",
        ) from None
    except RecursionError:
        raise _too_deep("") from None
    except ValueError:  # the only other failure: an integer over Python's 4,300-digit limit
        raise _refusal(
            "", "The document is not valid JSON: a number has too many digits.", "syntax_error"
        ) from None
    if duplicated:
        where = _path_where(document, lambda value, _: value is duplicated[0])
        raise _duplicate_key(pointer_to(where), duplicated[0].key)
    if _depth(document) > MAX_DEPTH:
        raise _too_deep(pointer_to(_path_where(document, _beyond_depth)))
    return document


def _depth(document: Any) -> int:
    """How many containers deep the document nests (a scalar root: 0)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if type(value) is dict:
            value = value.values()
        elif type(value) is not list:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in value)
    return deepest


def _path_where(document: Any, wanted: Callable[[Any, list[str | int]], bool]) -> list[str | int]:
    """The path of the first value `wanted` accepts (only called on refusal, to say where)."""
    pending: list[tuple[Any, list[str | int]]] = [(document, [])]
    while pending:
        value, path = pending.pop()
        if wanted(value, path):
            return path
        if isinstance(value, dict):
            pending.extend((child, [*path, key]) for key, child in value.items())
        elif isinstance(value, list):
            pending.extend((child, [*path, index]) for index, child in enumerate(value))
    return []


def _beyond_depth(value: Any, path: list[str | int]) -> bool:
    return len(path) >= MAX_DEPTH and isinstance(value, dict | list)


# YAML


class _Mark(Protocol):
    """Where in the text something is, 0-based (PyYAML's and libyaml's marks alike)."""

    line: int
    column: int


def _position(mark: _Mark | None) -> str:
    return "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"


class _CoreSchemaResolver(BaseResolver):
    """Plain scalars resolved by the YAML 1.2 core schema (plus `<<` merge keys)."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 (PyYAML's registry, per class)


_CoreSchemaResolver.add_implicit_resolver(
    _NULL, re.compile(r"(?:~|null|Null|NULL|)\Z"), ["~", "n", "N", ""]
)
_CoreSchemaResolver.add_implicit_resolver(
    _BOOL, re.compile(r"(?:true|True|TRUE|false|False|FALSE)\Z"), list("tTfF")
)
_CoreSchemaResolver.add_implicit_resolver(
    _INT, re.compile(r"(?:[-+]?(?:0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+)\Z"), list("-+0123456789")
)
_CoreSchemaResolver.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+(?=[eE]))(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z"
    ),
    list("-+0123456789."),
)
_CoreSchemaResolver.add_implicit_resolver(_MERGE, re.compile(r"<<\Z"), ["<"])


class _JsonConstructor(SafeConstructor):
    """Builds only JSON values: the core schema's scalars, lists and string-keyed dicts."""

    def construct_core_int(self, node: ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        try:
            if text.startswith("0o"):
                return int(text[2:], 8)
            if text.startswith("0x"):
                return int(text[2:], 16)
            return int(text)
        except ValueError:  # over Python's 4,300-digit limit
            raise ConstructorError(
                None, None, "a number has too many digits", node.start_mark
            ) from None

    def construct_core_float(self, node: ScalarNode) -> float:
        text = str(self.construct_scalar(node))
        if text.lstrip("+-").lower() in (".inf", ".nan"):
            raise _not_finite()
        try:
            value = float(text)
        except ValueError:
            raise ConstructorError(None, None, f"not a number: {text!r}", node.start_mark) from None
        if not math.isfinite(value):
            raise _not_finite()
        return value

    def construct_core_bool(self, node: ScalarNode) -> bool:
        text = str(self.construct_scalar(node))
        if text.lower() not in ("true", "false"):
            raise ConstructorError(None, None, f"not a boolean: {text!r}", node.start_mark)
        return text.lower() == "true"

    # Only these tags construct anything; `_check_node` refuses every other tag beforehand.
    yaml_constructors: ClassVar[dict[str | None, Any]] = {
        _NULL: SafeConstructor.construct_yaml_null,
        _BOOL: construct_core_bool,
        _INT: construct_core_int,
        _FLOAT: construct_core_float,
        _STR: SafeConstructor.construct_yaml_str,
        _SEQ: SafeConstructor.construct_yaml_seq,
        _MAP: SafeConstructor.construct_yaml_map,
    }


class _BoundedComposer(Composer):
    """PyYAML's composer, refusing to nest deeper than `MAX_DEPTH`.

    libyaml's own composer recurses in C and crashes the process on deep input, and its scanner
    slows down quadratically with flow nesting; composing in Python over its events, and
    stopping at the bound, avoids both.
    """

    # Provided by the parser this composer is mixed with.
    check_event: Callable[..., bool]
    peek_event: Callable[[], Event]

    def __init__(self) -> None:
        super().__init__()
        self.nesting = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(AliasEvent) or not self.check_event(
            SequenceStartEvent, MappingStartEvent
        ):
            return super().compose_node(parent, index)
        self.nesting += 1
        try:
            if self.nesting > MAX_DEPTH:
                raise _too_deep("", _position(self.peek_event().start_mark))
            return super().compose_node(parent, index)
        finally:
            self.nesting -= 1


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _FastLoader(_BoundedComposer, CParser, _JsonConstructor, _CoreSchemaResolver):
        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            _BoundedComposer.__init__(self)
            _JsonConstructor.__init__(self)
            _CoreSchemaResolver.__init__(self)


class _PurePythonLoader(
    Reader, Scanner, Parser, _BoundedComposer, _JsonConstructor, _CoreSchemaResolver
):
    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        _BoundedComposer.__init__(self)
        _JsonConstructor.__init__(self)
        _CoreSchemaResolver.__init__(self)


def _parse_yaml(text: str) -> Any:
    # Decided per call, not at import, so tests can exercise the pure-Python reader too.
    loader_class = _FastLoader if yaml.__with_libyaml__ else _PurePythonLoader
    try:
        # The pure-Python reader checks every character as it is built, so this can fail too.
        loader = loader_class(text)
        try:
            root = loader.get_single_node()
            if root is None:
                return None
            added = _prepare(root)
            document = loader.construct_document(root)
        finally:
            loader.dispose()
    except MarkedYAMLError as error:
        raise _refusal("", _yaml_syntax_message(error), "syntax_error") from None
    except ReaderError as error:
        character = chr(error.character) if isinstance(error.character, int) else error.character
        raise _refusal(
            "",
            f"The document is not valid YAML: the character U+{ord(character):04X} at position "
            f"{error.position:,} is not allowed.",
            "syntax_error",
        ) from None
    except yaml.YAMLError as error:
        raise _refusal("", f"The document is not valid YAML: {error}.", "syntax_error") from None
    except RecursionError:
        raise _too_deep("") from None
    return _unshared(document) if added else document


def _yaml_syntax_message(error: MarkedYAMLError) -> str:
    what = (
        "; ".join(part for part in (error.context, error.problem) if part) or "unexpected content"
    )
    mark = error.problem_mark or error.context_mark
    return f"The document is not valid YAML: {what}{_position(mark)}."


def _children(
    node: Node, path: tuple[str | int, ...]
) -> Iterator[tuple[Node, tuple[str | int, ...]]]:
    if isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            yield item, (*path, index)
    elif isinstance(node, MappingNode):
        for key, value in node.value:
            yield value, (*path, key.value)


def _prepare(root: Node) -> int:
    """Check the composed node graph, retag what must become strings, and size its expansion.

    Returns how many nodes aliases and merge keys add. The graph is walked once, each node a
    single time however many aliases refer to it, so a bomb costs as little as its text.
    """
    if isinstance(root, MappingNode):
        for key, value in root.value:
            # `swagger: 2.0` and `openapi: 3.1`, unquoted, are numbers in YAML: keep the text.
            if (
                key.value in ("swagger", "openapi")
                and isinstance(value, ScalarNode)
                and value.tag in (_INT, _FLOAT)
            ):
                value.tag = _STR
    # Expanded size and height of every node finished so far, by identity; and the nodes being
    # walked (the ancestors of the current one), which an alias must not point back to.
    finished: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()
    written = 0
    work: list[tuple[bool, Node, tuple[str | int, ...]]] = [(False, root, ())]
    while work:
        leaving, node, path = work.pop()
        identity = id(node)
        if leaving:
            open_nodes.discard(identity)
            size, height = 1, 0
            for child, _ in _children(node, path):
                child_size, child_height = finished[id(child)]
                size += child_size
                height = max(height, child_height)
            if isinstance(node, MappingNode):
                size += len(node.value)  # the keys
            if not isinstance(node, ScalarNode):
                height += 1
                if height > MAX_DEPTH:
                    raise _too_deep(pointer_to(path), _position(node.start_mark))
            finished[identity] = (size, height)
            continue
        if identity in finished:
            continue
        if identity in open_nodes:
            raise _refusal(
                pointer_to(path),
                f"An alias refers to a node that contains it{_position(node.start_mark)}; "
                "a document cannot contain itself.",
                "yaml_alias_cycle",
            )
        _check_node(node, path)
        open_nodes.add(identity)
        written += 1 + (len(node.value) if isinstance(node, MappingNode) else 0)
        work.append((True, node, path))
        work.extend((False, child, child_path) for child, child_path in _children(node, path))
    expanded = finished[id(root)][0]
    added = expanded - written
    if added > MAX_ALIAS_EXPANSION:
        raise _refusal(
            "",
            f"Aliases would expand the document from {written:,} to {expanded:,} nodes; at "
            f"most {MAX_ALIAS_EXPANSION:,} more than written are allowed. Write the repeated "
            "parts out, or share them with `$ref`.",
            "yaml_alias_expansion_too_large",
        )
    return added


def _check_node(node: Node, path: tuple[str | int, ...]) -> None:
    allowed = _MAP if isinstance(node, MappingNode) else _SEQ
    if isinstance(node, ScalarNode):
        if node.tag not in _SCALAR_TAGS:
            raise _tag_refusal(node, path)
        if node.tag in (_TIMESTAMP, _MERGE):  # `!!timestamp` text, or a `<<` that is no key
            node.tag = _STR
    elif node.tag != allowed:
        raise _tag_refusal(node, path)
    if isinstance(node, MappingNode):
        for key, _ in node.value:
            if not isinstance(key, ScalarNode):
                raise _refusal(
                    pointer_to(path),
                    f"A mapping key is a {'list' if isinstance(key, SequenceNode) else 'mapping'}"
                    f"{_position(key.start_mark)}; OpenAPI allows only strings as keys.",
                    "yaml_key_not_string",
                )
            if key.tag not in _SCALAR_TAGS:
                raise _tag_refusal(key, path)
            if key.tag != _MERGE:
                key.tag = _STR  # `200:` is the key "200", as written
        repeated = _first_repeated(key.value for key, _ in node.value if key.tag != _MERGE)
        if repeated is not None:
            second = [key for key, _ in node.value if key.value == repeated][1]
            raise _duplicate_key(pointer_to(path), repeated, _position(second.start_mark))


def _tag_refusal(node: Node, path: tuple[str | int, ...]) -> SpecError:
    return _refusal(
        pointer_to(path),
        f"The YAML tag {node.tag!r}{_position(node.start_mark)} is not allowed; OpenAPI "
        "documents may use only JSON-compatible values (strings, numbers, booleans, null, "
        "lists and mappings).",
        "yaml_tag_not_allowed",
    )


def _unshared(value: Any) -> Any:
    """A copy of `value` in which no dict or list appears twice (aliases constructed shared)."""
    if isinstance(value, dict):
        return {key: _unshared(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_unshared(child) for child in value]
    return value


# Version


def _version(document: Document) -> Version:
    if "openapi" in document:
        field = "openapi"
    elif "swagger" in document:
        field = "swagger"
    else:
        hint = ""
        if "swaggerVersion" in document:
            hint = " Swagger 1.x documents are not supported; convert it to OpenAPI 2.0 or 3.x."
        raise _refusal(
            "",
            "The document has no `openapi` or `swagger` field saying its version; it must be "
            f"an OpenAPI 2.0, 3.0 or 3.1 document.{hint}",
            "version_missing",
        )
    value = document[field]
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = repr(value)  # JSON `"swagger": 2.0` written as a number
        document[field] = value
    if isinstance(value, str):
        if field == "swagger" and value == "2.0":
            return "2.0"
        if field == "openapi":
            if re.match(r"3\.0(?:\.|\Z)", value):
                return "3.0"
            if re.match(r"3\.1(?:\.|\Z)", value):
                return "3.1"
    raise _refusal(
        f"/{field}",
        f"OpenAPI version {value!r} is not supported; keyward reads OpenAPI 2.0 "
        '(`swagger: "2.0"`), 3.0.x and 3.1.x.',
        "version_unsupported",
    )
