"""Does rendering on both cores pay? Render a generated fleet on one core, then split across two processes.

The fleet is loaded once; a forked child renders half the seats and sends its
files back (pickled through a pipe) while the parent renders the other half --
the work ``plan``, ``apply`` and ``verify`` do for every seat before touching the
disk. Prints both times; the README reports them with the machine.

Run: ``.venv/bin/python benchmarks/two_cores.py [--seats N]`` (POSIX: it forks).
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from render_scale import generate  # noqa: E402


def main() -> int:
    """Generate the fleet, render it both ways, print the times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seats", type=int, default=10_000)
    args = parser.parse_args()
    from provisioner.fleet import load_fleet
    from provisioner.render.renderer import render_fleet

    os.environ["QUEUE_PW"] = "queue-secret"
    with tempfile.TemporaryDirectory(prefix="two-cores-") as tmp:
        fleet = load_fleet(generate(Path(tmp), args.seats))
        ids = [seat.id for seat in fleet.seats]
        gc.freeze()
        start = time.perf_counter()
        render_fleet(fleet, ids)
        single = time.perf_counter() - start
        half = len(ids) // 2
        start = time.perf_counter()
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child process
            os.close(read_end)
            theirs = pickle.dumps([(r.seat.id, r.files) for r in render_fleet(fleet, ids[half:])], protocol=5)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(theirs)
            os._exit(0)
        os.close(write_end)
        mine = render_fleet(fleet, ids[:half])
        with os.fdopen(read_end, "rb") as pipe:
            received = pickle.loads(pipe.read())
        os.waitpid(child, 0)
        double = time.perf_counter() - start
    print(f"machine: {os.cpu_count()} cores; fleet: {args.seats} seats")
    print(f"render on one core: {single:.2f} s; on two processes, files sent back: {double:.2f} s")
    print(f"({len(mine) + len(received)} seats rendered the second way; saving {single - double:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
