"""XLSX writers, cells a second: OneTable's streaming writer against XlsxWriter's constant-memory mode.

`python -m bench.xlsx_writers`: the same rows (5 fixed text cells and 40 values, numbers and short text,
as a department's export has them) written by each, alternating, medians of 3; no database. It measures
why exports do not use XlsxWriter (reporting/reads/xlsx_stream.py). Needs XlsxWriter installed.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROWS, VALUES = 20_000, 40


def rows() -> list[list]:
    rng = random.Random(7)
    fixed = ["990101001001", "第1村（01001）村委会", "202610", "", 1]
    return [fixed + [rng.randrange(0, 5000) if v % 3 else "按计划推进" for v in range(VALUES)] for _ in range(ROWS)]


def ours(path: Path, data: list[list]) -> None:
    from reporting.reads.xlsx_stream import StreamingWorkbook

    with StreamingWorkbook(path, "基层综合月报") as book:
        book.header([f"p_{i:03d}" for i in range(len(data[0]))])
        for row in data:
            book.row(row)


def xlsxwriter_constant_memory(path: Path, data: list[list]) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("基层综合月报")
    sheet.write_row(0, 0, [f"p_{i:03d}" for i in range(len(data[0]))])
    for r, row in enumerate(data, start=1):
        sheet.write_row(r, 0, row)
    book.close()


def main() -> dict:
    data = rows()
    cells = ROWS * len(data[0])
    times: dict[str, list[float]] = {"ours": [], "xlsxwriter": []}
    with tempfile.TemporaryDirectory() as folder:
        for r in range(3):
            for name, write in (("ours", ours), ("xlsxwriter", xlsxwriter_constant_memory)):
                started = time.process_time()
                write(Path(folder) / f"{name}-{r}.xlsx", data)
                times[name].append(time.process_time() - started)
    return {name: cells / statistics.median(t) for name, t in times.items()} | {"cells": cells}


if __name__ == "__main__":
    found = main()
    print(
        f"{found['cells']:,} cells, CPU time: OneTable's writer {found['ours']:,.0f} cells/s, "
        f"XlsxWriter constant_memory {found['xlsxwriter']:,.0f} cells/s, "
        f"ratio {found['ours'] / found['xlsxwriter']:.1f}"
    )
    sys.exit(0)
