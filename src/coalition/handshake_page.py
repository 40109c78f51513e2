"""The operator's handshake page: everything an integrator compiles in, as Markdown and HTML.

The operator chapters list what the page carries: the fingerprint, the
struct, the ordered members table with stable ids and pinned content hashes,
the modules shipped and explicitly not shipped, the ticket-issuer root and
the change channel. Both renderings come from one `HandshakeFacts` value so
they cannot disagree.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import CoalitionConfig
from .config_file import CoalitionFile, MemberLabel
from .identity import MemberId
from .modules import ModuleKind

__all__ = ["HandshakeFacts", "facts_of", "render_html", "render_markdown", "write_pages"]

CHANGE_CHANNEL_PLACEHOLDER = (
    "(operator to fill in: where CoalitionConfig bumps, rotations and retirements are announced)"
)


@dataclass(frozen=True)
class ModuleFacts:
    kind: str
    name: str
    module_root: str
    committee: str
    content_hash: str


@dataclass(frozen=True)
class HandshakeFacts:
    instance_name: str
    stable_id: str
    coalition_root: str
    handshake_hex: str
    schema_version: int
    retirement_policy: str
    members: tuple[MemberLabel, ...]
    shipped: tuple[ModuleFacts, ...]
    not_shipped: tuple[str, ...]
    ticket_issuer: str | None
    ticket_issuer_root: str | None
    python_constant: str

    def as_json(self) -> dict[str, Any]:
        return {
            "instance_name": self.instance_name,
            "stable_id": self.stable_id,
            "coalition_root": self.coalition_root,
            "schema_version": self.schema_version,
            "retirement_policy": self.retirement_policy,
            "members": [
                {
                    "kind": m.kind,
                    "name": m.name,
                    "stable_id": m.stable_id.hex(),
                    "member_id": MemberId.of(m.stable_id).hex(),
                    "content_hash": m.content_hash.hex() if m.content_hash else None,
                }
                for m in self.members
            ],
            "modules": {
                f.kind: {
                    "name": f.name,
                    "module_root": f.module_root,
                    "committee": f.committee,
                    "content_hash": f.content_hash,
                }
                for f in self.shipped
            },
            "modules_not_shipped": list(self.not_shipped),
            "ticket_issuer_root": self.ticket_issuer_root,
            "handshake_hex": self.handshake_hex,
        }


def _python_constant(cfg: CoalitionConfig) -> str:
    """The constant an integrator pastes in (ids as hex, modules summarised)."""
    const = cfg.instance_name.upper().replace("-", "_").replace(".", "_")
    ident = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in const)
    lines = [f"{ident} = CoalitionConfig.from_hex(", f'    "{cfg.to_hex()}"', ")"]
    lines += [f'assert {ident}.stable_id() == UniqueId.from_hex("{cfg.stable_id().hex()}")']
    return "\n".join(lines)


def facts_of(source: CoalitionFile | CoalitionConfig) -> HandshakeFacts:
    if isinstance(source, CoalitionFile):
        cfg, members = source.config, source.members
    else:
        cfg = source
        members = tuple(MemberLabel("lattice", "lattice", s, None) for s in cfg.lattices) + tuple(
            MemberLabel("organism", r.role, r.stable_id, r.content_hash) for r in cfg.organisms
        )
    shipped = []
    for kind in cfg.shipped_modules():
        slot, root, committee = cfg.module(kind), cfg.module_root(kind), cfg.module_committee(kind)
        assert slot is not None
        assert root is not None
        assert committee is not None
        shipped.append(
            ModuleFacts(
                kind.value, slot.body.name, root.hex(), committee.hex(), slot.content_hash().hex()
            )
        )
    issuer_root = cfg.ticket_issuer_root()
    return HandshakeFacts(
        instance_name=cfg.instance_name,
        stable_id=cfg.stable_id().hex(),
        coalition_root=cfg.coalition_root().hex(),
        handshake_hex=cfg.to_hex(),
        schema_version=cfg.schema_version,
        retirement_policy=cfg.retirement_policy.name.lower(),
        members=members,
        shipped=tuple(shipped),
        not_shipped=tuple(k.value for k in ModuleKind if k not in cfg.shipped_modules()),
        ticket_issuer=cfg.ticket_issuer.name if cfg.ticket_issuer else None,
        ticket_issuer_root=issuer_root.hex() if issuer_root else None,
        python_constant=_python_constant(cfg),
    )


def _member_rows(f: HandshakeFacts) -> list[list[str]]:
    return [
        [
            str(i),
            m.kind,
            m.name,
            m.stable_id.hex(),
            MemberId.of(m.stable_id).hex(),
            m.content_hash.hex() if m.content_hash else "not pinned",
        ]
        for i, m in enumerate(f.members)
    ]


_MEMBER_HEAD = ["#", "kind", "role / name", "stable id", "member id", "pinned content hash"]
_MODULE_HEAD = ["module", "name", "module root", "committee", "content hash"]


def render_markdown(f: HandshakeFacts) -> str:
    def table(head: list[str], rows: list[list[str]]) -> list[str]:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(f"`{c}`" if len(c) >= 40 else c for c in r) + " |" for r in rows]
        return out

    lines = [
        f"# Coalition handshake: {f.instance_name}",
        "",
        "## Fingerprint",
        "",
        f"`{f.stable_id}`",
        "",
        "Compile the configuration below in and compare its `stable_id()` with this value "
        "(`coalition verify FILE --expect HEX`).",
        "",
        f"- coalition root: `{f.coalition_root}`",
        f"- schema version: {f.schema_version}",
        f"- retirement policy: {f.retirement_policy}",
        "",
        "## Struct",
        "",
        "```python",
        "from coalition import CoalitionConfig, UniqueId",
        "",
        f.python_constant,
        "```",
        "",
        "## Members (in order)",
        "",
        *table(_MEMBER_HEAD, _member_rows(f)),
        "",
        "## Modules",
        "",
    ]
    if f.shipped:
        lines += table(
            _MODULE_HEAD,
            [[m.kind, m.name, m.module_root, m.committee, m.content_hash] for m in f.shipped],
        )
    else:
        lines.append("No basic service is shipped.")
    lines += ["", "Explicitly not shipped: " + (", ".join(f.not_shipped) or "none"), ""]
    lines += ["## Ticket issuer", ""]
    if f.ticket_issuer_root:
        lines += [f"`{f.ticket_issuer}` — issuance root `{f.ticket_issuer_root}`."]
        lines += ["Components opt in by recognising this root; nothing is compelled."]
    else:
        lines.append("No coalition-scoped ticket issuer.")
    lines += ["", "## Change channel", "", CHANGE_CHANNEL_PLACEHOLDER, ""]
    return "\n".join(lines)


def render_html(f: HandshakeFacts) -> str:
    e = html.escape

    def table(head: list[str], rows: list[list[str]]) -> str:
        th = "".join(f"<th>{e(h)}</th>" for h in head)
        trs = "".join(
            "<tr>" + "".join(f"<td><code>{e(c)}</code></td>" for c in r) + "</tr>" for r in rows
        )
        return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"

    modules = (
        table(
            _MODULE_HEAD,
            [[m.kind, m.name, m.module_root, m.committee, m.content_hash] for m in f.shipped],
        )
        if f.shipped
        else "<p>No basic service is shipped.</p>"
    )
    issuer = (
        f"<p><code>{e(f.ticket_issuer or '')}</code> — issuance root "
        f"<code>{e(f.ticket_issuer_root)}</code>. Components opt in by recognising this root.</p>"
        if f.ticket_issuer_root
        else "<p>No coalition-scoped ticket issuer.</p>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Coalition handshake: {e(f.instance_name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; max-width: 80rem; }}
code, pre {{ font-family: ui-monospace, monospace; word-break: break-all; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .3rem; }}
.fp {{ font-size: 1.2rem; background: #f4f4f4; padding: .5rem; }}
</style></head><body>
<h1>Coalition handshake: {e(f.instance_name)}</h1>
<h2>Fingerprint</h2>
<p class="fp"><code id="stable-id">{e(f.stable_id)}</code></p>
<ul><li>coalition root: <code>{e(f.coalition_root)}</code></li>
<li>schema version: {f.schema_version}</li>
<li>retirement policy: {e(f.retirement_policy)}</li></ul>
<h2>Struct</h2>
<pre><code>from coalition import CoalitionConfig, UniqueId

{e(f.python_constant)}</code></pre>
<h2>Members (in order)</h2>
{table(_MEMBER_HEAD, _member_rows(f))}
<h2>Modules</h2>
{modules}
<p>Explicitly not shipped: {e(", ".join(f.not_shipped) or "none")}</p>
<h2>Ticket issuer</h2>
{issuer}
<h2>Change channel</h2>
<p>{e(CHANGE_CHANNEL_PLACEHOLDER)}</p>
</body></html>
"""


def write_pages(source: CoalitionFile, out_dir: Path) -> tuple[Path, Path, Path]:
    """Write ``<stem>.md``, ``<stem>.html`` and ``<stem>.json`` into ``out_dir``."""
    facts = facts_of(source)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = source.path.stem
    md, page, js = (out_dir / f"{stem}.{ext}" for ext in ("md", "html", "json"))
    md.write_text(render_markdown(facts), encoding="utf-8")
    page.write_text(render_html(facts), encoding="utf-8")
    js.write_text(json.dumps(facts.as_json(), indent=2, ensure_ascii=False) + "\n", "utf-8")
    return md, page, js
