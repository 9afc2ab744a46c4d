"""Scale benchmark: apply a generated 10,000-seat fleet into an empty tree, then again.

The first apply creates every ini (atomic, fsynced) and writes a manifest per
seat; the second finds nothing to change and must touch nothing. Each phase runs
in its own child process so that its peak memory is its own. Each runs twice (a
phase that writes starting each time from the same tree), and its faster run counts;
with ``--growth`` each run at 10,000 seats is followed by the same run at 50,000.

Run: ``.venv/bin/python benchmarks/apply_scale.py [--seats N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from render_scale import (  # noqa: E402
    RUNS,
    Run,
    as_the_command_line,
    check_growth,
    durable_write,
    generate,
    machine,
    parse_floor,
    removing,
    side_by_side,
)


def _phase(name: str, fleet: Path, root: Path) -> None:
    from provisioner import api

    as_the_command_line()

    os.environ["QUEUE_PW"] = "queue-secret"
    start = time.perf_counter()
    statuses: dict[str, int] = {}
    if name == "floor-read":
        _read_floor(fleet, root)
    elif name == "floor-write":
        _write_floor(fleet, root)
    else:
        state = _state(root)
        result = (
            api.verify(fleet, root=root, state=state) if name == "verify" else api.apply(fleet, root=root, state=state)
        )
        for report in result.seats:
            status = report.status
            statuses[status] = statuses.get(status, 0) + 1
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    helper_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the forked helper (cores.py)
    print(
        json.dumps(
            {
                "seconds": round(seconds, 3),
                "peak_mb": round(peak_mb, 1),
                "helper_mb": round(helper_mb, 1),
                "statuses": statuses,
            }
        )
    )


def _state(root: Path) -> Path:
    """The state folder the phases use (beside the tree)."""
    return root.parent / "state"


def _floor_copy(root: Path) -> Path:
    """Where the write floor writes its copy of the deployed files."""
    return root.parent / "floor-write"


def _deployed(root: Path) -> list[Path]:
    """Every file an apply wrote: the inis below the tree and the manifests in the state folder."""
    found = []
    for top in (root, _state(root)):
        for folder, _, names in os.walk(top):
            found += [Path(folder) / name for name in names if name != "lock"]
    return sorted(found)


def _read_floor(fleet: Path, root: Path) -> None:
    """Parse the fleet, then read and hash every deployed file: what a run that changes nothing must do."""
    parse_floor(fleet)
    for path in _deployed(root):
        hashlib.sha256(path.read_bytes()).digest()


def _write_floor(fleet: Path, root: Path) -> None:
    """Parse the fleet, then write the same files into a new tree durably, one at a time (temp, fsync, rename)."""
    parse_floor(fleet)
    copy = _floor_copy(root)
    for path in _deployed(root):
        data = path.read_bytes()  # bytes in hand before the clock would start, as render's floor has them
        dest = copy / path.relative_to(root.parent)
        dest.parent.mkdir(parents=True, exist_ok=True)
        durable_write(dest, data)


def main() -> int:
    """Generate the fleet, apply it twice in child processes, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seats", type=int, default=10_000)
    parser.add_argument(
        "--growth", action="store_true", help="also run at 5x the seats; exit 1 if a phase grows super-linearly"
    )
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--fleet", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        _phase(args.phase, args.fleet, args.root)
        return 0
    sizes = [args.seats, args.seats * 5] if args.growth else [args.seats]
    results = _run_all(sizes)
    if args.growth and not check_growth(results[sizes[0]], results[sizes[1]], 5):
        print("FAILED: a phase grows faster than the fleet", file=sys.stderr)
        return 1
    return 0


#: The phases in the order they run: each's name, and what its child process does.
PHASES = {
    "apply (empty tree)": "apply",
    "floor: parse + durable writes": "floor-write",
    "apply again (no change)": "apply",
    "verify": "verify",
    "floor: parse + read, hash": "floor-read",
}


def _empty_tree(root: Path, seats: int) -> Callable[[], None]:
    """Before an apply into an empty tree: every user has logged on once (the profile folders exist), nothing else."""

    def empty() -> None:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(_state(root), ignore_errors=True)
        for i in range(seats):
            (root / "users" / f"user{i:05d}").mkdir(parents=True)
        os.sync()

    return empty


def _run_all(sizes: list[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """Every phase at every fleet size (the sizes side by side); prints a table per size."""
    results: dict[int, dict[str, dict[str, Any]]] = {size: {} for size in sizes}
    with tempfile.TemporaryDirectory(prefix="apply-scale-") as tmp:
        fleets = {size: generate(Path(tmp) / str(size) / "fleet", size) for size in sizes}
        roots = {size: Path(tmp) / str(size) / "tree" for size in sizes}
        for name, phase in PHASES.items():
            runs: dict[int, Run] = {}
            for size in sizes:
                root = roots[size]
                command = [
                    sys.executable,
                    __file__,
                    "--phase",
                    phase,
                    "--fleet",
                    str(fleets[size]),
                    "--root",
                    str(root),
                ]
                # a phase that writes starts each time from what it started from
                if name == "apply (empty tree)":
                    runs[size] = (command, _empty_tree(root, size))
                else:
                    runs[size] = (command, removing(_floor_copy(root)) if phase == "floor-write" else None)
            for size, run in side_by_side(runs, RUNS).items():
                results[size][name] = run
            if phase == "floor-write":
                for root in roots.values():
                    removing(_floor_copy(root))()
        for size in sizes:
            _print_table(size, results[size])
    return {size: {n: r for n, r in found.items() if not n.startswith("floor")} for size, found in results.items()}


def _print_table(seats: int, runs: dict[str, dict[str, Any]]) -> None:
    print(machine())
    print(f"fleet: {seats} seats, 3 profiles, 2 accounts each")
    for name, run in runs.items():
        helper = f"   helper {run['helper_mb']:>6.1f} MB" if run["helper_mb"] else ""
        print(f"  {name:<24} {run['seconds']:>8.2f} s   peak {run['peak_mb']:>7.1f} MB{helper}   {run['statuses']}")
    seconds = {name: run["seconds"] for name, run in runs.items()}
    write_floor, read_floor = seconds["floor: parse + durable writes"], seconds["floor: parse + read, hash"]
    print(f"apply (empty) / its floor: {seconds['apply (empty tree)'] / write_floor:.2f}x")
    print(f"apply (no change) / its floor: {seconds['apply again (no change)'] / read_floor:.2f}x")
    print(f"verify / its floor: {seconds['verify'] / read_floor:.2f}x")


if __name__ == "__main__":
    raise SystemExit(main())
