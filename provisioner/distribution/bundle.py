"""Portable bundles: a MicroSIP distribution plus a seat's ini and launcher.

The admin supplies a MicroSIP distribution (a folder or a zip). The bundle holds
all its files, the exe renamed to the seat's exe name (MicroSIP names its ini
after its exe), the seat's ini, a ``.cmd`` launcher that starts the exe from its
own folder, and a README for the person who receives the stick. With
``per-account`` instances every account gets its own copy of the exe, ini and
launcher, since one running MicroSIP registers one account. This module builds
the bundle in memory; :mod:`provisioner.deploy` writes it.
"""

from __future__ import annotations

import dataclasses
import io
import ntpath
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from provisioner import ini
from provisioner.errors import Problems, UsageError, quoted
from provisioner.fleet import Fleet, KeyedValues, Seat
from provisioner.render.files import RenderedFile
from provisioner.render.renderer import Renderer

Instances = Literal["single", "per-account"]
#: Timestamp every zip entry gets, so that the same inputs give the same bytes.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: A MicroSIP distribution is a few megabytes; refuse to read absurd ones.
MAX_DISTRIBUTION_BYTES = 512 * 1024 * 1024


class BundleError(UsageError):
    """Bad bundle input (distribution, output path): exit code 2."""


@dataclass
class Bundle:
    """The bundle's files (relative POSIX path -> bytes) and what to tell the admin."""

    files: dict[str, bytes] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def read_distribution(source: Path) -> dict[str, bytes]:
    """The files of a MicroSIP distribution folder or zip, by relative path.

    A single top-level folder (as release zips have) is stripped. Zip members that
    would land outside the bundle (absolute paths, ``..``) are refused, and so is a
    damaged zip.
    """
    try:
        return _read_distribution(source)
    except (
        zipfile.BadZipFile,
        zlib.error,
        struct.error,
        EOFError,
        NotImplementedError,
        RuntimeError,
        ValueError,
        LookupError,
        OverflowError,
    ) as exc:
        raise BundleError(f"{source}: a damaged or unsupported zip file ({exc})") from None
    except OSError as exc:
        raise BundleError(f"{source}: cannot be read ({exc.strerror or exc})") from None


def _read_distribution(source: Path) -> dict[str, bytes]:
    if source.is_dir():
        files = {}
        for path in sorted(source.rglob("*")):
            if path.is_file() and not path.is_symlink():
                files[path.relative_to(source).as_posix()] = path.read_bytes()
    elif zipfile.is_zipfile(source):
        files = _read_zip(source)
    elif source.exists():
        raise BundleError(f"{source}: not a folder or a zip file")
    else:
        raise BundleError(f"{source}: does not exist")
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1 and all("/" in name for name in files):
        top = tops.pop()
        files = {name[len(top) + 1 :]: data for name, data in files.items()}
    return files


def _read_zip(source: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    with zipfile.ZipFile(source) as archive:
        for info in archive.infolist():
            name = info.filename
            parts = PurePosixPath(name.replace("\\", "/")).parts
            if name.startswith(("/", "\\")) or ntpath.splitdrive(name)[0] or ".." in parts:
                raise BundleError(
                    f"{source}: member {quoted(name)} would be written outside the bundle (zip-slip); "
                    "refusing this archive"
                )
            if info.is_dir():
                continue
            total += info.file_size
            if total > MAX_DISTRIBUTION_BYTES:
                raise BundleError(f"{source}: expands to more than {MAX_DISTRIBUTION_BYTES} bytes")
            files["/".join(parts)] = archive.read(info)
    return files


def find_exe(files: dict[str, bytes], source: Path) -> str:
    """The MicroSIP exe among the distribution's top-level files."""
    top_level = [name for name in files if "/" not in name and name.lower().endswith(".exe")]
    for name in top_level:
        if name.lower() == "microsip.exe":
            return name
    candidates = [name for name in top_level if name.lower().startswith("microsip")]
    if len(candidates) == 1:
        return candidates[0]
    found = ", ".join(top_level) or "none"
    raise BundleError(
        f"{source}: no MicroSIP exe at the top of the distribution (exe files found: {found}); "
        "point --microsip at the unpacked MicroSIP folder or its release zip"
    )


def check_output(out: Path, source: Path) -> None:
    """Refuse an output inside the source, or a non-empty output folder."""
    try:
        _check_output(out, source)
    except OSError as exc:
        raise BundleError(f"{exc.filename or out}: cannot be checked ({exc.strerror or exc})") from None


def _check_output(out: Path, source: Path) -> None:
    resolved_source = source.resolve()
    resolved_out = out.resolve()
    if source.is_dir() and (resolved_out == resolved_source or resolved_out.is_relative_to(resolved_source)):
        raise BundleError(f"{out}: the output is inside the MicroSIP distribution {source}; choose another place")
    if resolved_source.is_relative_to(resolved_out) and resolved_out != resolved_source.parent:
        raise BundleError(f"{out}: the output would contain the MicroSIP distribution {source}")
    if out.suffix.lower() != ".zip" and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"{out}: exists and is not an empty folder; choose a new path (nothing was written)")


def build(
    fleet: Fleet,
    seat: Seat,
    distribution: dict[str, bytes],
    exe_name: str,
    *,
    instances: Instances = "single",
    passwords: bool = True,
    environ: Any = None,
) -> Bundle:
    """Lay out the bundle for ``seat`` in memory."""
    bundle = Bundle()
    exe_data = distribution[exe_name]
    for name, data in distribution.items():
        if name == exe_name:
            continue
        if name.lower().endswith(".ini") and "/" not in name:
            bundle.warnings.append(f"left out {name}: the bundle brings the seat's own settings")
            continue
        bundle.files[name] = data
    if seat.install_mode != "portable":
        where = f", target {seat.target.type}" if seat.target else ""
        bundle.warnings.append(
            f"seat {seat.id} is an installed MicroSIP (install mode {seat.install_mode}{where}); the bundle makes it "
            "portable: MicroSIP reads the ini beside its exe, and the seat's shortcuts become a .cmd launcher"
        )
    copies = _copies(seat, instances, passwords)
    renderer = Renderer(fleet, environ)
    problems = Problems()
    readme_copies = []
    for copy, label in copies:
        rendered = renderer.render(copy, problems)
        if rendered is None:
            continue
        exe = copy.exe
        bundle.files[exe] = exe_data
        for file in rendered.files:
            bundle.files[file.name] = file.data
        launcher = next(f.name for f in rendered.launchers if f.name.endswith(".cmd"))
        readme_copies.append({"exe": exe, "ini": rendered.ini.name, "launcher": launcher, "account": label})
        if passwords and _has_password(rendered.ini):
            bundle.warnings.append(
                f"{rendered.ini.name} holds a plain-text password until MicroSIP first starts and "
                "encrypts it; hand the bundle over privately, or use --no-passwords"
            )
    problems.raise_if_errors()
    readme = renderer.template("README.txt.j2").render(
        seat={"id": seat.id},
        fleet={"name": fleet.name},
        copies=readme_copies,
        passwords=passwords,
        minimized=(seat.launch.args == "/minimized"),
    )
    bundle.files["README.txt"] = readme.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    return bundle


def _copies(seat: Seat, instances: Instances, passwords: bool) -> list[tuple[Seat, str]]:
    """The MicroSIP copies the bundle holds: one, or one per account (each with its label)."""
    stem = seat.exe_stem
    copies: list[tuple[Seat, str]] = []
    if instances == "per-account":
        for index, account in enumerate(seat.accounts, start=1):
            copy = _single_account(seat, index, account, f"{stem}-{index}.exe")
            copies.append((copy, _describe(account, index)))
    else:
        copies.append((dataclasses.replace(seat, install_mode="portable", exe=f"{stem}.exe", target=None), ""))
    if not passwords:
        copies = [(_without_passwords(s), label) for s, label in copies]
    return copies


def _describe(account: KeyedValues, index: int) -> str:
    label = account.get("label") or account.get("displayName") or account.get("username") or ""
    return f"account {index}" + (f" ({label})" if isinstance(label, str) and label else "")


def _single_account(seat: Seat, index: int, account: KeyedValues, exe: str) -> Seat:
    launch = seat.launch.model_copy(update={"name": f"{seat.launch.file_name} {index}"})
    if launch.arguments.startswith("/account:"):
        launch = launch.model_copy(update={"args": ""})  # each copy has exactly one account
    return dataclasses.replace(
        seat,
        accounts=[account],
        account_origins=[seat.account_origins[index - 1]],
        active_account=1,
        install_mode="portable",
        exe=exe,
        target=None,
        launch=launch,
        ini={k: v for k, v in seat.ini.items() if not k.startswith("Account")},
    )


def _without_passwords(seat: Seat) -> Seat:
    accounts = [account.replaced(password="") for account in seat.accounts]
    return dataclasses.replace(seat, accounts=accounts)


def _has_password(rendered: RenderedFile) -> bool:
    values = ini.parse(ini.decode(rendered.data)[0]).as_dict()
    return any(v.get("password") for k, v in values.items() if k.startswith("account"))


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A reproducible zip: sorted entries, fixed times and private permissions.

    The seat's ini may hold a plaintext password, so every entry is for its owner
    only: 0700 for programs and scripts, 0600 for the rest.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            mode = 0o700 if name.lower().endswith((".exe", ".cmd", ".dll")) else 0o600
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, files[name], compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buffer.getvalue()


__all__ = ["Bundle", "BundleError", "build", "check_output", "find_exe", "read_distribution", "zip_bytes"]
