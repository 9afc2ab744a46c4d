"""check-registration: does each account of each seat register, asked of the real registrar, gently.

Every account is checked with the REGISTER MicroSIP would send (:mod:`provisioner.sip_register`).
A PBX is never hammered: requests are paced (10 a second overall by default), each server
gets one request at a time, a server that refuses five sets of credentials in a row is
asked nothing more (fail2ban and its kind ban an address for less), and a server that does
not answer is not asked again for its other accounts.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner import sip_register
from provisioner.api.common import FleetSource, loaded
from provisioner.errors import FleetError, Problem
from provisioner.fleet import Seat
from provisioner.inputs.secrets import SecretError, SecretRef, resolve
from provisioner.sip_register import Account, Link, Outcome

#: How many refused credentials in a row make the check leave a server alone.
MAX_REFUSED = 5
#: The words of an account not asked at all, and why.
NOT_CHECKED = "not checked"
#: How many servers are asked at once.
MAX_SERVERS_AT_ONCE = 8


@dataclass(frozen=True)
class AccountCheck:
    """One account's result: where it is in the fleet, what was asked, what came back."""

    seat_id: str
    index: int  # 0-based: accounts[index + 1]
    aor: str
    hop: str  # transport:host:port the request went to
    word: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.word == sip_register.OK


@dataclass
class RegistrationResult:
    """Outcome of check-registration over the chosen seats."""

    checks: list[AccountCheck]
    warnings: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    seats: dict[str, Seat] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every account registered."""
        return all(check.ok for check in self.checks)


class Pace:
    """At most ``rate`` requests a second, whichever thread sends them (``clock`` and ``sleep`` are
    the time functions it uses)."""

    def __init__(
        self, rate: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.interval = 1.0 / rate
        self.clock, self.sleep = clock, sleep
        self.lock = threading.Lock()
        self.next = clock()

    def __call__(self) -> None:
        with self.lock:
            now = self.clock()
            wait, self.next = self.next - now, max(self.next, now) + self.interval
        if wait > 0:
            self.sleep(wait)


@dataclass(frozen=True)
class Options:
    """How the accounts are asked."""

    bind: bool = False
    rate: float = 10.0
    timeout: float = 10.0
    cafile: Path | None = None


Progress = Callable[[int, int], None]


def check_registration(
    fleet_path: FleetSource,
    *,
    seat_ids: list[str] | None = None,
    options: Options = Options(),
    environ: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> RegistrationResult:
    """Check every account of the chosen seats against its registrar; bad input raises FleetError
    before any request is sent."""
    fleet = loaded(fleet_path)
    seats = fleet.chosen(seat_ids)
    warnings: list[Problem] = []
    wanted = _accounts(seats, environ, warnings)
    tls = ssl.create_default_context(cafile=str(options.cafile) if options.cafile else None)
    by_hop: dict[tuple[str, str, int], list[tuple[str, int, Account]]] = {}
    for seat_id, index, account in wanted:
        by_hop.setdefault(account.hop, []).append((seat_id, index, account))
    started = time.monotonic()
    run = _Run(options, tls, Pace(options.rate), len(wanted), progress)
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_SERVERS_AT_ONCE, len(by_hop)))) as pool:
        done = list(pool.map(run.server, by_hop.items()))
    order = {(seat_id, index): n for n, (seat_id, index, _) in enumerate(wanted)}
    checks = sorted((c for found in done for c in found), key=lambda c: order[(c.seat_id, c.index)])
    seconds = time.monotonic() - started
    return RegistrationResult(checks, [*fleet.warnings, *warnings], seconds, {s.id: s for s in seats})


def _accounts(
    seats: list[Seat], environ: Mapping[str, str] | None, warnings: list[Problem]
) -> list[tuple[str, int, Account]]:
    """Each account of the seats that MicroSIP registers (it has a server), its password resolved."""
    out, errors = [], []
    for seat in seats:
        for index, values in enumerate(seat.accounts):
            if not values.get("server"):
                continue  # MicroSIP does not register an account without a server (mainDlg.cpp 3657-3658)
            password = _password(seat, index, values.get("password"), environ, warnings)
            if isinstance(password, Problem):
                errors.append(password)
            else:
                out.append((seat.id, index, _account(values, password)))
    if errors:
        raise FleetError(errors, warnings)
    return out


def _password(
    seat: Seat, index: int, value: Any, environ: Mapping[str, str] | None, warnings: list[Problem]
) -> str | Problem:
    """The account's password, resolved as ``render`` resolves it; the problem when it cannot be."""
    if not isinstance(value, SecretRef):
        return str(value or "")
    where = (seat.account_loc(index, "password"), f"{seat.label}.accounts[{index + 1}].password")
    try:
        return resolve(value, environ, lambda message: warnings.append(_warning(where, message)))
    except SecretError as exc:
        return Problem(*where, f"{exc} (secret {value.describe()})", code="secret-missing")


def _warning(where: tuple[Any, str], message: str) -> Problem:
    return Problem(*where, message, warning=True, code="secret-exposed")


def _account(values: Mapping[str, Any], password: str) -> Account:
    return Account(
        server=str(values.get("server") or ""),
        domain=str(values.get("domain") or ""),
        username=str(values.get("username") or ""),
        password=password,
        transport=str(values.get("transport") or "udp"),
        proxy=str(values.get("proxy") or ""),
        auth_id=str(values.get("authID") or ""),
    )


@dataclass
class _Run:
    """What every server's worker shares: the options, the TLS settings, the pace, the count."""

    options: Options
    tls: ssl.SSLContext
    pace: Pace
    total: int
    progress: Progress | None
    done: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def server(self, item: tuple[tuple[str, str, int], list[tuple[str, int, Account]]]) -> list[AccountCheck]:
        """One server's accounts, one request at a time."""
        hop, accounts = item
        shown = f"{hop[0]}:{hop[1]}:{hop[2]}"
        state = _Server()
        out = []
        try:
            for seat_id, index, account in accounts:
                outcome = state.stopped or self._one(account, state)
                aor = f"sip:{account.username}@{account.domain}"
                out.append(AccountCheck(seat_id, index, aor, shown, outcome.word, outcome.detail))
                self._tick()
        finally:
            if state.link is not None:
                state.link.close()
        return out

    def _one(self, account: Account, state: _Server) -> Outcome:
        deadline = time.monotonic() + self.options.timeout
        try:
            if state.link is None:
                state.link = Link(*account.hop, self.options.timeout, self.tls, pace=self.pace)
            outcome = sip_register.check(account, state.link, bind=self.options.bind, deadline=deadline)
        except (OSError, ssl.SSLError, ValueError) as exc:  # ssl's certificate error is a ValueError too
            outcome = sip_register.failure(exc, self.options.timeout)
            state.drop()
            if outcome.word in (sip_register.UNREACHABLE, sip_register.CERTIFICATE):
                state.stopped = Outcome(outcome.word, f"{outcome.detail} (for an account before: not asked again)")
            return outcome
        state.count(outcome)
        return outcome

    def _tick(self) -> None:
        if self.progress is None:
            return
        with self.lock:
            self.done += 1
            self.progress(self.done, self.total)


@dataclass
class _Server:
    """What one server's worker knows: its connection, the refusals in a row, whether it stopped."""

    link: Link | None = None
    refused: int = 0
    stopped: Outcome | None = None

    def drop(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None

    def count(self, outcome: Outcome) -> None:
        self.refused = self.refused + 1 if outcome.refused_credentials else 0
        if self.refused >= MAX_REFUSED:
            why = f"the server refused {MAX_REFUSED} sets of credentials in a row; not asked again, so that it "
            self.stopped = Outcome(NOT_CHECKED, why + "does not ban this address")
