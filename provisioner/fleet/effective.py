"""A seat's layers merged, and the rules only the merged seat can answer."""

from __future__ import annotations

import functools
import ntpath
import re
from typing import Any, NamedTuple, TypeVar

from provisioner import catalogue
from provisioner.errors import Loc, Problems, quoted
from provisioner.fleet.layer_data import profile_order, same_ini_spelling
from provisioner.fleet.merging import finalize, merge_layers, settled
from provisioner.fleet.seat import (
    DEFAULT_INSTALLED_EXE,
    DEFAULT_PORTABLE_EXE,
    TARGET_FIELDS,
    TARGET_REQUIRED,
    KeyedValues,
    LayerSource,
    Origin,
    Provenance,
    Seat,
    ini_key,
    origin_loc,
    seat_loc,
)
from provisioner.inputs.yaml_reader import (
    Path_,
)
from provisioner.launchers.command_line import (
    account_switch,
    cmd_problem,
    lnk_target_problem,
)
from provisioner.models import Launch, SpeedDial, Target
from provisioner.numbers import whole

Part = TypeVar("Part", Launch, SpeedDial, Target)


def _shared(model: type[Part], data: dict[str, Any]) -> Part:
    """The merged seat's part made from ``data``: one frozen object for every seat with the same values
    (most come whole from the defaults or a profile)."""
    # each value with its type: 1 and True are equal keys, but not the same label
    key = (
        model,
        *((name, type(value), tuple(value) if isinstance(value, list) else value) for name, value in data.items()),
    )
    try:
        made = _MADE.get(key)
    except TypeError:  # a value that cannot be a key: made on its own
        return model.merged(data)
    if made is None:
        made = model.merged(data)
        if len(_MADE) < _MADE_AT_MOST:
            _MADE[key] = made
    assert isinstance(made, model)
    return made


#: The parts made so far, by model and values (frozen, so any seat may share one).
_MADE: dict[tuple[Any, ...], Launch | SpeedDial | Target] = {}
_MADE_AT_MOST = 4096


class SharedLayers(NamedTuple):
    """Defaults and a chain of profiles merged once, for every seat that uses that chain."""

    layers: tuple[dict[str, Any], dict[Path_, Origin]]
    account: tuple[dict[str, Any], dict[Path_, Origin]]


def effective_seat(
    source: LayerSource,
    dumped: dict[str, Any],
    defaults: LayerSource | None,
    profiles: dict[str, tuple[LayerSource, list[str]] | None],
    version: str,
    problems: Problems,
    prefixes: dict[tuple[int, ...], SharedLayers],
) -> Seat | None:
    before = len(problems.errors)
    wanted = dumped.get("profiles") or []
    chosen = profile_order(source, wanted, profiles, problems)
    if chosen is None or len(problems.errors) > before:
        return None
    shared = ([defaults] if defaults else []) + chosen
    base = _prefix(shared, prefixes)
    own = same_ini_spelling(source.data, [*shared, source])
    merged, _ = merge_layers([(own, (source, ()))], base.layers, provenance=False)
    origins = Provenance(base.layers, source, (own,), _SEAT_OFFSETS)  # worked out only if asked
    effective = merged if settled(merged) else finalize(merged)  # most seats remove nothing
    accounts, account_origins = _accounts(source, dumped.get("accounts") or [], base, problems)
    active = dumped.get("active_account") or 1
    _check_account_numbers(source, effective, origins, active, len(accounts), problems)
    target = effective.get("target") or None
    target_type = _check_target(target, origins, source, problems)
    mode, exe = _install(effective, target_type, origins, source, problems)
    _check_launchers(effective, mode, exe, target_type, origins, source, problems)
    _check_phonebook(effective, origins, source, problems)
    if len(problems.errors) > before:
        return None
    settings, implied = _implied_settings(effective)
    return Seat(
        id=dumped["id"],
        user=dumped.get("user") or dumped["id"],
        computer=dumped.get("computer"),
        source=source,
        profiles=wanted,
        settings=KeyedValues(settings, catalogue.section_keys("settings", version)),
        accounts=[KeyedValues(account, catalogue.section_keys("account", version)) for account in accounts],
        active_account=active,
        install_mode=mode,
        exe=exe,
        target=_shared(Target, target) if target else None,
        launch=_shared(Launch, effective.get("launch") or {}),
        ini={section: dict(keys or {}) for section, keys in (effective.get("ini") or {}).items()},
        speed_dials=[_shared(SpeedDial, dial) for dial in effective.get("speed_dials") or []],
        contacts=[{k: v for k, v in c.items() if v is not None} for c in effective.get("contacts") or []],
        contacts_mode=str(effective.get("contacts_mode") or "merge"),
        origins=origins,
        account_origins=account_origins,
        enforce=list(effective.get("enforce") or []),
        unmanaged=frozenset(ini_key(name) for name in effective.get("unmanage") or []),
        implied=implied,
    )


def _prefix(shared: list[LayerSource], prefixes: dict[tuple[int, ...], SharedLayers]) -> SharedLayers:
    """Defaults and the seat's profiles merged, once for every seat with the same chain."""
    chain = tuple(map(id, shared))
    base = prefixes.get(chain)
    if base is None:
        base = SharedLayers(
            merge_layers((same_ini_spelling(layer.data, shared), (layer, ())) for layer in shared),
            merge_layers(((layer.data.get("account") or {}), (layer, ("account",))) for layer in shared),
        )
        prefixes[chain] = base
    return base


def _accounts(
    source: LayerSource, raw: list[dict[str, Any]], base: SharedLayers, problems: Problems
) -> tuple[list[dict[str, Any]], list[Provenance]]:
    """Each of the seat's accounts merged over the `account:` layers, with where each value came from."""
    accounts: list[dict[str, Any]] = []
    account_origins: list[Provenance] = []
    if not raw:
        problems.error(
            source.loc(("accounts",)),
            f"{source.label}.accounts",
            "a seat needs at least one account",
            code="no-account",
        )
    for i, account in enumerate(raw):
        own_account = (source.data.get("account") or _NO_LAYER, account)
        offsets = _account_offsets(i)
        merged_account, _ = merge_layers(
            [(data, (source, offset)) for data, offset in zip(own_account, offsets, strict=True)],
            base.account,
            provenance=False,
        )
        final = merged_account if settled(merged_account) else finalize(merged_account)
        accounts.append(final)
        account_origins.append(Provenance(base.account, source, own_account, offsets))
        _check_account(source, i, final, problems)
    return accounts, account_origins


def _check_account(source: LayerSource, i: int, account: dict[str, Any], problems: Problems) -> None:
    label = f"{source.label}.accounts[{i + 1}]"
    if not account.get("domain"):
        problems.error(
            source.loc(("accounts", i)),
            f"{label}.domain",
            "the account has no domain, and MicroSIP ignores an account without one; "
            "set `domain` here or in an `account:` layer",
            code="no-domain",
        )
    if account.get("server") and not account.get("username"):
        problems.error(
            source.loc(("accounts", i)),
            f"{label}.username",
            "the account has a `server` but no `username`; MicroSIP cannot register without one",
            code="no-username",
        )


def _check_account_numbers(
    source: LayerSource,
    effective: dict[str, Any],
    origins: Provenance,
    active: int,
    count: int,
    problems: Problems,
) -> None:
    """``active_account``, ``[AccountN]`` sections and ``/account:N`` name accounts the seat has."""
    accounts = f"{count} account{'s' if count != 1 else ''}"
    if count and active > count:
        problems.error(
            source.loc(("active_account",)),
            f"{source.label}.active_account",
            f"account {active} does not exist; the seat has {accounts} (numbered from 1)",
            code="no-such-account",
        )
    for section in effective.get("ini") or {}:
        numbered = re.fullmatch(r"Account([0-9]+)", section)
        number = whole(numbered.group(1)) if numbered else None
        if numbered and (number is None or number > count):
            problems.error(
                seat_loc(origins, source, ("ini", section)),
                f"{source.label}.ini.{section}",
                f"the seat has {accounts}; MicroSIP reads [Account1], [Account2], ... without gaps and would "
                f"ignore [{section}] -- add an entry to `accounts` instead",
                code="account-gap",
            )
    chosen_account = account_switch(str((effective.get("launch") or {}).get("args") or ""))
    if count and chosen_account is not None and chosen_account > count:
        problems.error(
            seat_loc(origins, source, ("launch", "args")),
            f"{source.label}.launch.args",
            f"/account:{chosen_account} names an account the seat does not have: it has {accounts} "
            "(numbered from 1); MicroSIP would find no such account and only bring its window forward",
            code="no-such-account",
        )


def _install(
    effective: dict[str, Any], target_type: str | None, origins: Provenance, source: LayerSource, problems: Problems
) -> tuple[str, str]:
    """The install mode (the target's, unless set) and the exe's name."""
    install = effective.get("install") or {}
    mode_needed = "portable" if target_type == "portable" else "installed"
    mode = install.get("mode") or mode_needed
    if target_type in ("appdata", "portable") and mode != mode_needed:
        where = origins.get(("install", "mode"))
        problems.error(
            origin_loc(where, ("install", "mode")) if where else source.loc(("install",)),
            f"{source.label}.install.mode",
            f"install.mode {quoted(mode)} contradicts target type {quoted(target_type)}, "
            f"which needs {quoted(mode_needed)}",
            code="mode-mismatch",
        )
    exe = install.get("exe") or (DEFAULT_PORTABLE_EXE if mode == "portable" else DEFAULT_INSTALLED_EXE)
    return mode, exe


def _implied_settings(effective: dict[str, Any]) -> tuple[dict[str, Any], dict[Path_, str]]:
    """The seat's settings with what its other values imply, and why each was implied."""
    settings = effective.get("settings") or {}
    implied: dict[Path_, str] = {}
    if effective.get("speed_dials") and not any(name.lower() == "enableshortcuts" for name in settings):
        # MicroSIP builds the speed-dial buttons only when [Settings] enableShortcuts=1 (default 0)
        settings = {**settings, "enableShortcuts": True}
        implied[("settings", "enableShortcuts")] = (
            "implied by speed_dials: MicroSIP shows speed-dial buttons only with enableShortcuts=1"
        )
    return settings, implied


#: A layer a seat does not have (shared: a merge never changes its layers).
_NO_LAYER: dict[str, Any] = {}

#: Where a seat's own layer stands in its entry; where its ``account:`` and its i-th account stand.
_SEAT_OFFSETS: tuple[Path_, ...] = ((),)


@functools.lru_cache(maxsize=64)
def _account_offsets(index: int) -> tuple[Path_, ...]:
    return (("account",), ("accounts", index))


def _check_launchers(
    effective: dict[str, Any],
    mode: str,
    exe: str,
    target_type: str | None,
    origins: Provenance,
    source: LayerSource,
    problems: Problems,
) -> None:
    """The seat's launchers can be written: ASCII for .cmd, a full path for .lnk."""
    launch = effective.get("launch") or {}
    args = str(launch.get("args") or "")
    if mode == "portable" and target_type != "wine":
        problem = cmd_problem(ntpath.basename(exe.replace("/", "\\")), args)
        if problem:
            problems.error(
                seat_loc(origins, source, ("install", "exe")),
                f"{source.label}.install.exe",
                problem,
                code="bad-launcher",
            )
        if launch.get("shortcuts"):
            problems.warn(
                seat_loc(origins, source, ("launch", "shortcuts")),
                f"{source.label}.launch.shortcuts",
                "ignored for a portable seat: it gets a .cmd launcher beside its exe, which works from any "
                "drive letter (shortcuts apply to installed and Wine seats)",
                code="ignored-for-portable",
            )
        return
    if launch.get("shortcuts"):
        problem = lnk_target_problem(exe)
        if problem:
            problems.error(
                seat_loc(origins, source, ("install", "exe")),
                f"{source.label}.install.exe",
                problem,
                code="bad-launcher",
            )


def _check_phonebook(effective: dict[str, Any], origins: Provenance, source: LayerSource, problems: Problems) -> None:
    """Contact numbers are unique (deploy merges by number); [Shortcuts] has one owner."""
    seen: dict[str, int] = {}
    for index, contact in enumerate(effective.get("contacts") or [], start=1):
        number = contact.get("number")
        if number in seen:
            problems.error(
                seat_loc(origins, source, ("contacts",)),
                f"{source.label}.contacts[{index}]",
                f"number {quoted(number)} is listed twice (also entry {seen[number]}); contacts are matched by number",
                code="duplicate-contact",
            )
        seen.setdefault(number, index)
    ini_sections = {s.lower() for s in effective.get("ini") or {}}
    if effective.get("speed_dials") and "shortcuts" in ini_sections:
        problems.error(
            seat_loc(origins, source, ("speed_dials",)),
            f"{source.label}.speed_dials",
            "both `speed_dials` and `ini: {Shortcuts: ...}` write [Shortcuts]; keep one",
            code="shortcuts-twice",
        )


def _check_target(
    target: dict[str, Any] | None,
    origins: Provenance,
    source: LayerSource,
    problems: Problems,
) -> str | None:
    if target is None:
        return None

    def loc(path: Path_) -> Loc:
        return seat_loc(origins, source, path, fallback=("target",))

    kind = target.get("type")
    label = f"{source.label}.target"
    if kind is None:
        problems.error(
            loc(("target",)),
            f"{label}.type",
            "the target needs a `type`: appdata, portable or wine",
            code="target-field",
        )
        return None
    for name in target:
        if name != "type" and name not in TARGET_FIELDS[kind]:
            problems.error(
                loc(("target", name)),
                f"{label}.{name}",
                f"{quoted(name)} does not apply to a {kind} target (it takes {', '.join(TARGET_FIELDS[kind])})",
                code="target-field",
            )
    required = TARGET_REQUIRED[kind]
    if not target.get(required):
        problems.error(
            loc(("target", "type")), f"{label}.{required}", f"a {kind} target needs `{required}`", code="target-field"
        )
    return str(kind)
