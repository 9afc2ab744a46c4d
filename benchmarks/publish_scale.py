"""Scale benchmark: publish a generated 10,000-seat fleet; the agent's no-change run under Wine.

``publish`` renders every seat and writes the share (each file atomically); it runs
in its own child process so that its peak memory is its own. Then, when Wine is
here, one seat is applied by the agent in a fresh Wine prefix and the agent is run
again N times with nothing to do -- what every PC does at every logon -- and the
wall time of each run (Wine's own process start included) is reported.

Run: ``.venv/bin/python benchmarks/publish_scale.py [--seats N] [--runs N]``.
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

from render_scale import generate, machine  # noqa: E402


def _phase(fleet: Path, out: Path) -> None:
    from provisioner import api

    os.environ["QUEUE_PW"] = "queue-secret"
    start = time.perf_counter()
    result = api.publish(fleet, out)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    document = {"seconds": round(seconds, 3), "peak_mb": round(peak_mb, 1), "seats": len(result.seats)}
    print(json.dumps({**document, "written": len(result.written)}))


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


def _publish_phase(fleet: Path, share: Path) -> dict[str, float]:
    """One publish in its own child process (its peak memory its own): what it measured."""
    proc = subprocess.run(
        [sys.executable, __file__, "--phase", "--fleet", str(fleet), "--out", str(share)],
        capture_output=True,
        text=True,
        check=True,
    )
    measured: dict[str, float] = json.loads(proc.stdout)
    return measured


def main() -> int:
    """Generate the fleet, publish it in a child process, time the agent's no-change run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seats", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--phase", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fleet", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        _phase(args.fleet, args.out)
        return 0
    with tempfile.TemporaryDirectory(prefix="publish-scale-") as tmp:
        fleet = generate(Path(tmp) / "fleet", args.seats)
        share = Path(tmp) / "share"
        run = _publish_phase(fleet, share)
        print(machine())
        print(
            f"publish {run['seats']} seats: {run['seconds']:.2f} s, peak {run['peak_mb']:.1f} MB, {run['written']} files"
        )
        again = _publish_phase(fleet, share)
        floor, files = _read_and_hash(share)
        print(
            f"publish again, nothing changed: {again['seconds']:.2f} s, peak {again['peak_mb']:.1f} MB, "
            f"{again['written']} files written (must be 0); floor: read and hash the share's {files} files {floor:.2f} s"
        )
        if again["written"]:
            print("FAIL: an unchanged republish wrote files")
            return 1
        times = _agent_runs(share, args.runs)
        if times is None:
            print("agent: Wine is not here (or the first apply failed); no-change run not measured")
        else:
            print(
                f"agent, nothing to do, {len(times)} runs under Wine: median {statistics.median(times) * 1000:.0f} ms, "
                f"max {max(times) * 1000:.0f} ms (a warm Wine: process start included, wineserver already up)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
