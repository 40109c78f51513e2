"""Deterministic simulation: virtual clock and network, fault schedules, checkers."""

from .campaign import CampaignResult, run_campaign
from .checkers import SafetyChecker
from .kernel import Kernel, Violation
from .linearizability import Operation, OpKind, check_history, check_key
from .network import LinkFaults, VirtualNetwork
from .world import (
    DISK_SWITCHES,
    DRIVER_SWITCHES,
    UNSAFE_SWITCHES,
    SeedResult,
    SimOptions,
    World,
    run_seed,
)

__all__ = [
    "DISK_SWITCHES",
    "DRIVER_SWITCHES",
    "UNSAFE_SWITCHES",
    "CampaignResult",
    "Kernel",
    "LinkFaults",
    "OpKind",
    "Operation",
    "SafetyChecker",
    "SeedResult",
    "SimOptions",
    "Violation",
    "VirtualNetwork",
    "World",
    "check_history",
    "check_key",
    "run_campaign",
    "run_seed",
]
