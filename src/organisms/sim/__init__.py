"""Seeded fault campaigns over the organisms' real machines and cores, with checkers:
``python -m organisms.sim shuffle|beacon|compute --seeds N [--seed S] [--broken NAME]``.

Each campaign runs in one process on a simulated clock (no Raft, no sockets: those faults are
the Raft and streams simulators' until the organism rung hosts these cores on the shared
kernel). ``--broken`` swaps in a deliberately wrong core; the tests show each is caught by the
checker meant for it.
"""
