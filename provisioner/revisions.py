"""A fleet as a git revision holds it: the revision's tree extracted into a folder of ours.

``provisioner diff HEAD~1 HEAD`` compares two revisions of the checkout; each is
extracted with ``git archive`` (includes, CSV seat files and templates come along),
so neither the work tree nor the repository's own state is touched.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

from provisioner.errors import UsageError

#: How long git may take to list or extract a revision.
GIT_TIMEOUT = 120


def top_level(folder: Path) -> Path:
    """The top of the git work tree that holds ``folder``; UsageError outside one (or without git)."""
    found = _git(["rev-parse", "--show-toplevel"], folder, "is not inside a git work tree")
    return Path(found.decode("utf-8", "replace").strip())


def extract(revision: str, top: Path, into: Path) -> None:
    """The whole tree of ``revision`` of the work tree whose top level is ``top``, written below ``into``
    (git archive run below the top would give only that folder's part)."""
    if revision.startswith("-"):
        raise UsageError(f"{revision!r} is not a git revision or a path")
    commit = _git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], top, "")
    command = ["git", "archive", "--format=tar", commit.decode("ascii").strip()]
    with subprocess.Popen(command, cwd=top, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_env()) as git:
        assert git.stdout is not None
        try:
            with tarfile.open(fileobj=git.stdout, mode="r|") as tar:  # streamed: a large repository is never held
                tar.extractall(into, filter="data")  # nothing outside ``into``, no devices, no set-id modes
        except tarfile.TarError as exc:  # a link out of the tree, say: refused, never followed
            git.kill()
            raise UsageError(f"{revision}: its tree cannot be read safely ({exc})") from None
    if git.returncode != 0:
        raise UsageError(f"git archive {revision} failed (exit {git.returncode})")


def _env() -> dict[str, str]:
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


def _git(args: list[str], folder: Path, outside: str) -> bytes:
    """git's output for ``args`` run in ``folder``; UsageError when it fails."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, timeout=GIT_TIMEOUT, env=_env(), check=False
        )
    except FileNotFoundError:
        raise UsageError("git is not installed here; compare two folders instead") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"git {args[0]} took longer than {GIT_TIMEOUT} s") from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        if outside:
            raise UsageError(f"{folder} {outside}")
        revision = args[-1].removesuffix("^{commit}")
        raise UsageError(f"{revision!r} is not a git revision or a path here" + (f" ({said[-1]})" if said else ""))
    return done.stdout
