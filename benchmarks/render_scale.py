"""Scale benchmark: validate and render a generated 10,000-seat fleet.

Generates a fleet (3 profiles, 2 accounts per seat, secrets from files), then
measures, each in a fresh child process so that peak memory is the phase's own:

* ``validate``: load + merge + check (what `provisioner validate` does);
* ``render``: validate + render in memory + write every ini atomically
  (what `provisioner render` does);
* ``parse``: libyaml parsing the fleet into plain data (the floor for validate);
* ``floor``: a bare loop writing the same bytes to the same number of files,
  once plainly and once with the same durability as render (temp file, fsync,
  rename); render is compared with parse + this.

Run: ``.venv/bin/python benchmarks/render_scale.py [--seats N]``. Figures go in
the README with the machine they were measured on.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


#: What a child process keeps in force until it ends (the command line's runner).
IN_FORCE = contextlib.ExitStack()


def as_the_command_line() -> None:
    """Set this (child) process up as the command line's entry does: its runner in force until the
    process ends, held by a module-level stack (a context left to the garbage collector ends at once)."""
    from provisioner import runner
    from provisioner._speed import Fast

    IN_FORCE.enter_context(runner.using(Fast()))
    assert isinstance(runner.current(), Fast), "the command line's runner is in force"


def generate(folder: Path, seats: int) -> Path:
    """Write a fleet with ``seats`` seats into ``folder``; return the fleet file."""
    (folder / "secrets").mkdir(parents=True, exist_ok=True)
    lines = [
        "version: 1",
        "name: scale",
        'microsip: "3.22"',
        "defaults:",
        "  account: {server: pbx.example.com, domain: example.com, transport: udp, SRTP: optional}",
        "  settings: {updatesInterval: never, audioCodecs: [opus/48000/2, PCMA/8000/1]}",
        "  target: {type: appdata, root: users}",
        "profiles:",
        "  base: {settings: {singleMode: true, callWaiting: true, localDTMF: true, volumeRing: 80}}",
        "  agent: {extends: [base], settings: {autoAnswer: header, autoAnswerDelay: 1, denyIncoming: ''}}",
        "  night: {settings: {autoRecording: true, recordingFormat: mp3, forwarding: all}}",
        "seats:",
    ]
    for i in range(seats):
        ext = 10000 + i
        (folder / "secrets" / f"{ext}.txt").write_text(f"pw-{ext}\n", encoding="utf-8")
        (folder / "secrets" / f"{ext}.txt").chmod(0o600)  # secret files are private (else every seat warns)
        lines += [
            f"  - id: seat-{i:05d}",
            f"    user: user{i:05d}",
            "    profiles: [agent, night]" if i % 2 else "    profiles: [base]",
            "    accounts:",
            f'      - {{username: "{ext}", displayName: "Agent Ünal {i}", password: {{file: secrets/{ext}.txt}}}}',
            f'      - {{username: "{ext + 50000}", label: Queue, password: {{env: QUEUE_PW}}}}',
        ]
    path = folder / "fleet.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def generate_csv(folder: Path, seats: int) -> Path:
    """The same fleet with its seats in a CSV seat file (one row a seat)."""
    yaml_fleet = generate(folder, 0)
    text = yaml_fleet.read_text(encoding="utf-8").replace("seats:\n", "seat_files:\n  - {path: seats.csv}\nseats: []\n")
    path = folder / "fleet-csv.yaml"
    path.write_text(text, encoding="utf-8")
    rows = [
        "id,user,profiles,accounts.1.username,accounts.1.displayName,accounts.1.password.file,"
        "accounts.2.username,accounts.2.label,accounts.2.password.env"
    ]
    for i in range(seats):
        ext = 10000 + i
        (folder / "secrets" / f"{ext}.txt").write_text(f"pw-{ext}\n", encoding="utf-8")
        (folder / "secrets" / f"{ext}.txt").chmod(0o600)  # secret files are private (else every seat warns)
        profiles = "agent night" if i % 2 else "base"
        rows.append(
            f"seat-{i:05d},user{i:05d},{profiles},{ext},Agent Ünal {i},secrets/{ext}.txt,{ext + 50000},Queue,QUEUE_PW"
        )
    (folder / "seats.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _phase(name: str, fleet: Path, out: Path) -> None:
    """Run one phase in this (child) process and print its figures as JSON."""
    sys.path.insert(0, str(HERE.parent))
    from provisioner import api
    from provisioner.fleet import load_fleet
    from provisioner.render.renderer import render_fleet

    as_the_command_line()

    os.environ["QUEUE_PW"] = "queue-secret"
    start = time.perf_counter()
    files = 0
    if name in ("validate", "validate-csv"):
        load_fleet(fleet)
    elif name == "parse":
        parse_floor(fleet)
    elif name == "render":
        files = len(api.render(fleet, out).written)
    elif name in ("render-memory", "render-memory-csv"):
        files = sum(len(r.files) for r in render_fleet(load_fleet(fleet)))
    elif name in ("floor", "floor-durable"):
        blobs = [(p, p.read_bytes()) for p in sorted(out.rglob("*.ini"))]
        target = out.parent / f"{name}-out"
        start = time.perf_counter()
        for path, data in blobs:
            dest = target / path.relative_to(out)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if name == "floor":
                dest.write_bytes(data)
            else:
                durable_write(dest, data)
            files += 1
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"phase": name, "seconds": round(seconds, 3), "peak_mb": round(peak_mb, 1), "files": files}))


def durable_write(dest: Path, data: bytes) -> None:
    """Write ``dest`` as the tool guarantees it, plainly: a temp file, fsynced, renamed over it."""
    temp = dest.with_name("." + dest.name + ".tmp")
    with temp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(dest)


def parse_floor(fleet: Path) -> None:
    """The floor for loading: libyaml parses the fleet into plain Python data and nothing else.

    The collector is paused, as the tool's own loader pauses it (with it running, this
    same parse takes three times as long on a 10,000-seat fleet).
    """
    import gc

    import yaml

    gc.disable()
    yaml.load(fleet.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    gc.enable()


#: At five times the seats, no phase may take more than this many times the time or memory.
GROWTH_LIMIT = 5.5


def check_growth(small: dict[str, dict[str, Any]], large: dict[str, dict[str, Any]], factor: int) -> bool:
    """Print each phase's growth from the small to the large fleet; False when any is super-linear."""
    limit = GROWTH_LIMIT * factor / 5
    ok = True
    print(f"growth at {factor}x the seats (limit {limit:.1f}x):")
    for phase, run in small.items():
        if phase not in large or phase.startswith("floor") or phase == "parse":
            continue
        time_ratio = large[phase]["seconds"] / max(run["seconds"], 1e-6)
        memory_ratio = large[phase]["peak_mb"] / max(run["peak_mb"], 1e-6)
        bad = time_ratio > limit or memory_ratio > limit
        ok = ok and not bad
        print(f"  {phase:<24} time {time_ratio:5.2f}x   memory {memory_ratio:5.2f}x{'   SUPER-LINEAR' if bad else ''}")
    return ok


def main() -> int:
    """Generate the fleet, run each phase in a child process, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seats", type=int, default=10_000)
    parser.add_argument(
        "--growth", action="store_true", help="also run at 5x the seats; exit 1 if any phase grows super-linearly"
    )
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--fleet", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        _phase(args.phase, args.fleet, args.out)
        return 0
    sizes = [args.seats, args.seats * 5] if args.growth else [args.seats]
    results = _run_all(sizes)
    if args.growth and not check_growth(results[sizes[0]], results[sizes[1]], 5):
        print("FAILED: a phase grows faster than the fleet", file=sys.stderr)
        return 1
    return 0


#: The phases that write files: before each of their runs, what the last one wrote is removed.
WRITING = ("render", "floor", "floor-durable")
#: How many times each phase runs at each size (its fastest run counts, see side_by_side).
RUNS = 2


#: One run of a phase: its child process's command, and what to do before it (or None).
Run = tuple[list[str], Callable[[], None] | None]


def side_by_side(runs: dict[int, Run], times: int) -> dict[int, dict[str, Any]]:
    """Run a phase at each fleet size in turn, ``times`` rounds: each size's fastest run, with its largest memory.

    This machine's speed drifts by a third over minutes; taking the sizes in turn
    (10,000 seats, 50,000, then again) lets the growth check compare runs made
    side by side rather than minutes apart.
    """
    tries: dict[int, list[dict[str, Any]]] = {size: [] for size in runs}
    for _ in range(times):
        for size, (command, before) in runs.items():
            if before is not None:
                before()
            tries[size].append(json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout))
    return {size: _best(found) for size, found in tries.items()}


def _best(tries: list[dict[str, Any]]) -> dict[str, Any]:
    best: dict[str, Any] = min(tries, key=lambda run: run["seconds"])
    for key in ("peak_mb", "helper_mb"):
        if key in best:
            best[key] = max(run[key] for run in tries)
    return best


def machine() -> str:
    """The machine line every benchmark prints above its figures."""
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def removing(written: Path) -> Callable[[], None]:
    """What runs before a writing phase: what it wrote last time is removed (and that removal synced)."""

    def remove() -> None:
        shutil.rmtree(written, ignore_errors=True)
        os.sync()

    return remove


PHASES = (
    "parse",
    "validate",
    "render-memory",
    "render",
    "floor",
    "floor-durable",
    "validate-csv",
    "render-memory-csv",
)


def _run_all(sizes: list[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """Every phase at every fleet size (the sizes side by side); prints a table per size."""
    results: dict[int, dict[str, dict[str, Any]]] = {size: {} for size in sizes}
    with tempfile.TemporaryDirectory(prefix="render-scale-") as tmp:
        folders = {size: Path(tmp) / str(size) for size in sizes}
        fleets = {size: generate(folders[size] / "fleet", size) for size in sizes}
        csv_fleets = {size: generate_csv(folders[size] / "csv", size) for size in sizes}
        for phase in PHASES:
            runs: dict[int, Run] = {}
            for size, folder in folders.items():
                source = csv_fleets[size] if phase.endswith("-csv") else fleets[size]
                command = [
                    sys.executable,
                    __file__,
                    "--phase",
                    phase,
                    "--fleet",
                    str(source),
                    "--out",
                    str(folder / "out"),
                ]
                written = folder / "out" if phase == "render" else folder / f"{phase}-out"
                runs[size] = (command, removing(written) if phase in WRITING else None)
            for size, run in side_by_side(runs, RUNS).items():
                results[size][phase] = run
        for size in sizes:
            _print_table(size, fleets[size].stat().st_size, results[size])
    return results


def _print_table(seats: int, fleet_bytes: int, results: dict[str, dict[str, Any]]) -> None:
    print(machine())
    print(f"fleet: {seats} seats, 3 profiles, 2 accounts each ({fleet_bytes // 1024} KiB of YAML)")
    for phase, r in results.items():
        print(f"  {phase:<14} {r['seconds']:>8.2f} s   peak {r['peak_mb']:>7.1f} MB   files {r['files']}")
    parse = results["parse"]["seconds"]
    print(f"validate / libyaml parse: {results['validate']['seconds'] / parse:.2f}x")
    ratio = results["render"]["seconds"] / (parse + results["floor-durable"]["seconds"])
    plain = results["render"]["seconds"] / (parse + results["floor"]["seconds"])
    print(f"render / (parse + durable writes): {ratio:.2f}x   render / (parse + plain writes): {plain:.2f}x")
    csv_ratio = results["render-memory-csv"]["seconds"] / results["render-memory"]["seconds"]
    print(f"CSV seat file / YAML seats (render in memory): {csv_ratio:.2f}x")


if __name__ == "__main__":
    raise SystemExit(main())
