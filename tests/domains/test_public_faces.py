"""Each domain package says in `__all__` what other packages may use of it; nothing outside the
package imports anything else of it (its repository above all: a domain's SQL is its own)."""

import ast
import importlib
from pathlib import Path

import keyward.domains

SOURCES = Path(keyward.domains.__file__).resolve().parents[2]
DOMAINS = Path(keyward.domains.__file__).resolve().parent
PACKAGES = sorted(p.name for p in DOMAINS.iterdir() if (p / "__init__.py").is_file())


def _imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every `from module import name` and `import module` in the file."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.extend((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((alias.name, "") for alias in node.names)
    return found


def _face(package: str) -> list[str]:
    names: list[str] = importlib.import_module(f"keyward.domains.{package}").__all__
    return names


def test_every_domain_package_names_its_face_and_the_names_exist() -> None:
    for package in PACKAGES:
        for name in _face(package):
            assert (
                hasattr(importlib.import_module(f"keyward.domains.{package}"), name)
                or (DOMAINS / package / f"{name}.py").is_file()
            ), f"keyward.domains.{package}.__all__ names {name!r}, which does not exist"


def test_no_package_reaches_past_another_domains_face() -> None:
    wrong = []
    for path in sorted(SOURCES.joinpath("keyward").rglob("*.py")):
        importer = ".".join(path.relative_to(SOURCES).with_suffix("").parts)
        for module, name in _imports(path):
            parts = module.split(".")
            if parts[:2] != ["keyward", "domains"] or len(parts) < 3 or parts[2] not in PACKAGES:
                continue
            package = ".".join(parts[:3])
            if importer == package or importer.startswith(package + "."):
                continue
            used = parts[3] if len(parts) > 3 else name
            if used and used not in _face(parts[2]):
                wrong.append(f"{importer} imports {module}:{name}")
            if len(parts) > 4:
                wrong.append(f"{importer} imports {module}, below the face")
    assert wrong == []


def test_the_guard_sees_an_import_past_a_face(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from keyward.domains.keys import repository\n")
    [(module, name)] = _imports(sample)
    assert (module, name) == ("keyward.domains.keys", "repository")
    assert name not in _face("keys")
