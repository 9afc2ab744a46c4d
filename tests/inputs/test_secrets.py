"""Secret references resolve late and never show their values."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.inputs.secrets import MASK, SecretError, SecretRef, parse_reference, resolve


def test_env_reference() -> None:
    ref = parse_reference({"env": "SIP_PASS"}, "")
    assert isinstance(ref, SecretRef)
    assert resolve(ref, {"SIP_PASS": "pw"}) == "pw"
    with pytest.raises(SecretError, match=r"^environment variable SIP_PASS is not set$"):
        resolve(ref, {})


def test_file_reference_is_relative_to_declaring_file_and_strips_one_newline(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "pw.txt").write_bytes(b"secret\n\n")
    ref = parse_reference({"file": "s/pw.txt"}, str(tmp_path))
    assert isinstance(ref, SecretRef)
    assert resolve(ref) == "secret\n"
    (tmp_path / "s" / "pw.txt").write_bytes(b"secret\r\n")
    assert resolve(ref) == "secret"


def test_missing_file() -> None:
    ref = SecretRef("file", "nope.txt", "/nonexistent")
    with pytest.raises(SecretError, match=r"^secret file nope\.txt does not exist$"):
        resolve(ref)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"env": "1BAD"}, "{env: ...} needs an environment variable name, got '1BAD'"),
        ({"file": ""}, "{file: ...} needs a path (relative to the file that declares it)"),
        (
            {"env": "A", "file": "b"},
            "a secret reference is {env: NAME} or {file: path}, got a mapping with env, file",
        ),
    ],
)
def test_malformed_references(value: dict[str, str], message: str) -> None:
    assert parse_reference(value, "") == message


def test_literal_never_shows() -> None:
    ref = SecretRef("literal", "hunter2")
    assert repr(ref) == f"SecretRef({MASK})"
    assert str(ref) == MASK
    assert "hunter2" not in f"{ref} {ref!r} {ref.describe()}"


def test_empty_secrets_are_errors_never_an_empty_password(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match=r"^environment variable PW is empty; an empty password is never written$"):
        resolve(SecretRef("env", "PW"), {"PW": ""})
    (tmp_path / "pw.txt").write_bytes(b"\n")
    with pytest.raises(SecretError, match=r"^secret file pw\.txt is empty; an empty password is never written$"):
        resolve(SecretRef("file", "pw.txt", str(tmp_path)))


def test_secret_file_readable_by_others_draws_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "pw.txt"
    path.write_bytes(b"pw\n")
    heard: list[str] = []
    path.chmod(0o600)
    assert resolve(SecretRef("file", "pw.txt", str(tmp_path)), warn=heard.append) == "pw"
    assert heard == []
    path.chmod(0o640)
    resolve(SecretRef("file", "pw.txt", str(tmp_path)), warn=heard.append)
    assert heard == [f"secret file pw.txt can be read by group or others (mode 0640); run: chmod 600 {path}"]


def test_confined_reference_stays_inside_its_folder(tmp_path: Path) -> None:
    """References read from CSV data may not leave the fleet's folder, by spelling or through a link."""
    fleet = tmp_path / "fleet"
    (fleet / "s").mkdir(parents=True)
    (tmp_path / "outside.txt").write_bytes(b"not yours\n")
    assert parse_reference({"file": "../outside.txt"}, str(fleet), str(fleet)) == (
        "{file: ../outside.txt} leaves the fleet's folder; a CSV file may only name secret files inside it"
    )
    assert isinstance(parse_reference({"file": "/etc/x"}, str(fleet)), SecretRef)  # the admin's YAML may
    (fleet / "s" / "link.txt").symlink_to(tmp_path / "outside.txt")
    ref = parse_reference({"file": "s/link.txt"}, str(fleet), str(fleet))
    assert isinstance(ref, SecretRef)
    with pytest.raises(SecretError, match=r"leaves the fleet's folder \(through a link\); refused$"):
        resolve(ref)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"x" * (64 * 1024 + 1)), "secret file pw.txt is larger than 65536 bytes"),
        (lambda p: p.write_bytes(b"\xff\xfepw"), "secret file pw.txt is not UTF-8 text"),
        (lambda p: p.mkdir(), "secret file pw.txt"),
    ],
    ids=["too large", "not UTF-8", "a folder"],
)
def test_bad_secret_files_are_refused_with_a_reason(
    tmp_path: Path, make: Callable[[Path], object], message: str
) -> None:
    make(tmp_path / "pw.txt")
    ref = parse_reference({"file": "pw.txt"}, str(tmp_path))
    assert isinstance(ref, SecretRef)
    with pytest.raises(SecretError) as refused:
        resolve(ref)
    assert str(refused.value).startswith(message)
    assert "x" * 10 not in str(refused.value)  # the content never shows
