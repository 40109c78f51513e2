"""Deterministic simulation: virtual clock and network, fault schedules, checkers."""

from .campaign import Campaign, CampaignResult, add_seed_arguments, chosen_seeds
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
    raft_campaign,
    run_seed,
)

__all__ = [
    "DISK_SWITCHES",
    "DRIVER_SWITCHES",
    "UNSAFE_SWITCHES",
    "Campaign",
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
    "add_seed_arguments",
    "check_history",
    "check_key",
    "chosen_seeds",
    "raft_campaign",
    "run_seed",
]
