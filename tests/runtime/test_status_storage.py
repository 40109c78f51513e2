"""`coalition status` shows a member that found damaged storage, from its status.json."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

from coalition.config_file import load_coalition
from coalition.modules import ModuleKind
from coalition.runtime.files import now, write_json_atomic
from coalition.runtime.plan import create_or_load
from coalition.runtime.status import collect, render

TRIO = Path(__file__).parent / "trio.toml"
FAULT = "damaged entry at index 4 in /data/chronicle/1/raft.sqlite3: checksum mismatch"


def test_a_damaged_disk_shows_in_status_json_and_table(tmp_path: Path) -> None:
    plan, _ = create_or_load(tmp_path, load_coalition(TRIO).config)
    me = plan.committee(ModuleKind.CHRONICLE)[0]
    status = {
        "pid": os.getpid(),
        "state": "running",
        "error": None,
        "updated_at": now(),
        "module_status": {"committed": 7, "storage_fault": FAULT, "repairing": True},
    }
    write_json_atomic(tmp_path / me.data_dir / "status.json", status)
    snap = collect(tmp_path, plan)
    chronicle = next(c for c in snap.committees if c.module == ModuleKind.CHRONICLE.value)
    view = next(m for m in chronicle.members if m.name == me.name)
    assert view.up and view.storage_fault == FAULT and view.repairing
    others = [m for m in chronicle.members if m is not view]
    assert all(m.storage_fault is None for m in others)
    as_json = snap.as_json()["committees"]["chronicle"]["members"]
    assert [m["storage_fault"] for m in as_json].count(FAULT) == 1
    console = Console(width=300, record=True)
    console.print(render(snap))
    text = console.export_text()
    assert "disk damaged, repairing" in text
    assert "damaged entry at index 4" in text
