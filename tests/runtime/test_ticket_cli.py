"""``coalition ticket``: the operator issues a committee reader or writer ticket from a data
directory; the committee's own validator accepts it for its holder only; mistakes are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coalition.config_file import load_coalition
from coalition.modules import ModuleKind
from coalition.runtime.plan import create_or_load, load_process_key
from coalition.services.committee_access import module_access
from coalition.ticket_issuer import IssuedTicket
from pymosaik.primitives import UNIVERSE, SecretKey, decode
from pymosaik.tickets import AnyOf, InvalidTicketError, Ticket
from tests.coalition_cli import cli

BEACON = Path(__file__).parents[2] / "examples" / "coalitions" / "local-beacon.toml"


class _Peer:
    """A peer presenting the ticket on the coalition's network."""

    def __init__(self, key: SecretKey) -> None:
        self.peer_id, self.network_id = key.peer_id, UNIVERSE


def test_a_reader_ticket_admits_its_holder_to_the_committee_log(tmp_path: Path) -> None:
    cfg = load_coalition(BEACON).config
    plan, _ = create_or_load(tmp_path, cfg)
    holder, other = SecretKey.generate(), SecretKey.generate()
    res = cli("ticket", "compute", "--holder", holder.peer_id.hex(), "--data", str(tmp_path),
              "--ttl", "1h", "--json")  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    ticket = decode(bytes.fromhex(doc["ticket"]), Ticket)
    operator = load_process_key(tmp_path, plan.operator_key_file)
    access = module_access(cfg, ModuleKind.COMPUTE, operator.peer_id)
    readers, writers = AnyOf(access.observers), AnyOf(access.forwarders)  # type: ignore[arg-type]
    now = ticket_issued(ticket) + 1
    assert readers.evaluate([ticket], _Peer(holder), now) is not None
    with pytest.raises(InvalidTicketError):
        readers.evaluate([ticket], _Peer(other), now)  # another peer with the holder's ticket
    with pytest.raises(InvalidTicketError):
        writers.evaluate([ticket], _Peer(holder), now)  # a reader ticket is not a writer's
    hour = 3_600_000
    with pytest.raises(InvalidTicketError):  # --ttl 1h: expired an hour later
        readers.evaluate([ticket], _Peer(holder), ticket_issued(ticket) + hour + 1)
    res = cli("ticket", "compute", "--holder", holder.peer_id.hex(), "--data", str(tmp_path),
              "--role", "writer")  # fmt: skip
    writer = decode(bytes.fromhex(res.stdout.strip()), Ticket)
    assert writers.evaluate([writer], _Peer(holder), ticket_issued(writer) + 1) is not None


def ticket_issued(ticket: Ticket) -> int:
    return decode(ticket.data, IssuedTicket).issued_ms


def test_mistakes_are_one_line(tmp_path: Path) -> None:
    create_or_load(tmp_path, load_coalition(BEACON).config)
    peer = SecretKey.generate().peer_id.hex()
    for args, says in [
        (("ticket", "nothing", "--holder", peer), "not a module"),
        (("ticket", "compute", "--holder", "zz"), "--holder"),
        (("ticket", "compute", "--holder", peer, "--role", "member"), "reader or writer"),
        (("ticket", "compute", "--holder", peer, "--ttl", "-1s"), "--ttl"),
    ]:
        res = cli(*args, "--data", str(tmp_path))
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1, (args, res.stderr)
        assert lines[0].startswith("error: ") and says in lines[0], lines
