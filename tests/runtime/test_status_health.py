"""`coalition status` health and exit codes, and the bootstrap address it names."""

from __future__ import annotations

import dataclasses

from coalition.runtime.metrics import health
from coalition.runtime.status import (
    EXIT_DEGRADED,
    EXIT_DOWN,
    EXIT_HEALTHY,
    AnchorView,
    CommitteeView,
    MemberView,
    Snapshot,
    render,
)


def member(i: int, *, up: bool = True, **kw: object) -> MemberView:
    return MemberView(
        f"atlas-{i}",
        i,
        "ab" * 32,
        up,
        "running" if up else "down",
        10 + i,
        0,
        i == 1,
        "ab" * 32,
        {},
        None,
        **kw,
    )  # type: ignore[arg-type]


def snap(*members: MemberView, pid: int | None = 99, anchor: AnchorView | None = None) -> Snapshot:
    return Snapshot(
        "trio",
        "f" * 64,
        pid,
        "running",
        (CommitteeView("atlas", members, "atlas-1", {}, False),),
        anchor,
        ("ab" * 32 + "@127.0.0.1:4001",),
    )


def test_health_words_and_exit_codes() -> None:
    three = [member(i) for i in (1, 2, 3)]
    assert snap(*three).health() == ("healthy", EXIT_HEALTHY)
    assert snap(three[0], three[1], member(3, up=False)).health() == ("degraded", EXIT_DEGRADED)
    assert snap(three[0], member(2, up=False), member(3, up=False)).health() == (
        "below-quorum",
        EXIT_DOWN,
    )
    assert snap(*three, pid=None).health() == ("not-running", EXIT_DOWN)
    repairing = dataclasses.replace(three[2], repairing=True)
    assert snap(three[0], three[1], repairing).health()[0] == "degraded"
    anchor_down = AnchorView("simulated", "http://x", None, None, False, 3, state="down")
    assert snap(*three, anchor=anchor_down).health()[0] == "degraded"


def test_status_json_and_table_name_health_and_bootstrap() -> None:
    s = snap(*(member(i) for i in (1, 2, 3)))
    assert s.as_json()["health"] == "healthy"
    assert s.as_json()["bootstrap"] == ["ab" * 32 + "@127.0.0.1:4001"]
    caption = str(render(s).caption)
    assert "health [green]healthy[/]" in caption and "bootstrap " + "ab" * 32 in caption


def test_member_health_endpoint_words() -> None:
    running = {"state": "running", "module_status": {"leader": "ab"}}
    assert health(running) == "ready"
    assert health({"state": "running", "module_status": {}}) == "degraded"  # no leader known
    assert health(running | {"module_status": {"leader": "ab", "repairing": True}}) == "degraded"
    assert health({"state": "starting"}) == "down"
    assert health({"state": "failed", "module_status": {"leader": "ab"}}) == "down"


def test_members_booting_within_their_grace_are_starting_not_down() -> None:
    """A Chronicle member waits for its anchor node at every start: yellow `starting`, not a
    red `down`; the committee holds quorum; health says starting (exit 1), not below quorum."""
    booting = [
        dataclasses.replace(member(i, up=False), state="starting", starting=True) for i in (1, 2)
    ]
    s = snap(member(3), *booting)
    assert s.health() == ("starting", EXIT_DEGRADED)
    table = render(s)
    members_cell = str(table.columns[-1]._cells[0])
    assert "[yellow]starting" in members_cell and "[red]" not in members_cell
    doc = s.as_json()["committees"]["atlas"]["members"]
    assert [m["starting"] for m in doc] == [False, True, True]
    # once the grace is over a member still `starting` is down again: below quorum
    stuck = [dataclasses.replace(b, starting=False) for b in booting]
    assert snap(member(3), *stuck).health() == ("below-quorum", EXIT_DOWN)
    # a member down beside a booting one: degraded, not starting
    assert snap(member(3), booting[0], member(2, up=False)).health() == ("degraded", EXIT_DEGRADED)
