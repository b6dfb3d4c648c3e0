"""GitLab's human durations (``timeout: 1h 30m``, ``start_in: 2 days``, ``expire_in: 1 week``).

GitLab parses them with ChronicDuration: numbers with optional units, summed; a bare number is seconds;
``hh:mm:ss`` also works; a month is 30 days and a year 365 days here. ``parse`` answers ``None`` for
anything it does not understand, which GitLab reports as "should be a duration".
"""

from __future__ import annotations

import re

_UNITS: dict[str, int] = {}
for names, seconds in (
    (("s", "sec", "secs", "second", "seconds"), 1),
    (("m", "min", "mins", "minute", "minutes"), 60),
    (("h", "hr", "hrs", "hour", "hours"), 3600),
    (("d", "day", "days"), 86400),
    (("w", "wk", "wks", "week", "weeks"), 7 * 86400),
    (("mo", "mon", "mos", "mons", "month", "months"), 30 * 86400),
    (("y", "yr", "yrs", "year", "years"), 365 * 86400),
):
    for name in names:
        _UNITS[name] = seconds

_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+)(?:\.\d+)?$")


def parse(text: object) -> int | None:
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text
    if not isinstance(text, str):
        return None
    value = text.strip().lower()
    if not value:
        return None
    if clock := _CLOCK.match(value):
        hours, minutes, seconds = (int(part) if part else 0 for part in clock.groups())
        return hours * 3600 + minutes * 60 + seconds
    value = re.sub(r"\band\b|,", " ", value)
    total = 0.0
    pos = 0
    matched = False
    for match in _PART.finditer(value):
        if value[pos : match.start()].strip():
            return None
        number, unit = match.groups()
        if unit and unit not in _UNITS:
            return None
        total += float(number) * _UNITS.get(unit or "s", 1)
        pos = match.end()
        matched = True
    if not matched or value[pos:].strip():
        return None
    return int(total)


def within(text: object, limit_seconds: int) -> bool:
    seconds = parse(text)
    return seconds is not None and seconds <= limit_seconds


WEEK = 7 * 86400
