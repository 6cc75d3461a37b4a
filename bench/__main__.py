"""`make bench`: run every benchmark in turn; each writes its own section of bench/results.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# module names in bench/, run in this order
BENCHMARKS = ["relay", "streams", "outbox_age", "outbox_wakeups", "slack_rate", "faq_search"]


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"== bench.{name}", flush=True)
        if subprocess.call([sys.executable, "-m", f"bench.{name}"], cwd=ROOT) != 0:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
