"""Picking free loopback ports for nodes started by a parent (tests, `coalition up`)."""

from __future__ import annotations

import socket

__all__ = ["free_ports"]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Distinct free TCP ports on ``host`` (all held open until every one is chosen).

    The ports are free when returned; a process that binds one later can still
    lose a race with another program, as with any pre-chosen port.
    """
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
