"""A real registrar for the tests: Kamailio from Debian, on loopback, in the test's folder.

``Registrar.start(folder, algorithm=...)`` writes a config, a db_text subscriber table and a
TLS certificate (a test CA's) below ``folder``, picks free ports on 127.0.0.1 and runs
``kamailio -DD -E`` until :meth:`Registrar.stop`. ``tcp_children=1``: Kamailio 5.6.3 on
Debian 12 crashes with two concurrent TLS clients (kamailio/kamailio#3791).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
NO_KAMAILIO = "kamailio is not installed (apt-get install kamailio kamailio-tls-modules; make test does it as root)"
MODULES = next(
    (
        str(p)
        for p in (Path("/usr/lib/x86_64-linux-gnu/kamailio/modules"), Path("/usr/lib/kamailio/modules"))
        if p.is_dir()
    ),
    "/usr/lib/x86_64-linux-gnu/kamailio/modules",
)
DOMAIN = "pbx.test"

CONFIG = """\
#!KAMAILIO
debug=1
log_stderror=yes
memdbg=5
memlog=5
children=1
tcp_children=1
disable_tcp=no
enable_tls=yes
auto_aliases=no
alias="{domain}"
listen=udp:127.0.0.1:{udp}
listen=tcp:127.0.0.1:{tcp}
listen=tls:127.0.0.1:{tls}
mpath="{modules}"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "db_text.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "tls.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 120)
modparam("auth_db", "db_url", "text://{db}")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
modparam("auth", "algorithm", "{algorithm}")
modparam("auth", "qop", "auth")
modparam("auth", "secret", "provisioner-tests-secret")
modparam("tls", "config", "{tls_config}")
request_route {{
    if (!is_method("REGISTER")) {{
        sl_send_reply("405", "Method Not Allowed");
        exit;
    }}
    if ($fU =~ "^7") {{  # users 7xxx sit behind a proxy that asks for credentials itself (407)
        if (!proxy_authorize("$fd", "subscriber")) {{
            proxy_challenge("$fd", "1");
            exit;
        }}
        if (!save("location")) {{
            sl_reply_error();
        }}
        exit;
    }}
    if (is_present_hf("Expires") && $(hdr(Expires){{s.int}}) > 0 && $(hdr(Expires){{s.int}}) < 120) {{
        append_to_reply("Min-Expires: 120\r\n");  # as a registrar that wants longer bindings answers
        sl_send_reply("423", "Interval Too Brief");
        exit;
    }}
    if (!auth_check("$fd", "subscriber", "1")) {{
        if ($rc == -3) {{
            sl_send_reply("404", "User Not Found");
            exit;
        }}
        auth_challenge("$fd", "1");
        exit;
    }}
    if (!save("location")) {{
        sl_reply_error();
    }}
    exit;
}}
"""

TLS_CONFIG = """\
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = {key}
certificate = {cert}

[client:default]
verify_certificate = no
require_certificate = no
"""


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_certificates(folder: Path, name: str = "localhost") -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for ``name`` and 127.0.0.1: ``(ca.pem, server.pem, server.key)``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, request, cert = (
        folder / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    extensions = folder / "server.ext"
    extensions.write_text(f"subjectAltName=DNS:{name},IP:127.0.0.1\nbasicConstraints=CA:FALSE\n", encoding="ascii")
    days = ["-days", "2", "-extfile", extensions]
    ca_subject = ["-subj", "/CN=provisioner test CA", "-addext", "basicConstraints=critical,CA:TRUE"]
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2", *ca_subject],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request, "-subj", f"/CN={name}"],
        ["x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, *days],
    ]
    for step in steps:
        subprocess.run(["openssl", *map(str, step)], check=True, capture_output=True)
    return ca, cert, key


@dataclass
class Registrar:
    """A running Kamailio: its ports, its CA and its process."""

    folder: Path
    udp: int
    tcp: int
    tls: int
    ca: Path
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, folder: Path, users: dict[str, str], algorithm: str = "MD5") -> Registrar:
        """Kamailio with ``users`` (username -> password) in domain :data:`DOMAIN`, answering with ``algorithm``."""
        folder.mkdir(parents=True, exist_ok=True)
        db = folder / "db"
        db.mkdir()
        (db / "version").write_text("table_name(string) table_version(int)\nsubscriber:7\nlocation:9\n", "ascii")
        rows = "".join(f"{n}:{user}:{DOMAIN}:{password}:::\n" for n, (user, password) in enumerate(users.items(), 1))
        header = "id(int,auto) username(string) domain(string) password(string) ha1(string,null) ha1b(string,null)\n"
        (db / "subscriber").write_text(header + rows, encoding="ascii")
        ca, cert, key = make_certificates(folder / "pki")
        (folder / "tls.cfg").write_text(TLS_CONFIG.format(key=key, cert=cert), encoding="ascii")
        ports = {
            "udp": free_port(socket.SOCK_DGRAM),
            "tcp": free_port(socket.SOCK_STREAM),
            "tls": free_port(socket.SOCK_STREAM),
        }
        config = CONFIG.format(
            domain=DOMAIN, modules=MODULES, db=db, algorithm=algorithm, tls_config=folder / "tls.cfg", **ports
        )
        (folder / "kamailio.cfg").write_text(config, encoding="ascii")
        (folder / "run").mkdir()
        log = (folder / "kamailio.log").open("wb")
        process = subprocess.Popen(
            [
                KAMAILIO,
                "-DD",
                "-E",
                "-f",
                str(folder / "kamailio.cfg"),
                "-Y",
                str(folder / "run"),
                "-m",
                "32",
                "-M",
                "8",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        registrar = cls(folder, ports["udp"], ports["tcp"], ports["tls"], ca, process)
        registrar.wait_ready()
        return registrar

    def wait_ready(self) -> None:
        """Until the TCP port accepts (the UDP and TLS ones open with it); the log when it dies."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"kamailio exited: {(self.folder / 'kamailio.log').read_text(errors='replace')[-3000:]}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.tcp), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("kamailio did not open its ports in 20 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def server(self, transport: str) -> str:
        """``127.0.0.1:PORT`` for an account's ``server`` over ``transport``."""
        return f"127.0.0.1:{getattr(self, transport)}"
