"""GitLab's time-tracking durations: ``1mo 2w 3d 4h 30m``, where a month is 4 weeks, a week 5 days and
a day 8 hours (working time, as GitLab counts it)."""

from __future__ import annotations

import re

UNITS: dict[str, int] = {
    "mo": 4 * 5 * 8 * 3600,
    "w": 5 * 8 * 3600,
    "d": 8 * 3600,
    "h": 3600,
    "m": 60,
    "s": 1,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(mo|w|d|h|m|s)(?![a-z])")


def parse_duration(text: str) -> int | None:
    """Seconds in ``text`` (``"1h30m"``, ``"2d 4h"``, ``"-30m"``); None when it is not a duration.

    A bare number is read as hours, as GitLab's parser does.
    """
    raw = text.strip().lower()
    negative = raw.startswith("-")
    raw = raw.lstrip("-").strip()
    if not raw:
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        seconds = round(float(raw) * UNITS["h"])
    else:
        pos, seconds = 0, 0
        for match in _PART.finditer(raw):
            if raw[pos : match.start()].strip():
                return None
            seconds += round(float(match.group(1)) * UNITS[match.group(2)])
            pos = match.end()
        if pos == 0 or raw[pos:].strip():
            return None
    return -seconds if negative else seconds


def format_duration(seconds: int) -> str | None:
    """``5400`` → ``"1h 30m"``; None for zero, as GitLab's ``human_*`` fields are null then."""
    if not seconds:
        return None
    sign = "-" if seconds < 0 else ""
    rest = abs(seconds)
    parts = []
    for unit, size in UNITS.items():
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + " ".join(parts)
