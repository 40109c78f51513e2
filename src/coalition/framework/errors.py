"""The failures an organism's typed handles raise."""

from __future__ import annotations

from ..retirement import RetirementMarker

__all__ = ["ConnectTimeout", "OrganismError", "OrganismRetired", "Refused"]


class OrganismError(Exception):
    """Base of every organism handle failure."""


class ConnectTimeout(OrganismError):  # noqa: N818 - the book's name
    """Nothing answered for this Config within the deadline.

    A typo'd instance name, a wrong member order, a content mismatch and a
    retired organism whose members are gone all derive other ids, so they all
    look the same from outside: silence. The book's ladder names this one error.
    """

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"no committee answered for {what} within {seconds:g} s")
        self.what = what
        self.seconds = seconds


class OrganismRetired(OrganismError):  # noqa: N818 - the book's name
    """The surface committed its retirement marker; nothing more will come."""

    def __init__(self, what: str, marker: RetirementMarker) -> None:
        successor = marker.replacement
        hint = f"; successor: {successor.kind} {successor.name!r}" if successor else ""
        super().__init__(f"{what} retired ({marker.reason}){hint}")
        self.what = what
        self.marker = marker


class Refused(OrganismError):  # noqa: N818 - reads as a verdict
    """The committee refused a write (bad signature, not authorised, retired, ...)."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what} refused the request: {reason}")
        self.reason = reason
