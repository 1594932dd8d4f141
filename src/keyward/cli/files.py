"""Files a command reads or writes, each failure one error line naming the file and what is
wrong with it."""

from pathlib import Path

from keyward.core.errors import InvalidInput


def _unusable(path: Path, what: str, doing: str, error: OSError) -> InvalidInput:
    if path.is_dir():
        reason = "it is a directory"
    elif isinstance(error, FileNotFoundError):
        reason = f"there is no folder {path.absolute().parent}"
    else:
        reason = error.strerror or type(error).__name__
    return InvalidInput(
        f"The {what} {path.absolute()} cannot be {doing}: {reason}.",
        code="file_unreadable" if doing == "read" else "file_not_written",
        details={"path": str(path.absolute())},
    )


def missing(path: Path, what: str) -> InvalidInput:
    return InvalidInput(
        f"The {what} {path} does not exist (looked for {path.absolute()}).",
        code="file_not_found",
        details={"path": str(path.absolute())},
    )


def read_file(path: Path, what: str) -> bytes:
    """The bytes of `path`, or one error line saying what is wrong with it and where."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise missing(path, what) from None
    except OSError as error:
        raise _unusable(path, what, "read", error) from None


def write_file(path: Path, data: bytes, what: str) -> None:
    """Write `data` to `path`, or one error line saying why it cannot be written there."""
    try:
        path.write_bytes(data)
    except OSError as error:
        raise _unusable(path, what, "written", error) from None
