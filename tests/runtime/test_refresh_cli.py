"""`coalition refresh MODULE --data DIR`: its errors are one line without a traceback — exit 2
for what the operator can fix (no data directory, not running, no such module or key), exit 1
when the committee refuses (with its reason). The success path against a real `coalition up`
is in test_refresh_up.py (slow)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from unittest import mock

import pytest

from coalition.cli import main
from coalition.config_file import load_coalition
from coalition.framework.errors import Refused
from coalition.runtime.plan import create_or_load

TRIO = Path(__file__).parent / "trio.toml"
BEACON = Path(__file__).parents[2] / "examples" / "coalitions" / "local-beacon.toml"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with mock.patch.object(sys, "argv", ["coalition", *args]), pytest.raises(SystemExit) as exc:
        main()
    captured = capsys.readouterr()
    code = exc.value.code
    return code if isinstance(code, int) else 1, captured.out, captured.err


def one_line(capsys: pytest.CaptureFixture[str], code: int, *args: str, needle: str) -> str:
    got, _, err = run(capsys, *args)
    assert got == code, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert needle in err, err
    return err


def test_what_the_operator_can_fix_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nowhere")
    one_line(capsys, 2, "refresh", "randomness", "--data", missing, needle="no coalition data")
    one_line(capsys, 2, "refresh", "weather", "--data", missing, needle="'weather' is not a module")
    data = tmp_path / "trio"
    create_or_load(data, load_coalition(TRIO).config)
    one_line(capsys, 2, "refresh", "randomness", "--data", str(data), needle="ships no randomness")
    one_line(capsys, 2, "refresh", "atlas", "--data", str(data), needle="no key its operator")
    beacon = tmp_path / "beacon"
    create_or_load(beacon, load_coalition(BEACON).config)
    one_line(capsys, 2, "refresh", "randomness", "--data", str(beacon), needle="not running")


def test_a_refusal_is_one_line_with_the_committee_s_reason_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "beacon"
    create_or_load(data, load_coalition(BEACON).config)
    refusal = Refused("randomness of coalition 'x'", "a key refresh is already under way")
    with (
        mock.patch("coalition.cli.supervisor_pid", return_value=1),
        mock.patch("coalition.runtime.refresh.refresh_running", side_effect=refusal),
    ):
        err = one_line(
            capsys, 1, "refresh", "randomness", "--data", str(data), needle="already under way"
        )
        assert err.startswith("local-beacon.demo: ")
        code, out, err = run(capsys, "refresh", "randomness", "--data", str(data), "--json")
    assert code == 1 and not err
    doc = json.loads(out)
    assert doc["module"] == "randomness" and "already under way" in doc["error"]
