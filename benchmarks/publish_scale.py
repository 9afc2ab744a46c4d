"""Scale benchmark: publish generated fleets of 10,000 and 50,000 seats, read the rollout, run the agent.

At each size, each phase in its own child process (its peak memory its own):

* the first ``publish`` (render every seat, write the share), against its floor: writing
  the same files to a fresh folder as durably (one ``syncfs`` for all, where there is one);
* an unchanged republish, which must write 0 files, against its floor: reading and
  hashing every file of the share;
* at the largest size, ``status`` over one report per seat, against reading them all.

Growth from the smallest size to the largest may be at most 1.1 times the seats'
growth (linear growth is 1.0 times). Then, when Wine is here, one seat
is applied by the agent in a fresh Wine prefix and the agent is run again N times with
nothing to do -- what every PC does at every logon -- and the wall time of each run
(Wine's own process start included) is reported.

Run: ``.venv/bin/python benchmarks/publish_scale.py [--sizes 10000,50000] [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from render_scale import as_the_command_line, generate, machine  # noqa: E402

#: How much faster than the seats a publish may grow (1.0 is linear).
GROWTH = 1.1


def _phase(name: str, fleet: Path, out: Path) -> None:
    """One phase in this (child) process; its figures as JSON on stdout."""
    from provisioner import api

    as_the_command_line()

    os.environ["QUEUE_PW"] = "queue-secret"
    start = time.perf_counter()
    document: dict[str, float] = {}
    if name == "publish":
        result = api.publish(fleet, out)
        document = {"seats": len(result.seats), "written": len(result.written)}
    elif name == "status":
        seats = api.status(out).seats
        document = {"seats": len(seats), "applied": sum(1 for s in seats if s.state == "applied")}
    elif name == "write-floor":
        start, document = _write_floor(out)
    elif name == "status-floor":
        document = {"reports": sum(1 for path in (out / "status").rglob("*.ini") if path.read_bytes())}
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({**document, "seconds": round(seconds, 3), "peak_mb": round(peak_mb, 1)}))


def _write_floor(share: Path) -> tuple[float, dict[str, float]]:
    """The floor of a first publish: the share's files written afresh beside it, made durable at once."""
    from provisioner import admin_files as output

    blobs = [(p.relative_to(share), p.read_bytes()) for p in sorted(share.rglob("*")) if p.is_file()]
    target = share.parent / "floor"
    start = time.perf_counter()
    for name, data in blobs:
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        with dest.open("wb") as handle:
            handle.write(data)
            if not output.CAN_SYNCFS:
                os.fsync(handle.fileno())
    if output.CAN_SYNCFS:
        fd = os.open(target, os.O_RDONLY)
        try:
            output.syncfs(fd)
        finally:
            os.close(fd)
    return start, {"files": len(blobs)}


def _plant_reports(share: Path) -> int:
    """One agent report per published seat, as the agent writes it (UTF-16LE with a BOM)."""
    document = json.loads((share / "publish.json").read_text(encoding="utf-8"))
    for entry in document["seats"]:
        name = f"{entry['user']}@{entry.get('computer') or 'PC1'}.ini"
        text = (
            f"\ufeff[status]\r\nseat={entry['seat']}\r\nformat=2\r\ngeneration={entry['generation']}\r\n"
            f"result=applied\r\nfolder={entry['folder'].split('/', 1)[1]}\r\ntime=2026-12-01T08:00:00Z\r\n"
            "agent=2\r\nini=C:\\Users\\x\\AppData\\Roaming\\MicroSIP\\microsip.ini\r\nwarning=\r\n"
            "message=applied\r\n"
        )
        path = share / "status" / entry["user"] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-16-le"))
    return len(document["seats"])


def _read_and_hash(share: Path) -> tuple[float, int]:
    """The floor of a republish that changes nothing: read and hash every file of the share."""
    import hashlib

    start = time.perf_counter()
    count = 0
    for path in share.rglob("*"):
        if path.is_file():
            hashlib.sha256(path.read_bytes()).digest()
            count += 1
    return time.perf_counter() - start, count


def _agent_runs(share: Path, runs: int) -> list[float] | None:
    wine = shutil.which("wine64") or shutil.which("wine")
    if not wine:
        return None
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as tmp:
        env = {**os.environ, "WINEPREFIX": f"{tmp}/prefix", "WINEDEBUG": "-all", "HOME": tmp}
        subprocess.run(
            [wine, "wineboot", "-i"],
            env=env,
            timeout=300,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # MicroSIP installed as its installer leaves it: the exe (any PE file will do) and its registry value
        folder = Path(tmp) / "prefix" / "drive_c" / "Program Files" / "MicroSIP"
        folder.mkdir(parents=True)
        shutil.copy(share / "agent" / "provisioner-agent.exe", folder / "microsip.exe")
        subprocess.run(
            [wine, "reg", "add", "HKCU\\Software\\MicroSIP", "/ve", "/d", "C:\\Program Files\\MicroSIP", "/f"],
            env=env,
            timeout=120,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        share_win = "Z:" + str(share).replace("/", "\\")
        agent = [wine, str(share / "agent" / "provisioner-agent.exe"), "--share", share_win, "--user", "user00000"]
        wineserver = shutil.which("wineserver") or "/usr/lib/wine/wineserver64"
        subprocess.Popen(  # stays up: the runs measure the agent and Wine's process start, not wineserver's
            [wineserver, "-p"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # Wine's services would hold pipes open: output goes nowhere, only the exit code counts
        null = subprocess.DEVNULL
        first = subprocess.run(agent, env=env, timeout=300, check=False, stdout=null, stderr=null)
        if first.returncode != 0:
            return None
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(agent, env=env, timeout=300, check=True, stdout=null, stderr=null)
            times.append(time.perf_counter() - start)
        subprocess.run(
            [wineserver, "-k"], env=env, timeout=60, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return times


def _child(name: str, fleet: Path, share: Path) -> dict[str, float]:
    """One phase in its own child process (its peak memory its own): what it measured."""
    proc = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--fleet", str(fleet), "--out", str(share)],
        capture_output=True,
        text=True,
        check=True,
    )
    measured: dict[str, float] = json.loads(proc.stdout)
    return measured


def _size(seats: int, folder: Path) -> dict[str, dict[str, float]]:
    """Every publish phase at one size; prints as it goes."""
    fleet = generate(folder / "fleet", seats)
    share = folder / "share"
    first = _child("publish", fleet, share)
    floor = _child("write-floor", fleet, share)
    print(
        f"{seats} seats, first publish: {first['seconds']:.2f} s, peak {first['peak_mb']:.1f} MB, "
        f"{first['written']:.0f} files; floor (the same files written durably): {floor['seconds']:.2f} s "
        f"({first['seconds'] / floor['seconds']:.1f}x)"
    )
    again = _child("publish", fleet, share)
    read_floor, files = _read_and_hash(share)
    print(
        f"{seats} seats, publish again, nothing changed: {again['seconds']:.2f} s, peak {again['peak_mb']:.1f} MB, "
        f"{again['written']:.0f} files written (must be 0); floor (read and hash the share's {files} files): "
        f"{read_floor:.2f} s ({again['seconds'] / read_floor:.1f}x)"
    )
    return {"first": first, "again": again}


def _status(folder: Path) -> None:
    share = folder / "share"
    reports = _plant_reports(share)
    status = _child("status", folder / "fleet" / "fleet.yaml", share)
    floor = _child("status-floor", folder / "fleet" / "fleet.yaml", share)
    print(
        f"status over {reports} reports: {status['seconds']:.2f} s, peak {status['peak_mb']:.1f} MB, "
        f"{status['applied']:.0f} applied; floor (read every report): {floor['seconds']:.2f} s "
        f"({status['seconds'] / floor['seconds']:.1f}x)"
    )


def main() -> int:
    """Publish at each size, check the growth, read the rollout, time the agent's no-change run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000", help="seat counts, smallest first")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--fleet", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        _phase(args.phase, args.fleet, args.out)
        return 0
    sizes = [int(n) for n in args.sizes.split(",")]
    print(machine())
    failed = False
    measured = {}
    with tempfile.TemporaryDirectory(prefix="publish-scale-") as tmp:
        for seats in sizes:
            folder = Path(tmp) / str(seats)
            measured[seats] = _size(seats, folder)
            failed |= bool(measured[seats]["again"]["written"])
            if seats != sizes[-1]:
                shutil.rmtree(folder)
        _status(Path(tmp) / str(sizes[-1]))
        if len(sizes) > 1:
            failed |= _growth(sizes, measured)
        times = _agent_runs(Path(tmp) / str(sizes[-1]) / "share", args.runs)
        if times is None:
            print("agent: Wine is not here (or the first apply failed); no-change run not measured")
        else:
            print(
                f"agent, nothing to do, {len(times)} runs under Wine: median {statistics.median(times) * 1000:.0f} ms, "
                f"max {max(times) * 1000:.0f} ms (a warm Wine: process start included, wineserver already up)"
            )
    if failed:
        print("FAIL: an unchanged republish wrote files, or publish grew faster than its seats")
    return 1 if failed else 0


def _growth(sizes: list[int], measured: dict[int, dict[str, dict[str, float]]]) -> bool:
    """Print how each publish grew from the smallest size to the largest; True when too fast."""
    small, large = sizes[0], sizes[-1]
    limit = GROWTH * large / small
    too_fast = False
    for phase in ("first", "again"):
        ratio = measured[large][phase]["seconds"] / measured[small][phase]["seconds"]
        print(f"growth {small} -> {large} seats, {phase} publish: {ratio:.2f}x (at most {limit:.1f}x)")
        too_fast |= ratio > limit
    return too_fast


if __name__ == "__main__":
    raise SystemExit(main())
