"""Compile the gateway's request path with mypyc, in place next to its sources.

Every request the gateway forwards runs through these modules; compiled, a request costs about
two thirds of the CPU it costs interpreted (benchmarks/README.md). The sources stay the truth:
`make` builds the compiled modules from them (again whenever a source changes), they are never
committed, and the tests refuse to run against compiled modules older than their sources. When
compiling fails (no C compiler) the same modules run interpreted, and this says so; under
`CI=true` a failure is an error. It says what it is doing while it works (a minute or more):
translating to C, then each C extension compiled.

    python tools/compile_gateway.py           # build
    python tools/compile_gateway.py --clean   # remove what a build made
"""

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "src"
BUILD = ROOT / "build" / "mypyc"
MODULES = (
    "keyward/core/clock.py",
    "keyward/core/keys.py",
    "keyward/core/routing.py",
    "keyward/core/verdicts.py",
    "keyward/gateway/catalog.py",
    "keyward/gateway/credentials.py",
    "keyward/gateway/enforcement.py",
    "keyward/gateway/floods.py",
    "keyward/gateway/metrics.py",
    "keyward/gateway/runner.py",
    "keyward/gateway/http/_client.py",
    "keyward/gateway/http/_deadline.py",
    "keyward/gateway/http/_eager.py",
    "keyward/gateway/http/_exchange.py",
    "keyward/gateway/http/_forwarding.py",
    "keyward/gateway/http/_head.py",
    "keyward/gateway/http/_messages.py",
    "keyward/gateway/http/_outbox.py",
    "keyward/gateway/http/_replies.py",
    "keyward/gateway/http/_upstream.py",
    "keyward/verifier/counts.py",
    "keyward/verifier/limits.py",
    "keyward/verifier/lookups.py",
    "keyward/verifier/usage.py",
    "keyward/verifier/verifier.py",
)


def clean() -> None:
    """Remove what builds left: the extensions in the source tree, their shared library, `BUILD`."""
    for path in SOURCES.rglob("*.so"):
        path.unlink()
    shutil.rmtree(BUILD, ignore_errors=True)


def say(line: str) -> None:
    print(f"compile_gateway: {line}", flush=True)


def build() -> None:
    from mypyc.build import mypycify
    from setuptools import setup
    from setuptools.command.build_ext import build_ext

    class BuildExtSaying(build_ext):  # type: ignore[misc]  # setuptools is untyped
        """build_ext that says which extension it compiles, and how far along it is."""

        def build_extensions(self) -> None:
            self._done = 0
            super().build_extensions()

        def build_extension(self, ext: Any) -> None:
            self._done += 1
            # The first, the shared library of every module, takes most of the time.
            what = f"{ext.name} (the longest)" if self._done == 1 else ext.name
            say(f"[2/2] compiling C {self._done}/{len(self.extensions)}: {what}")
            super().build_extension(ext)

    started = time.monotonic()
    say(
        f"compiling the gateway's request path ({len(MODULES)} modules) with mypyc; this "
        "takes a minute or more, and is done again only when one of them changes."
    )
    clean()
    os.chdir(SOURCES)  # extensions are placed by module name, relative to here
    os.environ["MYPY_CACHE_DIR"] = str(BUILD / "mypy-cache")
    try:
        say("[1/2] type-checking and translating to C")
        extensions = mypycify(list(MODULES), opt_level="3", target_dir=str(BUILD / "c"))
        setup(
            name="keyward-compiled",
            ext_modules=extensions,
            cmdclass={"build_ext": BuildExtSaying},
            script_args=[
                "--quiet",
                "build_ext",
                "--inplace",
                "--build-temp",
                str(BUILD / "temp"),
                "--build-lib",
                str(BUILD / "lib"),
            ],
        )
    except (Exception, SystemExit) as error:
        clean()
        if os.environ.get("CI") == "true":
            raise
        print(
            f"compile_gateway: compiling failed ({error}); the gateway runs interpreted.",
            file=sys.stderr,
        )
        return
    say(f"done in {time.monotonic() - started:.0f} s; compiled modules are next to their sources.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true")
    arguments = parser.parse_args()
    if arguments.clean:
        clean()
    else:
        build()
    return 0


if __name__ == "__main__":
    sys.exit(main())
