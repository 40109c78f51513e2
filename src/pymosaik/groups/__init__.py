"""Groups: mosaik's replicated state machines (Raft core, log storage, machines).

Bonds, the asyncio group driver and collections build on this package.
"""

from .machine import ApplyContext, NoOp, StateMachine

__all__ = ["ApplyContext", "NoOp", "StateMachine"]
