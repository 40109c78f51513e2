"""The web status page of a running coalition: the same figures as ``coalition status``.

``GET /`` is one self-contained page (no CDN, no cookies) whose script polls ``/api/status``
every 2 s and redraws with ``textContent`` only — no string from the data directory is ever
parsed as HTML. ``GET /api/status`` is exactly ``coalition status --json``; ``GET /health``
answers the health word with 200 (healthy, starting, degraded) or 503 (below quorum, not
running), the rule of the status exit codes. Served by ``coalition web`` or ``coalition up
--web``; it reads the data directory's files and never talks to the network.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .plan import load_plan
from .status import EXIT_DOWN, collect

__all__ = ["PAGE", "WebServer", "make_app", "parse_listen"]

_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}


def make_app(data_dir: Path) -> Starlette:
    """The page, its JSON and the health check for the coalition in ``data_dir``."""

    def snapshot_json() -> dict[str, object]:
        return collect(data_dir, load_plan(data_dir)).as_json()

    async def page(_: Request) -> Response:
        return HTMLResponse(PAGE, headers=_HEADERS)

    async def api_status(_: Request) -> Response:
        return JSONResponse(snapshot_json(), headers=_HEADERS)

    async def health(_: Request) -> Response:
        snap = collect(data_dir, load_plan(data_dir))
        word, code = snap.health()
        return JSONResponse(
            {"health": word}, status_code=503 if code == EXIT_DOWN else 200, headers=_HEADERS
        )

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/status", api_status),
            Route("/health", health),
        ]
    )


PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>coalition status</title>
<style>
 body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222;background:#fafafa}
 h1{font-size:1.3rem;margin:0 0 .2rem} .fp{font-family:monospace;color:#666;word-break:break-all}
 .badge{display:inline-block;padding:.15rem .6rem;border-radius:1rem;color:#fff;font-weight:600}
 .healthy{background:#2e7d32}.starting,.degraded{background:#b26a00}
 .below-quorum,.not-running,.unreachable{background:#c62828}
 table{border-collapse:collapse;margin:.8rem 0;background:#fff;min-width:60%}
 th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}
 th{background:#f0f0f0} .up{color:#2e7d32}.down{color:#c62828}.boot{color:#b26a00}
 code{background:#eee;padding:.1rem .3rem;border-radius:3px;word-break:break-all}
 .muted{color:#777}
</style></head><body>
<h1 id="name">coalition</h1>
<div class="fp" id="fingerprint"></div>
<p>health <span id="health" class="badge">…</span>
 <span class="muted" id="updated"></span></p>
<p>bootstrap <code id="bootstrap">-</code> <button id="copy" type="button">copy</button>
 <span class="muted">(what integrators bind to)</span></p>
<p id="anchor" class="muted"></p>
<table id="committees"><thead><tr><th>committee</th><th>up</th><th>leader</th>
<th>figures</th><th>committed</th><th>restarts</th></tr></thead><tbody></tbody></table>
<table id="members"><thead><tr><th>member</th><th>state</th><th>leader</th><th>term</th>
<th>commit / apply</th><th>restarts</th><th>cause</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "-" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}
function figures(f) {
  return Object.keys(f).filter(k => k !== "committed").map(k => k + " " + f[k]).join(", ");
}
function draw(s) {
  document.getElementById("name").textContent = "coalition " + s.instance_name;
  document.getElementById("fingerprint").textContent = s.fingerprint;
  const badge = document.getElementById("health");
  badge.textContent = s.health;
  badge.className = "badge " + s.health;
  document.getElementById("bootstrap").textContent = s.bootstrap.length ? s.bootstrap[0] : "-";
  const a = s.anchor;
  document.getElementById("anchor").textContent = !a ? "" : a.mode === "off"
    ? "Chronicle heads are not anchored"
    : "anchor " + (a.simulated ? "SIMULATED local chain " : "") + (a.url || "") + " " + a.state;
  const cbody = document.querySelector("#committees tbody");
  const mbody = document.querySelector("#members tbody");
  cbody.replaceChildren();
  mbody.replaceChildren();
  for (const [name, c] of Object.entries(s.committees)) {
    const row = cbody.insertRow();
    row.dataset.module = name;
    cell(row, name);
    cell(row, c.up + "/" + c.size, 2 * c.up > c.size ? "up" : "down");
    cell(row, c.leader);
    cell(row, figures(c.figures) + (c.retired ? " (retired)" : ""));
    cell(row, c.figures.committed);
    cell(row, c.restarts);
    for (const m of c.members) {
      const r = mbody.insertRow();
      r.dataset.member = m.name;
      cell(r, m.name);
      cell(r, m.state, m.up ? "up" : (m.starting ? "boot" : "down"));
      cell(r, m.is_leader ? "leader" : "");
      cell(r, m.figures.term);
      cell(r, (m.figures.committed ?? "-") + " / " + (m.figures.applied ?? "-"));
      cell(r, m.restarts);
      cell(r, m.up ? "" : (m.error || m.storage_fault || ""));
    }
  }
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
}
async function refresh() {
  try {
    const r = await fetch("/api/status", {cache: "no-store"});
    draw(await r.json());
  } catch (e) {
    const badge = document.getElementById("health");
    badge.textContent = "unreachable";
    badge.className = "badge unreachable";
  }
}
document.getElementById("copy").addEventListener("click", () => {
  navigator.clipboard.writeText(document.getElementById("bootstrap").textContent);
});
refresh();
setInterval(refresh, 2000);
</script></body></html>
"""


class WebServer:
    """The page served inside an existing event loop (the supervisor's): uvicorn without its
    own signal handling, which belongs to the host process."""

    def __init__(self, data_dir: Path, host: str, port: int) -> None:
        import uvicorn  # noqa: PLC0415 - only the commands that serve the page need it

        class _Quiet(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        config = uvicorn.Config(
            make_app(data_dir), host=host, port=port, log_level="warning", lifespan="off"
        )
        self._server = _Quiet(config)
        self.url = f"http://{host}:{port}/"

    async def serve(self) -> None:
        await self._server.serve()

    def stop(self) -> None:
        self._server.should_exit = True


def parse_listen(text: str, default_port: int = 8480) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT``, ``PORT`` or ``HOST`` → (host, port); loopback by default."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = ("", text) if text.isdigit() else (text, str(default_port))
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"not a HOST:PORT: {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range: {port}")
    return (host.strip("[]") or "127.0.0.1"), port
