"""Durations as people write them, in Replicate's `Cancel-After` format: `30s`, `5m`, `1h30m`, `90`.

Units h, m and s, largest first, each at most once; a bare number is seconds. Used for the
`Cancel-After` header, a model's maximum run time and an owner's data retention.
"""

import re
from datetime import timedelta

DURATION = re.compile(r"^(?:(?P<h>\d{1,6})h)?(?:(?P<m>\d{1,6})m)?(?:(?P<s>\d{1,9}(?:\.\d{1,6})?)s?)?$")
MAX = timedelta(days=365)


def parse(text: str, minimum: timedelta = timedelta(0)) -> timedelta:
    """The duration `text` spells, at least `minimum`; ValueError saying what is wrong otherwise."""
    text = str(text).strip().lower()
    match = DURATION.match(text)
    if not text or not match:
        raise ValueError(f"{text!r} is not a duration: write it like 30s, 5m, 2h or 1h30m (a bare number is seconds)")
    value = timedelta(hours=int(match["h"] or 0), minutes=int(match["m"] or 0), seconds=float(match["s"] or 0))
    if value < minimum:
        raise ValueError(f"{text} is shorter than the minimum, {spell(minimum)}")
    if value > MAX:
        raise ValueError(f"{text} is longer than the maximum, {spell(MAX)}")
    return value


def spell(value: timedelta) -> str:
    """The shortest way `parse` reads back: 90 seconds is `1m30s`."""
    total = value.total_seconds()
    hours, rest = divmod(int(total), 3600)
    minutes, seconds = divmod(rest, 60)
    fraction = round(total - int(total), 6)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    if seconds or fraction or not (hours or minutes):
        parts.append(f"{seconds + fraction:g}s")
    return "".join(parts)
