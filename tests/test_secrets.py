"""Secret references resolve late and never show their values."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.secrets import MASK, SecretError, SecretRef, parse_reference, resolve


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
