"""Where each seat's files go on disk: appdata, portable and Wine targets.

Paths in the fleet are resolved against the folder of the file that declared
them, or under ``--root DIR`` when that is given (for building into a scratch
tree). Every computed path is checked to stay inside its root. For Wine
prefixes the registry files tell whether MicroSIP is installed there.
"""

from __future__ import annotations

import functools
import ntpath
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

from provisioner.errors import DeployError, FleetError, Problem, printable, quoted
from provisioner.fleet import Seat
from provisioner.targetfs import reaching

_WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")
#: Characters no folder or file name below a root may hold (separators, NUL).
_BAD_PART = re.compile(r"[\\/\x00]")

#: Where each shortcut place is, inside a Windows user profile.
PROFILE_FOLDERS: dict[str, tuple[str, ...]] = {
    "desktop": ("Desktop",),
    "start_menu": ("AppData", "Roaming", "Microsoft", "Windows", "Start Menu", "Programs"),
    "startup": ("AppData", "Roaming", "Microsoft", "Windows", "Start Menu", "Programs", "Startup"),
}


@dataclass(frozen=True)
class Location:
    """A folder below a target root: the admin's root, then parts that belong to someone else.

    ``home`` counts the leading parts that form the owner's folder (``{root}/{user}``,
    ``drive_c/users/{user}``): the tool never creates those, and what it creates after
    them belongs to their owner.
    """

    root: Path
    parts: tuple[str, ...] = ()
    home: int = 0

    @property
    def path(self) -> Path:
        """Where it is, for messages (never opened by name); worked out when asked for (never kept:
        see :attr:`provisioner.fleet.Seat.ini_name`)."""
        return self.root.joinpath(*self.parts)

    @property
    def profiles(self) -> Path | None:
        """The folder that holds the owner's folder (``{root}``, ``drive_c/users``); None when there is none."""
        if self.home == 0 or len(self.parts) < self.home:
            return None
        return self.root.joinpath(*self.parts[: self.home - 1])

    def below(self, *more: str) -> Location:
        """A folder further down."""
        return Location(self.root, (*self.parts, *more), self.home)


@dataclass(frozen=True)
class Spot:
    """One file: its folder's location and its name."""

    where: Location
    name: str

    @property
    def path(self) -> Path:
        """Where it is, for messages; worked out when asked for."""
        return self.where.path / self.name

    @property
    def spelled(self) -> str:
        """The path as text, without building a :class:`Path` (a run asks for thousands)."""
        return os.path.join(self.where.root, *self.where.parts, self.name)


@dataclass(frozen=True)
class SeatTarget:
    """A seat's resolved destination."""

    seat_id: str
    kind: str
    root: Path
    ini: Spot
    user: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    applications_dir: Path | None = None

    @property
    def ini_path(self) -> Path:
        """The ini's path."""
        return self.ini.path

    @property
    def folder(self) -> Path:
        """The folder that holds the ini (MicroSIP's data folder)."""
        return self.ini.where.path

    def place(self, where: str) -> Location | None:
        """The folder of a launcher place (``portable``, ``desktop``, ``applications``, ...)."""
        if where in ("ini", "portable"):
            return self.ini.where
        if where == "applications":
            return Location(self.applications_dir) if self.applications_dir is not None else None
        profile = self.profile()
        return profile.below(*PROFILE_FOLDERS[where]) if profile is not None else None

    def profile(self) -> Location | None:
        """The Windows user's profile folder (``C:\\Users\\<user>``), where there is one."""
        if self.kind == "appdata":
            return Location(self.root, (str(self.user),), 1)
        if self.kind == "wine" and self.user:
            return Location(self.root, ("drive_c", "users", self.user), 3)
        return None


class TargetError(FleetError):
    """A target that cannot be resolved (bad input: exit 2)."""


def _fail(seat: Seat, path: tuple[str, ...], message: str) -> TargetError:
    return TargetError([Problem(seat.loc(path), f"{seat.label}.{'.'.join(path)}", message, code="unsafe-text")])


def _base(seat: Seat, field_name: str, value: str, root_override: Path | None) -> Path:
    """Resolve one target path: absolute as given, relative against --root or the declaring file."""
    if _WINDOWS_ABSOLUTE.match(value) and not Path(value).is_absolute():
        raise _fail(
            seat,
            ("target", field_name),
            f"{quoted(value)} is a Windows path, which this system cannot open; write a path this machine "
            "can reach (for example a mounted share) or a relative path with --root",
        )
    if "\x00" in value:
        raise _fail(seat, ("target", field_name), "the path holds a NUL character")
    origin = seat.origins.get(("target", field_name))
    return _joined(value, root_override, origin[0].doc.path if origin else seat.source.doc.path)


@functools.lru_cache(maxsize=1024)
def _joined(value: str, root_override: Path | None, declared_in: Path | str) -> Path:
    """``value`` as a path: absolute as given, else against --root or the folder of the file that declared it.

    Remembered: the seats of a fleet share a handful of roots.
    """
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    if root_override is not None:
        return root_override / path
    return Path(declared_in).parent / path


def _parts(seat: Seat, root: Path, parts: tuple[str, ...], what: str) -> tuple[str, ...]:
    """``parts`` checked to stay below ``root`` by their spelling alone (nothing on disk is asked)."""
    for part in parts:
        if part in ("", ".", "..") or _BAD_PART.search(part):
            raise _fail(
                seat,
                ("target",),
                f"{what} {root.joinpath(*parts)} leaves its root {root} ({quoted(part)} is not a plain "
                "folder name); check `user`, `install.exe`",
            )
    return parts


def _ini(seat: Seat, root: Path, parts: tuple[str, ...], home: int) -> Spot:
    return Spot(Location(root, _parts(seat, root, parts, "the ini"), home), seat.ini_name)


def resolve(seat: Seat, root_override: Path | None = None) -> SeatTarget:
    """The seat's target, resolved to paths on this machine; raise TargetError when it cannot be."""
    target = seat.target
    if not target:
        raise TargetError(
            [
                Problem(
                    seat.source.loc(()),
                    f"{seat.label}.target",
                    "the seat has no `target`; plan, apply, verify and rollback need one (appdata, portable or wine)",
                    code="no-target",
                )
            ]
        )
    kind = target.type
    user = target.user or seat.user
    if kind == "appdata":
        root = _base(seat, "root", str(target.root), root_override)
        ini = _ini(seat, root, (user, "AppData", "Roaming", "MicroSIP"), 1)
        return SeatTarget(seat.id, kind, root, ini, user)
    if kind == "portable":
        root = _base(seat, "path", str(target.path), root_override)
        return SeatTarget(seat.id, kind, root, _ini(seat, root, (), 0))
    prefix = _base(seat, "prefix", str(target.prefix), root_override)
    notes = list(_wine_notes(seat, prefix))
    if seat.install_mode == "installed":
        ini = _ini(seat, prefix, ("drive_c", "users", user, "AppData", "Roaming", "MicroSIP"), 3)
    else:
        exe_folder = wine_parts(ntpath.dirname(seat.exe))
        if exe_folder is None:
            raise _fail(
                seat,
                ("install", "exe"),
                f"a portable copy in a Wine prefix needs the exe's full Windows path (C:\\...), got {quoted(seat.exe)}",
            )
        ini = _ini(seat, prefix, exe_folder, 0)
    apps = target.applications_dir
    applications = _base(seat, "applications_dir", apps, root_override) if apps else None
    return SeatTarget(seat.id, "wine", prefix, ini, user, tuple(notes), applications)


def wine_parts(windows_path: str) -> tuple[str, ...] | None:
    """A Windows path (``C:\\Program Files\\MicroSIP``) as parts below a Wine prefix, or None if not absolute.

    Drive C is the prefix's ``drive_c``; other drives are its ``dosdevices/x:`` entries,
    which Wine makes links -- so the tool refuses to follow them.
    """
    pure = PureWindowsPath(windows_path)
    if not pure.drive or not pure.root:
        return None
    letter = pure.drive[0].lower()
    base = ("drive_c",) if letter == "c" else ("dosdevices", f"{letter}:")
    return (*base, *pure.parts[1:])


def _wine_notes(seat: Seat, prefix: Path) -> list[str]:
    """Warn when the prefix's registry contradicts the fleet's install mode."""
    try:
        registered = wine_install_folder(prefix)
    except DeployError as exc:
        return [f"the Wine prefix's registry cannot be read ({exc}); MicroSIP's install mode is unchecked"]
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
            f"the Wine prefix registers MicroSIP at {printable(registered)}, so {seat.exe} runs as the installed "
            "copy and reads %APPDATA%\\MicroSIP, not the ini beside the exe"
        ]
    if seat.install_mode == "installed" and not same:
        return [
            f"the Wine prefix registers MicroSIP at {printable(registered)}, not at the seat's exe folder "
            f"{exe_folder}: that copy would run portable"
        ]
    return []


#: The default value of MicroSIP's key in a Wine registry file, found without decoding or splitting
#: the file (a user.reg may be tens of MB): the section header, then its lines up to the next one.
_MICROSIP_KEY = re.compile(
    rb"^\[software\\\\(?:wow6432node\\\\)?microsip\][^\n]*\n((?:[^\[\n][^\n]*\n|\n)*)", re.I | re.M
)
_DEFAULT_VALUE = re.compile(rb'^@="((?:[^"\\\n]|\\.)*)"', re.M)
#: A Wine registry file larger than this is not one (they are a few MB at most).
MAX_REGISTRY_BYTES = 64 * 1024 * 1024


def wine_install_folder(prefix: Path) -> str | None:
    """The default value of ``Software\\MicroSIP`` in the prefix's registry (HKCU first), if any.

    The registry files belong to the prefix's owner: they are read without following
    links (a link or a FIFO there raises :class:`provisioner.targetfs.safefs.UnsafeError`).
    """
    opened = reaching.open_below(prefix, (), home=0, create=False)
    if opened is None:
        return None
    folder, _ = opened
    with folder:
        for name in ("user.reg", "system.reg"):
            found = folder.read(name, MAX_REGISTRY_BYTES)
            if found is None:
                continue
            value = _reg_default(found[0])
            if value:
                return value
    return None


def _reg_default(data: bytes) -> str | None:
    """The default value of the first ``Software\\MicroSIP`` key in a registry file's bytes, if any."""
    for section in _MICROSIP_KEY.finditer(data):
        value = _DEFAULT_VALUE.search(section.group(1))
        if value:
            raw = value.group(1).decode("utf-8", errors="replace")
            return raw.replace("\\\\", "\\").replace('\\"', '"')
    return None
