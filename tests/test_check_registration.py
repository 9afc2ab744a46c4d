"""check-registration against a real registrar: Kamailio on loopback (issue 26).

Each Kamailio (tests/registrar.py) runs in the test's folder with a db_text subscriber
table; one answers with MD5, one with SHA-256, both with qop=auth and a Min-Expires of
120 s (so --bind meets a 423 first). Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from provisioner import api, sip_register
from provisioner.api.registering import Options, Pace
from provisioner.errors import FleetError
from tests.conftest import RunCli
from tests.registrar import DOMAIN, KAMAILIO, NO_KAMAILIO, Registrar, free_port

pytestmark = pytest.mark.registrar

USERS = {"1000": "right-1000", "1001": "right-1001", "1002": "right-1002", "7000": "right-1000"}
ENV = {"PW_RIGHT": "right-1000", "PW_WRONG": "not-the-password"}


def _needed() -> None:
    if not Path(KAMAILIO).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {NO_KAMAILIO}")
        pytest.skip(NO_KAMAILIO)


@pytest.fixture(scope="module", params=["MD5", "SHA-256"])
def registrar(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registrar]:
    _needed()
    started = Registrar.start(tmp_path_factory.mktemp(f"kamailio-{request.param}"), USERS, algorithm=request.param)
    yield started
    started.stop()


def account(registrar: Registrar, transport: str, username: str = "1000", password: str = "{env: PW_RIGHT}") -> str:
    server = registrar.server(transport)
    return (
        f"{{server: '{DOMAIN}', proxy: '{server}', domain: {DOMAIN}, transport: {transport}, "
        f"username: '{username}', password: {password}}}"
    )


def fleet(folder: Path, seats: dict[str, str]) -> Path:
    body = "".join(f"  - id: {seat}\n    accounts: [{text}]\n" for seat, text in seats.items())
    path = folder / "fleet.yaml"
    path.write_text(f"version: 1\nname: t\nseats:\n{body}", encoding="utf-8")
    return path


def run(path: Path, registrar: Registrar | None = None, **options: object) -> api.RegistrationResult:
    cafile = registrar.ca if registrar is not None else None
    return api.check_registration(path, options=Options(cafile=cafile, **options), environ=ENV)  # type: ignore[arg-type]


def test_each_transport_and_answer_in_microsips_words(registrar: Registrar, tmp_path: Path) -> None:
    seats = {}
    for transport in ("udp", "tcp", "tls"):
        seats[f"{transport}-right"] = account(registrar, transport)
        seats[f"{transport}-wrong"] = account(registrar, transport, password="{env: PW_WRONG}")
        seats[f"{transport}-nobody"] = account(registrar, transport, username="9999")
    result = run(fleet(tmp_path, seats), registrar)
    found = {(c.seat_id, c.word, c.detail) for c in result.checks}
    assert found == {
        (f"{t}-{case}", word, detail)
        for t in ("udp", "tcp", "tls")
        for case, word, detail in (
            ("right", "ok", "200 OK"),
            ("wrong", "incorrect password", "401 Unauthorized"),
            ("nobody", "unknown user", "404 User Not Found"),
        )
    }
    assert [c.hop for c in result.checks if c.seat_id == "tls-right"] == [f"tls:127.0.0.1:{registrar.tls}"]
    assert not result.ok


def test_a_proxy_that_asks_for_credentials_itself(registrar: Registrar, tmp_path: Path) -> None:
    seats = {
        "right": account(registrar, "udp", username="7000"),
        "wrong": account(registrar, "udp", username="7000", password="{env: PW_WRONG}"),
    }
    found = [(c.seat_id, c.word, c.detail) for c in run(fleet(tmp_path, seats), registrar).checks]
    assert found == [("right", "ok", "200 OK"), ("wrong", "proxy authentication", "407 Proxy Authentication Required")]


def test_a_server_named_directly_and_the_cli_in_a_real_process(registrar: Registrar, tmp_path: Path) -> None:
    text = f"{{server: '{registrar.server('tcp')}', domain: {DOMAIN}, transport: tcp, username: '1001', password: right-1001}}"
    fleet(tmp_path, {"desk": text})
    done = subprocess.run(
        [sys.executable, "-m", "provisioner", "check-registration", "fleet.yaml", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["accounts"] == [
        {
            "seat": "desk",
            "account": 1,
            "aor": f"sip:1001@{DOMAIN}",
            "via": f"tcp:127.0.0.1:{registrar.tcp}",
            "result": "ok",
            "detail": "200 OK",
        }
    ]
    assert document["summary"]["accounts"] == {"total": 1, "ok": 1}
    assert "right-1001" not in done.stdout + done.stderr


def _bindings(registrar: Registrar, username: str, password: str) -> list[str]:
    """The Contact values the registrar lists for ``username`` (a query of our own)."""
    acc = sip_register.Account(DOMAIN, DOMAIN, username, password, "tcp", registrar.server("tcp"))
    link = sip_register.Link(*acc.hop, 5, None)
    try:
        response = sip_register.transact(sip_register.Dialog(acc, link), time.monotonic() + 5)
    finally:
        link.close()
    assert response.status == 200
    return response.headers.get("contact", [])


def test_a_query_leaves_a_live_binding_alone_and_bind_leaves_none(registrar: Registrar, tmp_path: Path) -> None:
    live = sip_register.Account(DOMAIN, DOMAIN, "1002", "right-1002", "udp", registrar.server("udp"))
    link = sip_register.Link(*live.hop, 5, None)
    dialog = sip_register.Dialog(live, link, contact="sip:1002@192.0.2.7:5070", expires=3600)
    assert sip_register.transact(dialog, time.monotonic() + 5).status == 200  # "MicroSIP", registered first
    link.close()
    before = _bindings(registrar, "1002", "right-1002")
    assert len(before) == 1 and "sip:1002@192.0.2.7:5070" in before[0]
    path = fleet(tmp_path, {"kim": account(registrar, "udp", "1002", "right-1002")})
    assert [c.word for c in run(path, registrar).checks] == ["ok"]
    after = _bindings(registrar, "1002", "right-1002")
    assert [b.split(";")[0] for b in after] == [b.split(";")[0] for b in before]
    link = sip_register.Link(*live.hop, 5, None)
    brief = sip_register.Dialog(live, link, contact="sip:probe@192.0.2.8:5070", expires=60)
    refused = sip_register.transact(brief, time.monotonic() + 5)
    link.close()
    assert (refused.status, refused.first("min-expires")) == (423, "120")  # what --bind meets first
    for transport in ("udp", "tcp", "tls"):
        path = fleet(tmp_path, {"kim": account(registrar, transport, "1002", "right-1002")})
        checked = run(path, registrar, bind=True).checks
        assert [(c.word, c.detail) for c in checked] == [("ok", "200 OK")]  # after the registrar's 423
    assert [b.split(";")[0] for b in _bindings(registrar, "1002", "right-1002")] == [b.split(";")[0] for b in before]


def test_five_refusals_in_a_row_leave_the_server_alone(registrar: Registrar, tmp_path: Path) -> None:
    seats = {f"s{n}": account(registrar, "tcp", password="{env: PW_WRONG}") for n in range(7)}
    words = [c.word for c in run(fleet(tmp_path, seats), registrar).checks]
    assert words == ["incorrect password"] * 5 + ["not checked"] * 2


def test_a_certificate_that_does_not_verify(registrar: Registrar, tmp_path: Path) -> None:
    result = run(fleet(tmp_path, {"a": account(registrar, "tls"), "b": account(registrar, "tls")}))  # no --cafile
    assert [c.word for c in result.checks] == ["certificate problem"] * 2
    assert result.checks[0].detail == "unable to get local issuer certificate"
    assert result.checks[1].detail.endswith("(for an account before: not asked again)")


def test_nothing_listening_is_unreachable(tmp_path: Path) -> None:
    dead_udp, dead_tcp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    seats = {
        "udp": f"{{server: '127.0.0.1:{dead_udp}', domain: d, username: u, password: p}}",
        "tcp": f"{{server: '127.0.0.1:{dead_tcp}', domain: d, transport: tcp, username: u, password: p}}",
        "dns": "{server: 'no-such-host.invalid', domain: d, username: u, password: p}",
    }
    result = run(fleet(tmp_path, seats), timeout=2.0)
    assert {(c.seat_id, c.word) for c in result.checks} == {
        ("udp", "unreachable"),
        ("tcp", "unreachable"),
        ("dns", "unreachable"),
    }
    details = {c.seat_id: c.detail for c in result.checks}
    assert details["udp"] == details["tcp"] == "connection refused"
    assert details["dns"].startswith("the name does not resolve")


def test_udp_retransmits_as_rfc_3261_says_and_gives_up_at_the_timeout(tmp_path: Path) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    silent.settimeout(0.2)
    heard: list[bytes] = []
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            try:
                heard.append(silent.recv(65535))
            except TimeoutError:
                continue

    thread = threading.Thread(target=listen)
    thread.start()
    try:
        port = silent.getsockname()[1]
        path = fleet(tmp_path, {"a": f"{{server: '127.0.0.1:{port}', domain: d, username: u, password: p}}"})
        (check,) = run(path, timeout=2.0).checks
    finally:
        stop.set()
        thread.join()
        silent.close()
    assert (check.word, check.detail) == ("unreachable", "no answer within 2 s")
    assert len(heard) == 3 and len(set(heard)) == 1  # at 0, T1 and 3*T1: the same request each time


def test_pace_spaces_requests_whatever_thread_sends_them() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))

    pace = Pace(10.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        pace()
    assert slept == [0.1, 0.2, 0.3]
    now[0] += 10  # a quiet spell: the next request goes at once
    pace()
    assert slept == [0.1, 0.2, 0.3]


def test_digest_answers_rfc_7616_s_examples() -> None:
    challenge = {
        "realm": "http-auth@example.org",
        "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        "qop": "auth",
    }
    cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
    md5 = sip_register.authorization(
        {**challenge, "algorithm": "MD5"}, "/dir/index.html", "Mufasa", "Circle of Life", 1, method="GET", cnonce=cnonce
    )
    assert 'response="8ca523f5e9506fed4657c9700eebdbec"' in md5
    sha = sip_register.authorization(
        {**challenge, "algorithm": "SHA-256", "opaque": "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"},
        "/dir/index.html",
        "Mufasa",
        "Circle of Life",
        1,
        method="GET",
        cnonce=cnonce,
    )
    assert 'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"' in sha
    assert 'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"' in sha and "nc=00000001" in sha


def test_a_sess_algorithm_hashes_the_nonces_into_ha1() -> None:
    challenge = {"realm": "r", "nonce": "n", "algorithm": "SHA-256-sess"}
    answer = sip_register.authorization(challenge, "sip:pbx", "u", "p", 1, cnonce="c")
    ha1 = hashlib.sha256(f"{hashlib.sha256(b'u:r:p').hexdigest()}:n:c".encode()).hexdigest()
    ha2 = hashlib.sha256(b"REGISTER:sip:pbx").hexdigest()
    assert f'response="{hashlib.sha256(f"{ha1}:n:{ha2}".encode()).hexdigest()}"' in answer
    assert "algorithm=SHA-256-sess" in answer and 'cnonce="c"' in answer
    assert "qop" not in answer  # none offered: none answered


def test_sha_256_is_chosen_when_both_are_offered() -> None:
    offered = [{"algorithm": "MD5", "nonce": "a"}, {"algorithm": "SHA-256", "nonce": "b"}, {"algorithm": "SHA-512-256"}]
    assert sip_register.best_challenge(offered) == {"algorithm": "SHA-256", "nonce": "b"}
    assert sip_register.best_challenge([{"nonce": "c"}]) == {"nonce": "c"}  # no algorithm: MD5
    assert sip_register.best_challenge([{"algorithm": "AKAv1-MD5"}]) is None


def test_a_secret_that_does_not_resolve_is_bad_input_and_nothing_is_sent(tmp_path: Path, run_cli: RunCli) -> None:
    path = fleet(tmp_path, {"a": "{server: 127.0.0.1, domain: d, username: u, password: {env: PW_UNSET}}"})
    with pytest.raises(FleetError) as caught:
        run(path)
    assert [p.code for p in caught.value.errors] == ["secret-missing"]
    result = run_cli("check-registration", "fleet.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "fleet.yaml:5:70: seats[a].accounts[1].password: environment variable PW_UNSET is not set (secret env:PW_UNSET)",
        "1 error",
    ]


def test_text_and_sarif_report_failures_at_the_account(registrar: Registrar, tmp_path: Path, run_cli: RunCli) -> None:
    fleet(tmp_path, {"ok": account(registrar, "udp"), "bad": account(registrar, "udp", password="{env: PW_WRONG}")})
    env = ENV
    text = run_cli("check-registration", "fleet.yaml", env=env)
    assert text.exit_code == 1
    hop = f"udp:127.0.0.1:{registrar.udp}"
    assert text.stderr == f"incorrect password   bad.accounts[1] sip:1000@{DOMAIN} via {hop}: 401 Unauthorized\n"
    lines = text.stdout.splitlines()
    assert lines[0] == f"ok                   ok.accounts[1] sip:1000@{DOMAIN} via {hop}: 200 OK"
    assert lines[1].startswith("check-registration: 2 accounts: 1 ok, 1 incorrect password (")
    sarif = run_cli("check-registration", "fleet.yaml", "--format", "sarif", "--base-dir", str(tmp_path), env=env)
    schema = json.loads((Path(__file__).parent / "fixtures" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    document = json.loads(sarif.stdout)
    jsonschema.Draft4Validator(schema).validate(document)
    (found,) = document["runs"][0]["results"]
    assert found["ruleId"] == "incorrect-password"
    assert found["locations"][0]["physicalLocation"]["region"] == {"startLine": 7, "startColumn": 16}


def test_a_thousand_accounts(registrar: Registrar, tmp_path: Path) -> None:
    rows = "".join(f"seat-{n},1000\n" for n in range(1000))
    (tmp_path / "seats.csv").write_text("id,accounts.1.username\n" + rows, encoding="utf-8")
    (tmp_path / "fleet.yaml").write_text(
        "version: 1\nname: t\n"
        f"defaults:\n  account: {{server: '{DOMAIN}', proxy: '{registrar.server('tcp')}', domain: {DOMAIN}, "
        "transport: tcp, password: {env: PW_RIGHT}}\n"
        "seats: []\nseat_files: [{path: seats.csv}]\n",
        encoding="utf-8",
    )
    result = run(tmp_path / "fleet.yaml", registrar, rate=1000.0)
    assert len(result.checks) == 1000 and result.ok
    print(f"1,000 accounts over TCP at up to 1,000 requests/s: {result.seconds:.1f} s")
