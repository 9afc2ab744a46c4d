"""Wine for the tests: a prefix, a HOME and every file kept inside the test's own folder.

A root Wine prefix links the user's Desktop to ``$HOME``, so each prefix gets a HOME
of its own inside the temporary tree. Top-level windows (MicroSIP's and its double's)
need a display driver: headless, Wine's null driver (``HKCU\\Software\\Wine\\Drivers``
``Graphics=null``) does, once the wineserver restarts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import REPO

WINE = shutil.which("wine64") or shutil.which("wine")
MINGW = shutil.which("x86_64-w64-mingw32-gcc")
MINGW32 = shutil.which("i686-w64-mingw32-gcc")
WINDRES = shutil.which("x86_64-w64-mingw32-windres")
WIXL = shutil.which("wixl")
#: What builds, reads back, signs and verifies Windows Installer packages.
PACKAGING = {name: shutil.which(name) for name in ("wixl", "msiinfo", "msiextract", "osslsigncode", "openssl")}
HAVE_WINE = bool(WINE and MINGW)
if os.environ.get("CI") == "true" and not (HAVE_WINE and MINGW32 and WINDRES and all(PACKAGING.values())):
    raise RuntimeError(  # never a silent skip in CI
        "CI=true but Wine, MinGW-w64 (x86_64 and i686), msitools, osslsigncode or openssl is missing: "
        "`make test` installs them as root"
    )
#: The one marker of the Windows-side tests (Wine, MinGW-built programs): `make quick` leaves
#: them out, and without Wine they skip, saying why (tests/conftest.py), except under CI=true.
needs_wine = pytest.mark.windows
#: Why a Windows-side test skips here.
NO_WINE = "needs Wine and gcc-mingw-w64 (make test installs them when run as root)"

#: Variables that would point Wine's programs into the test's own Windows-looking folders.
DROPPED = ("APPDATA", "LOCALAPPDATA", "USERPROFILE", "DISPLAY", "WAYLAND_DISPLAY")


def wine_env(base: Path) -> dict[str, str]:
    """An environment whose prefix and HOME are folders under ``base``."""
    (base / "home").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    env.update(
        WINEPREFIX=str(base / "prefix"),
        WINEDEBUG="-all",
        HOME=str(base / "home"),
        WINEDLLOVERRIDES="winemenubuilder.exe=d",
    )
    return env


def boot(env: dict[str, str]) -> None:
    """Create the prefix and give it the null display driver."""
    assert WINE is not None
    subprocess.run([WINE, "wineboot", "-i"], env=env, capture_output=True, timeout=300, check=False)
    subprocess.run(
        [WINE, "reg", "add", "HKCU\\Software\\Wine\\Drivers", "/v", "Graphics", "/d", "null", "/f"],
        env=env,
        capture_output=True,
        timeout=120,
        check=True,
    )
    stop(env)


def stop(env: dict[str, str]) -> None:
    """End the prefix's wineserver and every program in it."""
    assert WINE is not None
    server = Path(WINE).with_name("wineserver")
    command = [str(server)] if server.exists() else [WINE, "wineserver"]
    subprocess.run([*command, "-k"], env=env, capture_output=True, timeout=60, check=False)
    subprocess.run([*command, "-w"], env=env, capture_output=True, timeout=60, check=False)


def run(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a Windows program to its end; output goes through files, not pipes (a program it
    starts would hold a pipe open long after it exited)."""
    assert WINE is not None
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run([WINE, *args], env=env, cwd="/", stdout=out, stderr=err, timeout=timeout, check=False)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(
            proc.args, proc.returncode, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
        )


def build(source: str, out: Path, *flags: str, compiler: str | None = None) -> Path:
    """Compile one of tests/fixtures/*.c with MinGW-w64 (``flags`` after the source: libraries last)."""
    cc = compiler or MINGW
    assert cc is not None
    subprocess.run(
        [cc, "-municode", "-O2", "-o", str(out), str(REPO / "tests" / "fixtures" / source), *flags],
        check=True,
        timeout=120,
    )
    return out


def windows(path: Path) -> str:
    """A Linux path as Wine's Z: drive spells it."""
    return "Z:" + str(path).replace("/", "\\")
