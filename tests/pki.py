"""A test PKI made with openssl: a CA, a code-signing certificate, another CA, and an RFC 3161
timestamp server on loopback (``openssl ts -reply`` behind a small HTTP server)."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

OPENSSL = shutil.which("openssl")

CONFIG = """\
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[signer]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[timestamper]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[tsa]
default_tsa = tsa_config
[tsa_config]
serial = {serial}
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ess_cert_id_alg = sha256
"""


@dataclass(frozen=True)
class Pki:
    folder: Path
    config: Path

    def path(self, name: str) -> Path:
        return self.folder / name


def _openssl(*args: str, cwd: Path) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=120)


def _ca(pki: Pki, name: str, subject: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
        "-subj", subject, "-days", "30", "-config", str(pki.config), "-extensions", "ca", cwd=pki.folder,
    )  # fmt: skip


def _issued(pki: Pki, name: str, subject: str, extensions: str) -> None:
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
        "-subj", subject, "-config", str(pki.config), cwd=pki.folder,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", f"{name}.pem", "-days", "30", "-extfile", str(pki.config), "-extensions", extensions, cwd=pki.folder,
    )  # fmt: skip


def make(folder: Path) -> Pki:
    """ca.pem (the test CA), signer.pem/.key (code signing, issued by it), other.pem (an unrelated
    CA), tsa.pem/.key (timestamping, issued by the test CA)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tsaserial").write_text("01\n")
    config = folder / "openssl.cnf"
    config.write_text(CONFIG.format(serial=folder / "tsaserial"))
    pki = Pki(folder, config)
    _ca(pki, "ca", "/CN=microsip-provisioner test CA")
    _ca(pki, "other", "/CN=Someone else's CA")
    _issued(pki, "signer", "/CN=microsip-provisioner test signer", "signer")
    _issued(pki, "tsa", "/CN=microsip-provisioner test timestamps", "timestamper")
    return pki


@contextmanager
def timestamp_server(pki: Pki) -> Iterator[str]:
    """An RFC 3161 server on loopback for as long as the block runs; yields its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = self.rfile.read(int(self.headers["Content-Length"]))
            with tempfile.TemporaryDirectory(dir=pki.folder) as temp:
                work = Path(temp)
                (work / "query").write_bytes(query)
                _openssl(
                    "ts", "-reply", "-config", str(pki.config), "-queryfile", str(work / "query"),
                    "-signer", "tsa.pem", "-inkey", "tsa.key", "-chain", "ca.pem", "-out", str(work / "reply"),
                    cwd=pki.folder,
                )  # fmt: skip
                body = (work / "reply").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
