"""The hand-entry form: one customer's daily readings typed or pasted as ``date,kWh`` lines."""

from __future__ import annotations

import re

from ntl.errors import MeterDataError

MAX_LINES = 5000  # about 13 years of days: a pasted whole export is refused, not parsed
_SEPARATOR = re.compile(r"\s*[,;\t ]\s*")


def parse_readings_text(text: str) -> dict[str, str | None]:
    """``date,kWh`` lines -> {date: kWh text or None for a blank reading}, in the order given.

    Commas, semicolons, tabs or spaces separate the two fields; blank lines and a first line
    naming the columns (``date,kwh``) are skipped. Dates and numbers are checked by
    ``ntl.score.readings_frame`` with the loader's own rules; here a line that is not two fields
    gets a MeterDataError naming its line number.
    """
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise MeterDataError(f"readings: {len(lines)} lines, at most {MAX_LINES} are accepted")
    readings: dict[str, str | None] = {}
    for number, line in enumerate(lines, start=1):  # a form's lines, bounded by MAX_LINES
        stripped = line.strip()
        if not stripped:
            continue
        fields = _SEPARATOR.split(stripped, maxsplit=1)
        if number == 1 and fields[0].lower() in ("date", "day"):
            continue
        if len(fields) == 1:
            fields.append("")
        date, value = fields[0], fields[1].strip()
        if _SEPARATOR.search(value):
            raise MeterDataError(f"readings line {number}: expected 'date,kWh', got {stripped!r}")
        if date in readings:
            raise MeterDataError(f"readings line {number}: {date} is given twice")
        readings[date] = value or None
    if not readings:
        raise MeterDataError("readings: no lines given (type one 'date,kWh' line per day)")
    return readings
