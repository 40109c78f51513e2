"""Structured logs: one JSON object a line, with the failure's cause on the same line."""

from __future__ import annotations

import json
import logging
import sys

from coalition.runtime.logs import JsonFormatter, render


def test_a_failure_is_one_json_line_with_its_cause() -> None:
    fmt = JsonFormatter("almanac-2")
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        record = logging.LogRecord(
            "coalition.x", logging.ERROR, __file__, 1, "start failed %s", ("!",), None
        )
        record.exc_info = sys.exc_info()
    line = fmt.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["seat"] == "almanac-2" and entry["level"] == "ERROR"
    assert entry["msg"] == "start failed !"
    assert entry["cause"] == "ZeroDivisionError: division by zero"
    assert "Traceback" in entry["traceback"]
    assert render(line).endswith(
        "coalition.x: start failed ! (ZeroDivisionError: division by zero)"
    )
    assert render("plain text line") == "plain text line"
