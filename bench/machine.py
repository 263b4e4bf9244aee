"""How fast this machine runs Python, as one figure printed by every benchmark.

The same commit measured 2.3 times slower on one of these two-core machines than on another
(the form-insert baseline did 2,112 and 926 inserts/s), so an absolute figure such as
submits per second says little without it. `python_ms` is the CPU time of a fixed workload of
plain Python (dict and list operations, string formatting and small-integer arithmetic, the
kind of work a web request and an export do), best of five: divide two runs' figures by their
`python_ms` ratio to compare machines. It takes about half a second.
"""

from __future__ import annotations

import time


def _workload() -> int:
    total = 0
    table: dict[str, int] = {}
    for i in range(200_000):
        key = f"v{i % 997}"
        table[key] = table.get(key, 0) + i
        row = [i, i * 2, key]
        total += len(row) + (i & 7)
    return total + len(table)


def python_ms() -> float:
    """CPU milliseconds of the fixed workload, best of five."""
    best = float("inf")
    for _ in range(5):
        began = time.process_time()
        _workload()
        best = min(best, time.process_time() - began)
    return round(1000 * best, 1)


if __name__ == "__main__":
    print(f"python_ms={python_ms()}")
