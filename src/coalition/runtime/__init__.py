"""Running a coalition's module committees as local processes (`coalition up`).

* `plan` — the data directory: keys (0600), loopback ports and ``plan.json``;
* `member` — one committee member process (``python -m coalition.runtime.member``);
* `supervisor` — spawns, restarts and stops the members, writes its own state;
* `status` — reads the status files back into one table for ``up`` and ``status``.

Layout and operator workflow: docs/operators/runbook.md.
"""
