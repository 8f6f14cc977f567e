"""The package logger: quiet until a run or the CLI asks for console output."""

from __future__ import annotations

import logging
import os
import sys

LOGGER_NAME = "zenml_kf"


def get_logger(name: str = LOGGER_NAME) -> logging.Logger:
    return logging.getLogger(name)


def ensure_console_handler() -> None:
    """Attach a stderr handler once, unless the application configured logging itself.

    Done lazily (not at import) so importing the SDK never changes a host program's logging.
    """
    logger = logging.getLogger(LOGGER_NAME)
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    level = os.environ.get("ZENML_KF_LOGGING_VERBOSITY", "INFO").upper()
    logger.setLevel(getattr(logging, level, logging.INFO))
    logger.propagate = False
