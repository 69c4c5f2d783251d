"""Names of a random sample of each module's untested mutants, for `scripts/mutation`.

A full run of the modules whose tests read and write the store takes hours on two
cores; a sample of n of a module's mutants estimates its score within about
±1.96·sqrt(p(1-p)/n) (±10 points at n = 50, p = 0.85), and with the part already
tested, the whole module's. The seed is fixed: the same results give the same sample.
Needs mutants/ from an earlier run (mutmut lists the mutants it has generated):

    scripts/mutation $(.venv/bin/python scripts/mutation_sample.py 50 exbert.model ingest.pipeline)
"""

from __future__ import annotations

import random
import re
import subprocess
import sys


def main() -> int:
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    n, modules = int(sys.argv[1]), sys.argv[2:]
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    untested: dict[str, list[str]] = {m: [] for m in modules}
    for line in out.splitlines():
        found = re.match(r"\s*(([\w.]+?)\.x[ǁ_]\S*__mutmut_\d+):\s*not checked", line)
        if found and found.group(2) in untested:
            untested[found.group(2)].append(found.group(1))
    rng = random.Random(0)
    for module, names in untested.items():
        print(f"{module}: {min(n, len(names))} of {len(names)} untested", file=sys.stderr)
        print("\n".join(rng.sample(sorted(names), min(n, len(names)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
