"""The mutation score per module from `mutmut results --all true`, and the survivors.

Killed (a test failed), timed out and segfault (the mutant crashed the test run, e.g.
a loop that never ends eating the memory) count as caught; survived and "no tests" (no
fast-tier test reaches the function) as missed; skipped ones are left out.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict

CAUGHT = {"killed", "timeout", "segfault"}
MISSED = {"survived", "no tests"}


def main() -> int:
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    by_module: dict[str, Counter] = defaultdict(Counter)
    survivors = []
    for line in out.splitlines():
        m = re.match(r"\s*([\w.]+?)\.x[ǁ_]\S*__mutmut_\d+:\s*(.+)$", line)
        if not m:
            continue
        module, status = m.group(1), m.group(2).strip()
        by_module[module][status] += 1
        if status in MISSED:
            survivors.append((line.split(":")[0].strip(), status))
    total = Counter()
    print(f"{'module':<28} {'caught':>7} {'missed':>7} {'score':>7} {'untested':>9}")
    for module, counts in sorted(by_module.items()):
        caught = sum(counts[s] for s in CAUGHT)
        missed = sum(counts[s] for s in MISSED)
        total.update(counts)
        score = caught / max(caught + missed, 1)
        print(f"{module:<28} {caught:>7} {missed:>7} {score:>7.1%} {counts['not checked']:>9}")
    caught = sum(total[s] for s in CAUGHT)
    missed = sum(total[s] for s in MISSED)
    score = caught / max(caught + missed, 1)
    print(f"{'all':<28} {caught:>7} {missed:>7} {score:>7.1%} {total['not checked']:>9}")
    if survivors:
        print("\nmissed (mutmut show NAME shows the change):")
        for name, status in survivors:
            print(f"  {name}  [{status}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
