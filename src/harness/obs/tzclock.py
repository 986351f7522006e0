"""Pin the wall clock that Alertmanager's time intervals see, without touching its code or config.

Alertmanager decides whether a route's ``active_time_intervals`` apply by converting *now* into
each interval's ``location`` (``time.LoadLocation``) and comparing weekday and time of day. The
real clock cannot be moved for a Go binary (``time.Now`` reads the vDSO, so LD_PRELOAD fakes do
not work), but Go looks the location up first in the directory named by ``ZONEINFO``. A TZif
file there under the same name (``Europe/London``) with one fixed UTC offset, chosen so that
*now* in that zone reads as the local time we want, makes the real binary evaluate the committed
weekdays and times at that moment. What it does not exercise is the zone's real offset rules
(GMT/BST): those belong to the tz database, not to our configuration.

The pinned local time advances with the real clock from the moment the file is written.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_DESIGNATION = b"PINNED\0"


def tzif_fixed_offset(offset_seconds: int) -> bytes:
    """A version-1 TZif file with no transitions and one local-time type at ``offset_seconds``.

    Go accepts offsets of several days (it does not range-check ``utoff``), which is what lets a
    pinned clock land on any weekday.
    """
    header = b"TZif" + b"\0" + b"\0" * 15
    # counts: isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
    header += struct.pack(">6l", 0, 0, 0, 0, 1, len(_DESIGNATION))
    ttinfo = struct.pack(">lBB", offset_seconds, 0, 0)
    return header + ttinfo + _DESIGNATION


@dataclass(frozen=True)
class ZoneClock:
    """Make ``locations`` read ``local_now`` (a naive wall-clock time) at the moment of writing."""

    local_now: datetime
    locations: tuple[str, ...]

    def offset_seconds(self, now: datetime | None = None) -> int:
        if self.local_now.tzinfo is not None:
            raise ValueError("local_now is a wall-clock reading: pass a naive datetime")
        current = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        return round((self.local_now - current).total_seconds())

    def write(self, directory: Path, now: datetime | None = None) -> dict[str, str]:
        """Write the zone files under ``directory``; returns the environment that selects them."""
        if not self.locations:
            raise ValueError("no location to pin: time intervals without one are in UTC")
        data = tzif_fixed_offset(self.offset_seconds(now))
        for name in _checked(self.locations):
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return {"ZONEINFO": str(directory)}


def _checked(locations: Iterable[str]) -> list[str]:
    names = []
    for name in locations:
        # "UTC" and "Local" never reach ZONEINFO in Go; anything path-like would escape it.
        if name in ("", "UTC", "Local") or name.startswith("/") or ".." in name.split("/"):
            raise ValueError(f"location {name!r} cannot be pinned through ZONEINFO")
        names.append(name)
    return names
