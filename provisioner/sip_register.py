"""One account's REGISTER, as MicroSIP sends it, over UDP, TCP or TLS, with digest authentication.

What MicroSIP 3.22.3 sends (``mainDlg.cpp``): the request URI is ``sip:`` and the account's
``server`` with ``;transport=tcp|tls`` from its ``transport`` (3662-3664, ``AddTransportSuffix``
in ``global.cpp`` 184-204); each word of ``proxy`` becomes an outbound proxy ``sip:`` URI with
the same suffix (3571-3585); the address of record is ``sip:username@domain`` (3654,
``GetSIPURI``); the digest user is ``authID``, else ``username``, for any realm (3559-3560).
A 401 or 403 after credentials is what MicroSIP shows as "Incorrect Password" (3870-3872).

The standard library only: ``socket``, ``ssl`` and ``hashlib``. A query (no Contact, RFC 3261
section 10.2.3) authenticates and lists the bindings without changing any; ``bind`` registers a
throw-away contact and removes it again.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from provisioner import __version__

#: RFC 3261 section 17.1.2: the first retransmission interval and its cap, in seconds.
T1, T2 = 0.5, 4.0
#: The digest algorithms we answer, best first (RFC 8760: SHA-256 is preferred to MD5).
ALGORITHMS = {"SHA-256": "sha256", "SHA-256-SESS": "sha256", "MD5": "md5", "MD5-SESS": "md5"}
#: What a check says of an account: MicroSIP's words where it has them.
OK, WRONG_PASSWORD, UNKNOWN_USER, PROXY_AUTH = "ok", "incorrect password", "unknown user", "proxy authentication"
UNREACHABLE, CERTIFICATE, OTHER = "unreachable", "certificate problem", "other"


@dataclass(frozen=True)
class Account:
    """What a REGISTER needs of one account (from the seat's effective values; the password resolved)."""

    server: str
    domain: str
    username: str
    password: str
    transport: str = "udp"  # udp, tcp or tls ("" as MicroSIP: udp)
    proxy: str = ""
    auth_id: str = ""

    @property
    def hop(self) -> tuple[str, str, int]:
        """``(transport, host, port)`` the request is sent to: the first proxy, else the server."""
        transport = self.transport or "udp"
        host, port = split_host(self.proxy.split()[0] if self.proxy.split() else self.server)
        return transport, host, port or (5061 if transport == "tls" else 5060)


@dataclass(frozen=True)
class Outcome:
    """How one check ended: a word (:data:`OK`, :data:`WRONG_PASSWORD`, ...) and what the server said."""

    word: str
    detail: str = ""
    #: Whether the server refused the credentials (the stop-after-failures rule counts these).
    refused_credentials: bool = False


@dataclass
class Response:
    """A SIP response: its status, reason and headers (names lower-cased, each with its values)."""

    status: int
    reason: str
    headers: dict[str, list[str]] = field(default_factory=dict)

    def first(self, name: str) -> str:
        """The header's first value, or ""."""
        values = self.headers.get(name, [])
        return values[0] if values else ""


def split_host(text: str) -> tuple[str, int | None]:
    """``pbx.example:5062`` -> ``("pbx.example", 5062)``; ``[::1]:5060`` and a bare host too."""
    text = text.strip().removeprefix("sip:").removeprefix("sips:").split(";")[0]
    found = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?|([^:\[\]]+)(?::(\d+))?", text)
    if found is None:
        return text, None
    host = found.group(1) or found.group(3)
    port = found.group(2) or found.group(4)
    return host, int(port) if port else None


# ---- the wire: a connection per next hop ----------------------------------------------------


class Link:
    """A connection to one next hop; UDP retransmits as RFC 3261 section 17.1.2 says."""

    def __init__(
        self,
        transport: str,
        host: str,
        port: int,
        timeout: float,
        tls: ssl.SSLContext | None,
        pace: Callable[[], None] = lambda: None,
    ) -> None:
        self.transport = transport
        self.pace = pace  # called before each new request (not before a retransmission)
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        )[0]
        self.sock = socket.socket(family, kind, proto)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        if transport == "tls":
            assert tls is not None
            self.sock = tls.wrap_socket(self.sock, server_hostname=host)
        self.buffer = b""
        self.local = self.sock.getsockname()[:2]

    def close(self) -> None:
        self.sock.close()

    def exchange(self, request: bytes, call_id: str, deadline: float) -> Response:
        """Send ``request`` and return its final response; TimeoutError when none comes in time."""
        self.pace()
        self.sock.sendall(request)  # one datagram for UDP, the whole message for a stream
        interval = T1
        resend = time.monotonic() + interval
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise TimeoutError("no response")
            self.sock.settimeout(max(0.01, min(deadline, resend if self.transport == "udp" else deadline) - now))
            try:
                response = self._receive()
            except TimeoutError:
                if self.transport == "udp" and time.monotonic() >= resend:
                    self.sock.send(request)
                    interval = min(interval * 2, T2)
                    resend = time.monotonic() + interval
                continue
            if response is None or _call_id(response) != call_id:
                continue  # a stray or an earlier transaction's retransmitted answer
            if response.status >= 200:
                return response
            interval, resend = T2, time.monotonic() + T2  # provisional: keep resending at T2 only

    def _receive(self) -> Response | None:
        if self.transport == "udp":
            return parse_response(self.sock.recv(65535))
        while True:
            message, self.buffer = _one_message(self.buffer)
            if message is not None:
                return parse_response(message)
            chunk = self.sock.recv(65535)
            if not chunk:
                raise ConnectionResetError("the server closed the connection")
            self.buffer += chunk


def _one_message(buffer: bytes) -> tuple[bytes | None, bytes]:
    """The first whole message in a stream's ``buffer`` (by Content-Length), and what follows it."""
    buffer = buffer.lstrip(b"\r\n")  # keep-alive CRLFs
    head, found, _ = buffer.partition(b"\r\n\r\n")
    if not found:
        return None, buffer
    length = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", head)
    end = len(head) + 4 + (int(length.group(1)) if length else 0)
    if len(buffer) < end:
        return None, buffer
    return buffer[:end], buffer[end:]


def _call_id(response: Response) -> str:
    return response.first("call-id") or response.first("i")


def parse_response(data: bytes) -> Response | None:
    """A response from its bytes; None for anything else (a request, garbage)."""
    text = data.decode("utf-8", "replace")
    head = text.split("\r\n\r\n", 1)[0].replace("\r\n ", " ").replace("\r\n\t", " ")
    lines = head.split("\r\n")
    found = re.fullmatch(r"SIP/2\.0 (\d{3}) ?(.*)", lines[0])
    if found is None:
        return None
    response = Response(int(found.group(1)), found.group(2))
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            response.headers.setdefault(name.strip().lower(), []).append(value.strip())
    return response


# ---- digest (RFC 7616, RFC 8760) ------------------------------------------------------------


def challenges(response: Response) -> list[dict[str, str]]:
    """The Digest challenges of a 401 or 407, each as its parameters (``realm``, ``nonce``, ...)."""
    name = "proxy-authenticate" if response.status == 407 else "www-authenticate"
    out = []
    for value in response.headers.get(name, []):
        scheme, _, rest = value.partition(" ")
        if scheme.lower() == "digest":
            out.append(
                {k.lower(): v1 if v1 else v2 for k, v1, v2 in re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))', rest)}
            )
    return out


def best_challenge(found: list[dict[str, str]]) -> dict[str, str] | None:
    """The challenge with the best algorithm we answer (SHA-256 before MD5); None when none is ours."""
    usable = [c for c in found if c.get("algorithm", "MD5").upper() in ALGORITHMS]
    order = list(ALGORITHMS)
    return min(usable, key=lambda c: order.index(c.get("algorithm", "MD5").upper()), default=None)


def authorization(
    challenge: dict[str, str],
    uri: str,
    user: str,
    password: str,
    count: int,
    *,
    method: str = "REGISTER",
    cnonce: str | None = None,
) -> str:
    """The Authorization value answering ``challenge`` for ``method`` of ``uri`` (qop=auth when offered;
    ``cnonce`` is random unless given)."""
    algorithm = challenge.get("algorithm", "MD5")
    digest = _hasher(ALGORITHMS[algorithm.upper()])
    realm, nonce = challenge.get("realm", ""), challenge.get("nonce", "")
    cnonce = cnonce if cnonce is not None else secrets.token_hex(8)
    ha1 = digest(f"{user}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = digest(f"{ha1}:{nonce}:{cnonce}")
    ha2 = digest(f"{method}:{uri}")
    qops = [q.strip() for q in challenge.get("qop", "").split(",")]
    fields = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if "auth" in qops:
        nc = f"{count:08x}"
        fields += [f'response="{digest(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")}"', "qop=auth", f"nc={nc}"]
    else:
        fields.append(f'response="{digest(f"{ha1}:{nonce}:{ha2}")}"')
    if "auth" in qops or algorithm.upper().endswith("-SESS"):  # -sess: the server needs it for HA1
        fields.append(f'cnonce="{cnonce}"')
    fields.append(f"algorithm={algorithm}")
    if "opaque" in challenge:
        fields.append(f'opaque="{challenge["opaque"]}"')
    return "Digest " + ", ".join(fields)


def _hasher(name: str) -> Callable[[str], str]:
    return lambda text: hashlib.new(name, text.encode("utf-8")).hexdigest()


# ---- one account's check --------------------------------------------------------------------


@dataclass
class Dialog:
    """What the requests of one check share: Call-ID, tag, CSeq, and the credentials answered."""

    account: Account
    link: Link
    contact: str | None = None  # None: a query
    expires: int | None = None
    call_id: str = field(default_factory=lambda: f"{secrets.token_hex(12)}@microsip-provisioner")
    tag: str = field(default_factory=lambda: secrets.token_hex(6))
    cseq: int = 0
    answers: dict[str, str] = field(default_factory=dict)  # Authorization / Proxy-Authorization -> value

    @property
    def suffix(self) -> str:
        """``;transport=tcp|tls`` as MicroSIP's AddTransportSuffix adds it (nothing for UDP)."""
        return f";transport={self.account.transport}" if self.account.transport in ("tcp", "tls") else ""

    @property
    def uri(self) -> str:
        """The request URI, as MicroSIP builds it."""
        return f"sip:{self.account.server}{self.suffix}"

    def request(self) -> bytes:
        """The next REGISTER of this dialog."""
        self.cseq += 1
        account, (host, port) = self.account, self.link.local
        aor = f"sip:{account.username}@{account.domain}"
        via_host = f"[{host}]" if ":" in host else host
        branch = f"z9hG4bK{secrets.token_hex(10)}"
        proxies = account.proxy.split()
        lines = [
            f"REGISTER {self.uri} SIP/2.0",
            f"Via: SIP/2.0/{self.link.transport.upper()} {via_host}:{port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <{aor}>;tag={self.tag}",
            f"To: <{aor}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} REGISTER",
            *([f"Route: <sip:{proxies[0]}{self.suffix};lr>"] if proxies else []),
            *([f"Contact: <{self.contact}>"] if self.contact else []),
            *([f"Expires: {self.expires}"] if self.expires is not None else []),
            f"User-Agent: microsip-provisioner/{__version__} check-registration",
            *(f"{name}: {value}" for name, value in self.answers.items()),
            "Content-Length: 0",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def transact(dialog: Dialog, deadline: float) -> Response:
    """Send the dialog's REGISTER, answering each kind of challenge once (again when ``stale``)."""
    response = dialog.link.exchange(dialog.request(), dialog.call_id, deadline)
    answered: set[str] = set()
    for _ in range(3):
        if response.status not in (401, 407):
            break
        header = "Proxy-Authorization" if response.status == 407 else "Authorization"
        challenge = best_challenge(challenges(response))
        if challenge is None or (header in answered and challenge.get("stale", "").lower() != "true"):
            break
        answered.add(header)
        user = dialog.account.auth_id or dialog.account.username
        dialog.answers[header] = authorization(challenge, dialog.uri, user, dialog.account.password, 1)
        response = dialog.link.exchange(dialog.request(), dialog.call_id, deadline)
    return response


def judged(response: Response, answered: bool) -> Outcome:
    """A final response in MicroSIP's words."""
    status = f"{response.status} {response.reason}".strip()
    if 200 <= response.status < 300:
        return Outcome(OK, status)
    if response.status in (401, 403) and answered:
        return Outcome(WRONG_PASSWORD, status, refused_credentials=True)
    if response.status == 404:
        return Outcome(UNKNOWN_USER, status, refused_credentials=True)
    if response.status == 407:
        return Outcome(PROXY_AUTH, status, refused_credentials=answered)
    if response.status == 401:
        return Outcome(OTHER, f"{status} (no digest challenge this tool can answer)")
    return Outcome(OTHER, status)


#: How long a throw-away binding would live if its removal were lost.
BIND_SECONDS = 60


def check(account: Account, link: Link, *, bind: bool, deadline: float) -> Outcome:
    """Query (or, with ``bind``, register and remove a throw-away contact for) one account."""
    if not bind:
        dialog = Dialog(account, link)
        return judged(transact(dialog, deadline), bool(dialog.answers))
    host, port = link.local
    user = f"provisioner-check-{secrets.token_hex(4)}"
    contact = f"sip:{user}@{f'[{host}]' if ':' in host else host}:{port}"
    dialog = Dialog(account, link, contact=contact + Dialog(account, link).suffix, expires=BIND_SECONDS)
    response = transact(dialog, deadline)
    if response.status == 423:  # Interval Too Brief: the registrar's Min-Expires
        dialog.expires = int(response.first("min-expires") or BIND_SECONDS)
        response = transact(dialog, deadline)
    outcome = judged(response, bool(dialog.answers))
    if outcome.word == OK:
        dialog.expires = 0
        removed = transact(dialog, deadline)
        if not 200 <= removed.status < 300:
            return Outcome(
                OTHER, f"registered, but removing the test contact failed: {removed.status} {removed.reason}"
            )
    return outcome


def failure(exc: BaseException, timeout: float) -> Outcome:
    """What a failure to reach the server is called."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Outcome(CERTIFICATE, exc.verify_message or str(exc))
    if isinstance(exc, ssl.SSLError):
        return Outcome(CERTIFICATE, f"TLS handshake failed: {exc.reason or exc}")
    if isinstance(exc, socket.gaierror):
        return Outcome(UNREACHABLE, f"the name does not resolve ({exc.strerror})")
    if isinstance(exc, TimeoutError):
        return Outcome(UNREACHABLE, f"no answer within {timeout:g} s")
    if isinstance(exc, ConnectionRefusedError):
        return Outcome(UNREACHABLE, "connection refused")
    return Outcome(UNREACHABLE, getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
