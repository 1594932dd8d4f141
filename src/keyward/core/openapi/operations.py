"""The operation index of an OpenAPI document: each operation with a fingerprint of its contract.

`operations(document)` lists the operations of `paths` (methods get, put, post, delete,
options, head, patch and trace; a path item's `$ref` is followed) in document order. Meant for
3.x documents; it reads 2.0 ones the same way.

An operation's fingerprint is a SHA-256 over the canonical JSON (keys sorted, no whitespace) of
what a client must know to call it:

- the operation object as written, every field included (summary, description, operationId,
  tags, deprecated, requestBody, responses, callbacks, its own servers, `x-` extensions...);
- its effective parameters: the path item's merged with the operation's, the operation's
  winning on the same `name` and `in`, sorted by `in` and `name` (so reordering is no change);
- its effective security: its own `security`, else the document's.

Every local `$ref` reached from those counts through what it refers to: a `$ref` is hashed as
its target's fingerprint, so a change to a shared schema changes every operation that uses it,
however indirectly. Recursive schemas are hashed per strongly connected group of references (a
change anywhere in a cycle changes every member's fingerprint), so cycles cost nothing extra.
Not counted: the path item's own summary and description, servers of the path item or the
document, other components no operation uses, and the order of keys. A renamed component
counts as a change to the operations that use it.
"""

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from keyward.core.openapi import Document
from keyward.core.openapi.documents import (
    dereferenced,
    follow,
    local_ref_parts,
    path_operations,
)


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation: `method` lower-case as written, its path template, and its fingerprint."""

    method: str
    path: str
    operation_id: str | None
    tags: tuple[str, ...]
    fingerprint: str

    @property
    def key(self) -> str:
        """ "METHOD /path", the operation's identity across versions of a document."""
        return f"{self.method.upper()} {self.path}"


@dataclass(frozen=True, slots=True)
class _Written:
    method: str
    path: str
    operation: dict[str, Any]
    path_item: dict[str, Any]


def operations(document: Document) -> list[Operation]:
    """Every operation of the document's `paths`, in document order (see the module doc)."""
    written = list(_written_operations(document))
    contracts = [_contract(document, each) for each in written]
    hashes = _ReferenceHashes(document)
    hashes.add_reachable_from(contracts)
    return [
        Operation(
            method=each.method,
            path=each.path,
            operation_id=_operation_id(each.operation),
            tags=tuple(tag for tag in _list(each.operation.get("tags")) if isinstance(tag, str)),
            fingerprint=_digest(hashes.canonical(contract)),
        )
        for each, contract in zip(written, contracts, strict=True)
    ]


def _written_operations(document: Document) -> Iterator[_Written]:
    paths = document.get("paths")
    if not isinstance(paths, dict):
        return
    for path, item in paths.items():
        if not isinstance(path, str) or not path.startswith("/"):
            continue
        item, _ = dereferenced(document, item, ("paths", path))
        if not isinstance(item, dict):
            continue
        for method, operation in path_operations(item):
            yield _Written(method, path, operation, item)


def _operation_id(operation: dict[str, Any]) -> str | None:
    operation_id = operation.get("operationId")
    return operation_id if isinstance(operation_id, str) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _contract(document: Document, written: _Written) -> dict[str, Any]:
    """What the fingerprint covers, before references are replaced by their fingerprints."""
    merged: dict[tuple[str, str], Any] = {}
    unnamed: list[Any] = []
    for parameter in [
        *_list(written.path_item.get("parameters")),
        *_list(written.operation.get("parameters")),
    ]:
        target, _ = dereferenced(document, parameter, ())
        if isinstance(target, dict) and isinstance(target.get("name"), str):
            merged[(str(target.get("in")), target["name"])] = parameter
        else:
            unnamed.append(parameter)  # malformed; still part of the contract
    security = (
        written.operation["security"]
        if "security" in written.operation
        else document.get("security")
    )
    return {
        "operation": {
            key: value for key, value in written.operation.items() if key != "parameters"
        },
        "parameters": [merged[key] for key in sorted(merged)] + unnamed,
        "security": security,
    }


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _local_refs(value: Any) -> Iterator[str]:
    """Every `$ref` string in `value` (any `{"$ref": "..."}` mapping, wherever it is)."""
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, dict):
            ref = current.get("$ref")
            if isinstance(ref, str):
                yield ref
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)


class _ReferenceHashes:
    """Fingerprints of the targets of local `$ref`s, computed once per target.

    References form a graph (a target contains references). Each strongly connected group of
    it (a single reference, or the members of a cycle) is hashed after the groups it refers to:
    the group's hash covers every member's content, with references to other groups replaced by
    their hashes and references inside the group by their names.
    """

    def __init__(self, document: Document) -> None:
        self.document = document
        self.targets: dict[str, Any] = {}  # resolvable local refs -> what they point to
        self.hashes: dict[str, str] = {}
        self._group: frozenset[str] = frozenset()

    def _target(self, ref: str) -> bool:
        """Whether `ref` resolves inside the document (remembering what it points to)."""
        if ref in self.targets:
            return True
        try:
            parts = local_ref_parts(ref)
            if parts is None:
                return False
            self.targets[ref] = follow(self.document, parts)
        except (ValueError, LookupError):
            return False
        return True

    def _edges(self, ref: str) -> list[str]:
        return [
            each for each in dict.fromkeys(_local_refs(self.targets[ref])) if self._target(each)
        ]

    def add_reachable_from(self, values: list[Any]) -> None:
        """Hash every reference reachable from `values` (Tarjan's algorithm, without recursion).

        Tarjan's algorithm completes a group only after every group it refers to, which is the
        order hashing needs.
        """
        index: dict[str, int] = {}
        lowlink: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        work: list[tuple[str, Iterator[str]]] = []

        def enter(ref: str) -> None:
            index[ref] = lowlink[ref] = len(index)
            stack.append(ref)
            on_stack.add(ref)
            work.append((ref, iter(self._edges(ref))))

        for root in dict.fromkeys(_local_refs(values)):
            if root in index or root in self.hashes or not self._target(root):
                continue
            enter(root)
            while work:
                ref, edges = work[-1]
                for successor in edges:
                    if successor in self.hashes:
                        continue
                    if successor not in index:
                        enter(successor)
                        break
                    if successor in on_stack:
                        lowlink[ref] = min(lowlink[ref], index[successor])
                else:
                    work.pop()
                    if work:
                        parent = work[-1][0]
                        lowlink[parent] = min(lowlink[parent], lowlink[ref])
                    if lowlink[ref] == index[ref]:
                        group: list[str] = []
                        while not group or group[-1] != ref:
                            group.append(stack.pop())
                            on_stack.discard(group[-1])
                        self._hash_group(group)

    def _hash_group(self, group: list[str]) -> None:
        self._group = frozenset(group)
        contents = {ref: self.canonical(self.targets[ref]) for ref in group}
        group_hash = _digest(contents)
        self._group = frozenset()
        for ref in group:
            self.hashes[ref] = _digest([ref, group_hash])

    def canonical(self, value: Any) -> Any:
        """`value`, each hashed `$ref` string replaced by [the ref, its target's fingerprint]."""
        if isinstance(value, list):
            return [self.canonical(item) for item in value]
        if not isinstance(value, dict):
            return value
        copy = {key: self.canonical(item) for key, item in value.items()}
        ref = value.get("$ref")
        if isinstance(ref, str) and ref in self.hashes and ref not in self._group:
            copy["$ref"] = [ref, self.hashes[ref]]  # a list: no string `$ref` looks like it
        return copy
