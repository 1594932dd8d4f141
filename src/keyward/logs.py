"""keyward's own log lines: one stderr handler on the `keyward` logger, set up in each process."""

import logging
import re
import sys
import time
from typing import Final

from keyward.core.errors import InvalidInput

# uvicorn's names, so that one KEYWARD_LOG_LEVEL sets both; `trace` is uvicorn's, below debug.
LEVELS: Final = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": 5,
}
LINE_FORMAT: Final = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
_HANDLER_NAME: Final = "keyward-stderr"


# A keyward key, its `_` written as is or percent-encoded, wherever it stands in a line.
_KEY_SHAPED: Final = re.compile(r"[a-z][a-z0-9]{1,11}(?:_|%5[Ff])[0-9A-Za-z]{38}")
MASK: Final = "[key]"


def mask_keys(text: str) -> str:
    return _KEY_SHAPED.sub(MASK, text)


class MaskKeys(logging.Filter):
    """Replaces anything shaped like a key in a record's message, whatever carried it: a
    query parameter of any name, a header, an error text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_keys(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


MASKS: Final = MaskKeys()


def log_level(name: str) -> int:
    """The level `name` stands for, in any case; `invalid_log_level` naming the choices if none."""
    level = LEVELS.get(name.strip().lower())
    if level is None:
        raise InvalidInput(
            f"KEYWARD_LOG_LEVEL is {name!r}, which is not a log level: "
            f"set it to one of {', '.join(LEVELS)}.",
            code="invalid_log_level",
        )
    return level


def configure_logging(level_name: str) -> int:
    """Write the `keyward` loggers' records at `level_name` and above to stderr; return the level.

    One line each: UTC time, level, process id, logger name, message. Calling it again replaces
    the handler, so no line is ever written twice. keyward's records stop at the `keyward`
    logger: a handler someone puts on the root logger does not repeat them, and uvicorn's loggers,
    a hierarchy of their own, keep their handlers and format.
    """
    level = log_level(level_name)
    formatter = logging.Formatter(LINE_FORMAT)
    formatter.converter = time.gmtime
    formatter.default_time_format = "%Y-%m-%dT%H:%M:%S"
    formatter.default_msec_format = "%s.%03dZ"
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    handler.addFilter(MASKS)
    logger = logging.getLogger("keyward")
    for configured in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(configured)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return level
