"""A Jepsen-style harness: coalition members on network namespaces, a nemesis, checkers.

``python -m jepsen run`` runs a campaign (docs/operators/runbook.md, "Proving it across
hosts"); ``python -m jepsen cleanup`` removes what a killed run left behind. The checkers
(jepsen.checkers) are pure functions of a history (jepsen.history) and are unit-tested on
crafted histories.
"""
