"""The case log as CSV or JSON lines, shared by `commentwarden db export` and `/modlog export`."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterable
from dataclasses import fields
from typing import TextIO

from bot.store.cases import Case

COLUMNS = ["case_number"] + [f.name for f in fields(Case) if f.name not in ("case_number", "dedup_key")]


def _cell(value: object) -> object:
    """Spreadsheet apps run cells starting with = + - @ as formulas; a quote makes them text."""
    if isinstance(value, dict):
        value = json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


async def write_cases(cases: AsyncIterable[Case], out: TextIO, fmt: str = "csv") -> int:
    count = 0
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        async for case in cases:
            data = case.as_dict()
            writer.writerow([_cell(data[c]) for c in COLUMNS])
            count += 1
    else:
        async for case in cases:
            data = case.as_dict()
            out.write(json.dumps({c: data[c] for c in COLUMNS}, ensure_ascii=False) + "\n")
            count += 1
    return count
