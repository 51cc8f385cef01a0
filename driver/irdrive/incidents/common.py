"""What every incident command shares: who is acting, the responder's time zone, and how a
time is shown (UTC, and the responder's zone beside it). No database imports."""

from __future__ import annotations

import getpass
import os
import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from irdrive.errors import UsageError

ENV_USER = "IRDRIVE_USER"
ENV_TZ = "IRDRIVE_TZ"


def actor() -> str:
    """Who is acting: $IRDRIVE_USER, else the login name."""
    name = os.environ.get(ENV_USER, "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def zone(name: str | None = None) -> tzinfo:
    """The responder's zone: ``name`` (--tz), else $IRDRIVE_TZ, else $TZ, else the system's."""
    name = name or os.environ.get(ENV_TZ) or os.environ.get("TZ")
    if name:
        try:
            return ZoneInfo(name.lstrip(":"))
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(
                f"unknown time zone {name!r} (an IANA name such as Europe/Berlin)"
            ) from None
    local = datetime.now().astimezone().tzinfo
    return local or UTC


def fmt_time(value: datetime | None, tz: tzinfo | None = None, *, seconds: bool = False) -> str:
    """``2026-12-02 03:15 UTC (04:15 CET)``: UTC first, the responder's zone after it when it
    is not UTC; "-" for no time."""
    if value is None:
        return "-"
    pattern = "%H:%M:%S" if seconds else "%H:%M"
    utc = value.astimezone(UTC)
    text = utc.strftime(f"%Y-%m-%d {pattern} UTC")
    if tz is not None:
        local = value.astimezone(tz)
        if local.utcoffset() != utc.utcoffset():
            day = "" if local.date() == utc.date() else local.strftime("%Y-%m-%d ")
            text += f" ({day}{local.strftime(pattern)} {local.tzname()})"
    return text


def fmt_duration(seconds: float | None) -> str:
    """``1h 05m``, ``12m 30s``, ``45s``; negative durations get a minus sign; None is "-"."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    total = int(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours:02d}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m {secs:02d}s"
    return f"{sign}{secs}s"


_SINCE_RE = re.compile(r"^(\d+)\s*([mhdw])$")
_AGE_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: datetime) -> datetime:
    """``--since`` of ``incident list`` and ``incident stats``: ``30d``, ``12h``, ``90m``,
    ``2w`` before ``now`` (any case, a space allowed before the unit), or an ISO date or time
    (UTC unless it names its offset; not in the future). A UsageError saying which forms
    are accepted else."""
    value = str(text).strip()
    found = _SINCE_RE.match(value.lower())
    if found:
        amount = int(found.group(1))
        if amount <= 0:
            raise UsageError(f"invalid --since {text!r}: give a positive amount, e.g. 30d")
        return now - timedelta(seconds=amount * _AGE_UNITS[found.group(2)])
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"invalid --since {text!r}: Nm, Nh, Nd, Nw (e.g. 30d) or an ISO date (2026-11-01)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when > now:
        raise UsageError(f"invalid --since {text!r}: it is in the future")
    return when.astimezone(UTC)


_RUN_ACTOR = re.compile(r"^run:\d{8}T\d{6}(?:\.\d+)?Z-(?P<runbook>.+)$")


def short_actor(actor: str) -> str:
    """An actor as a table shows it: a run's ``run:<run id>`` (its folder's name, a timestamp
    and the runbook) as ``run:<runbook>`` (the row's time says which run); others as they are."""
    match = _RUN_ACTOR.match(actor)
    return f"run:{match['runbook']}" if match else actor
