"""Scale benchmark: apply a generated 10,000-seat fleet into an empty tree, then again.

The first apply creates every ini (atomic, fsynced) and writes a manifest per
seat; the second finds nothing to change and must touch nothing. Each phase runs
in its own child process so that its peak memory is its own.

Run: ``.venv/bin/python benchmarks/apply_scale.py [--seats N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from render_scale import check_growth, generate  # noqa: E402


def _phase(fleet: Path, root: Path) -> None:
    from provisioner import api

    os.environ["QUEUE_PW"] = "queue-secret"
    start = time.perf_counter()
    result = api.apply(fleet, root=root)
    seconds = time.perf_counter() - start
    statuses: dict[str, int] = {}
    for report in result.seats:
        status = report.status
        statuses[status] = statuses.get(status, 0) + 1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": round(seconds, 3), "peak_mb": round(peak_mb, 1), "statuses": statuses}))


def main() -> int:
    """Generate the fleet, apply it twice in child processes, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seats", type=int, default=10_000)
    parser.add_argument(
        "--growth", action="store_true", help="also run at 5x the seats; exit 1 if a phase grows super-linearly"
    )
    parser.add_argument("--phase", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fleet", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        _phase(args.fleet, args.root)
        return 0
    small = _run_all(args.seats)
    if args.growth and not check_growth(small, _run_all(args.seats * 5), 5):
        print("FAILED: a phase grows faster than the fleet", file=sys.stderr)
        return 1
    return 0


def _run_all(seats: int) -> dict[str, dict[str, float]]:
    """Both phases for one fleet size; prints the table and returns the figures."""
    with tempfile.TemporaryDirectory(prefix="apply-scale-") as tmp:
        fleet = generate(Path(tmp) / "fleet", seats)
        root = Path(tmp) / "tree"
        for i in range(seats):  # every user has logged on once: the profile folders exist
            (root / "users" / f"user{i:05d}").mkdir(parents=True)
        runs = {}
        for name in ("apply (empty tree)", "apply again (no change)"):
            proc = subprocess.run(
                [sys.executable, __file__, "--phase", "--fleet", str(fleet), "--root", str(root)],
                capture_output=True,
                text=True,
                check=True,
            )
            runs[name] = json.loads(proc.stdout)
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}"
        )
        print(f"fleet: {seats} seats, 3 profiles, 2 accounts each")
        for name, run in runs.items():
            print(f"  {name:<24} {run['seconds']:>8.2f} s   peak {run['peak_mb']:>7.1f} MB   {run['statuses']}")
        first, second = runs.values()
        print(f"second / first: {second['seconds'] / first['seconds']:.2f}")
        return runs


if __name__ == "__main__":
    raise SystemExit(main())
