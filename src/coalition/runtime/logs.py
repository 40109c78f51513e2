"""Structured logs: one JSON object a line, the same shape from every process of a coalition.

``{"ts", "level", "seat", "logger", "msg"}`` plus, when an exception is attached, ``"cause"``
(its type and message, the one line an operator reads) and ``"traceback"`` (the full text, in
the same line's JSON string, for a bug report). ``coalition logs`` renders them as text;
``--json`` passes them through for a log shipper.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from typing import Any


class JsonFormatter(logging.Formatter):
    def __init__(self, seat: str) -> None:
        super().__init__()
        self.seat = seat

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "seat": self.seat,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            entry["cause"] = f"{type(exc).__name__}: {exc}"
            entry["traceback"] = "".join(traceback.format_exception(exc)).rstrip()
        return json.dumps(entry, ensure_ascii=False)


def configure(seat: str, level: int = logging.INFO) -> None:
    """JSON lines on stderr (the supervisor appends them to the seat's log file)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(seat))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def render(line: str) -> str:
    """One log line as text for a terminal: JSON entries readable, anything else as it is."""
    try:
        e = json.loads(line)
    except ValueError:
        return line
    if not isinstance(e, dict) or "msg" not in e:
        return line
    cause = f" ({e['cause']})" if e.get("cause") else ""
    return f"{e.get('ts', '')} {e.get('level', '')} {e.get('logger', '')}: {e['msg']}{cause}"
