"""Where each seat's files go on disk: appdata, portable and Wine targets.

Paths in the fleet are resolved against the folder of the file that declared
them, or under ``--root DIR`` when that is given (for building into a scratch
tree). Every computed path is checked to stay inside its root. For Wine
prefixes the registry files tell whether MicroSIP is installed there.
"""

from __future__ import annotations

import ntpath
import re
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

from provisioner.errors import FleetError, Problem
from provisioner.fleet import Seat
from provisioner.shortcuts import PROFILE_FOLDERS

_WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")
STATE_DIR = ".provisioner"


@dataclass(frozen=True)
class SeatTarget:
    """A seat's resolved destination."""

    seat_id: str
    kind: str
    root: Path
    ini_path: Path
    user: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    applications_dir: Path | None = None

    @property
    def folder(self) -> Path:
        """The folder that holds the ini (MicroSIP's data folder)."""
        return self.ini_path.parent

    @property
    def state_dir(self) -> Path:
        """The tool's own folder beside the ini: manifest, backups, lock."""
        return self.folder / STATE_DIR

    @property
    def manifest_path(self) -> Path:
        """The manifest of this seat's ini."""
        return self.state_dir / f"{self.ini_path.stem}.manifest.json"

    def place(self, where: str) -> Path | None:
        """The folder of a launcher place (``portable``, ``desktop``, ``applications``, ...)."""
        if where in ("ini", "portable"):
            return self.folder
        if where == "applications":
            return self.applications_dir
        profile = self.profile_dir()
        return profile.joinpath(*PROFILE_FOLDERS[where]) if profile is not None else None

    def profile_dir(self) -> Path | None:
        """The Windows user's profile folder (``C:\\Users\\<user>``), where there is one."""
        if self.kind == "appdata":
            return self.root / str(self.user)
        if self.kind == "wine" and self.user:
            return self.root / "drive_c" / "users" / self.user
        return None


class TargetError(FleetError):
    """A target that cannot be resolved (bad input: exit 2)."""


def _fail(seat: Seat, path: tuple[str, ...], message: str) -> TargetError:
    return TargetError([Problem(seat.loc(path), f"{seat.label}.{'.'.join(path)}", message)])


def _base(seat: Seat, field_name: str, value: str, root_override: Path | None) -> Path:
    """Resolve one target path: absolute as given, relative against --root or the declaring file."""
    if _WINDOWS_ABSOLUTE.match(value) and not Path(value).is_absolute():
        raise _fail(
            seat,
            ("target", field_name),
            f"{value!r} is a Windows path, which this system cannot open; write a path this machine "
            "can reach (for example a mounted share) or a relative path with --root",
        )
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    if root_override is not None:
        return root_override / path
    origin = seat.origins.get(("target", field_name))
    declared = Path(origin[0].doc.path).parent if origin else Path(seat.source.doc.path).parent
    return declared / path


def _inside(seat: Seat, root: Path, path: Path, what: str) -> Path:
    resolved_root = root.resolve()
    resolved = path.resolve()
    if not resolved.is_relative_to(resolved_root):
        raise _fail(seat, ("target",), f"{what} {path} leaves its root {root}; check `user`, `install.exe`")
    return path


def resolve(seat: Seat, root_override: Path | None = None) -> SeatTarget:
    """The seat's target, resolved to paths on this machine; raise TargetError when it cannot be."""
    target = seat.target
    if not target:
        raise TargetError(
            [
                Problem(
                    seat.source.loc(()),
                    f"{seat.label}.target",
                    "the seat has no `target`; plan, apply, verify and rollback need one "
                    "(appdata, portable or wine)",
                )
            ]
        )
    kind = str(target["type"])
    user = str(target.get("user") or seat.user)
    if kind == "appdata":
        root = _base(seat, "root", str(target["root"]), root_override)
        ini = root / user / "AppData" / "Roaming" / "MicroSIP" / seat.ini_name
        return SeatTarget(seat.id, kind, root, _inside(seat, root, ini, "the ini"), user)
    if kind == "portable":
        root = _base(seat, "path", str(target["path"]), root_override)
        return SeatTarget(seat.id, kind, root, _inside(seat, root, root / seat.ini_name, "the ini"))
    prefix = _base(seat, "prefix", str(target["prefix"]), root_override)
    notes = list(_wine_notes(seat, prefix))
    if seat.install_mode == "installed":
        ini = prefix / "drive_c" / "users" / user / "AppData" / "Roaming" / "MicroSIP" / seat.ini_name
    else:
        exe_folder = wine_path(prefix, ntpath.dirname(seat.exe))
        if exe_folder is None:
            raise _fail(
                seat,
                ("install", "exe"),
                "a portable copy in a Wine prefix needs the exe's full Windows path "
                f"(C:\\...), got {seat.exe!r}",
            )
        ini = exe_folder / seat.ini_name
    apps = target.get("applications_dir")
    applications = _base(seat, "applications_dir", str(apps), root_override) if apps else None
    return SeatTarget(
        seat.id, kind, prefix, _inside(seat, prefix, ini, "the ini"), user, tuple(notes), applications
    )


def wine_path(prefix: Path, windows_path: str) -> Path | None:
    """A Windows path (``C:\\Program Files\\MicroSIP``) inside a Wine prefix, or None if not absolute."""
    pure = PureWindowsPath(windows_path)
    if not pure.drive or not pure.root:
        return None
    letter = pure.drive[0].lower()
    base = prefix / "drive_c" if letter == "c" else prefix / "dosdevices" / f"{letter}:"
    return base.joinpath(*pure.parts[1:])


def _wine_notes(seat: Seat, prefix: Path) -> list[str]:
    """Warn when the prefix's registry contradicts the fleet's install mode."""
    registered = wine_install_folder(prefix)
    exe_folder = ntpath.dirname(seat.exe)
    if registered is None:
        if seat.install_mode == "installed":
            return [
                f"MicroSIP is not registered in the Wine prefix {prefix} (no Software\\MicroSIP in "
                "user.reg or system.reg): an unregistered copy runs portable and reads the ini beside "
                "its exe, not this one"
            ]
        return []
    same = registered.rstrip("\\").lower() == exe_folder.rstrip("\\").lower()
    if seat.install_mode == "portable" and same:
        return [
            f"the Wine prefix registers MicroSIP at {registered}, so {seat.exe} runs as the installed "
            "copy and reads %APPDATA%\\MicroSIP, not the ini beside the exe"
        ]
    if seat.install_mode == "installed" and not same:
        return [
            f"the Wine prefix registers MicroSIP at {registered}, not at the seat's exe folder "
            f"{exe_folder}: that copy would run portable"
        ]
    return []


_REG_SECTION = re.compile(r"^\[(?P<key>[^\]]+)\]")


def wine_install_folder(prefix: Path) -> str | None:
    """The default value of ``Software\\MicroSIP`` in the prefix's registry (HKCU first), if any."""
    for name in ("user.reg", "system.reg"):
        try:
            text = (prefix / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        value = _reg_default(text, {"software\\\\microsip", "software\\\\wow6432node\\\\microsip"})
        if value:
            return value
    return None


def _reg_default(text: str, keys: set[str]) -> str | None:
    inside = False
    for line in text.splitlines():
        match = _REG_SECTION.match(line)
        if match:
            inside = match.group("key").lower() in keys
            continue
        if inside and line.startswith("@="):
            raw = line[2:].strip()
            if raw.startswith('"') and raw.endswith('"'):
                return raw[1:-1].replace("\\\\", "\\").replace('\\"', '"')
    return None
