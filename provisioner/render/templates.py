"""Guarding the Jinja templates: a sandboxed environment, and output that must still be an ini MicroSIP reads.

An admin's own template (``templates:`` in the fleet) may lay out the ini as it
likes, but not break it: every value the context holds must come out on a line of
its own, no key may appear twice, and no line may be something MicroSIP would
misread. Errors name the template's file and line.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from provisioner import ini
from provisioner._resources import data_dir
from provisioner.errors import FleetError, Loc, Problem, Problems, quoted


class Templates:
    """The fleet's templates (its own folder first, then the built-in ones), each loaded once."""

    def __init__(self, own: Path | None) -> None:
        search = [str(own)] if own else []
        search.append(str(data_dir("templates")))
        self.search = [Path(folder) for folder in search]
        self._digest: str | None = None
        self.env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(search),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._templates: dict[str, jinja2.Template] = {}

    def digest(self) -> str:
        """A digest of every file in the template folders (a template may include another), read once."""
        if self._digest is None:
            digest = hashlib.sha256()
            for number, folder in enumerate(self.search):
                files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
                for path in files:
                    digest.update(f"{number}:{path.relative_to(folder).as_posix()}\0".encode())
                    digest.update(path.read_bytes())
            self._digest = digest.hexdigest()
        return self._digest

    def get(self, name: str) -> jinja2.Template:
        """Load (once) a template by name; syntax errors name the file and line."""
        if name not in self._templates:
            try:
                self._templates[name] = self.env.get_template(name)
            except jinja2.TemplateSyntaxError as exc:
                raise FleetError(
                    [
                        Problem(
                            Loc(exc.filename or name, exc.lineno or 0, 1),
                            "template",
                            f"syntax error: {exc.message}",
                            code="template-syntax",
                        )
                    ]
                ) from None
            except jinja2.TemplateNotFound:
                raise FleetError(
                    [Problem(Loc(name), "template", "template not found", code="template-error")]
                ) from None
        return self._templates[name]

    def render_ini(self, name: str, context: dict[str, Any], label: str, problems: Problems) -> str | None:
        """The ini text from template ``name``; None (with problems recorded) when it fails or breaks the ini."""
        template = self.get(name)
        try:
            text = template.render(context)
        except jinja2.TemplateError as exc:
            problems.error(
                _template_loc(template, exc.__traceback__), label, _template_message(exc), code="template-error"
            )
            return None
        except Exception as exc:  # the sandbox raises SecurityError etc.
            problems.error(
                _template_loc(template, exc.__traceback__), label, f"{type(exc).__name__}: {exc}", code="template-error"
            )
            return None
        found = check_output(text, context, template.filename or name)
        for where, message in found:
            problems.error(where, label, message, code="template-output")
        return None if found else text


def _template_message(exc: jinja2.TemplateError) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined variable: {exc.message}"
    return f"{type(exc).__name__}: {exc.message}"


def _template_loc(template: jinja2.Template, tb: TracebackType | None) -> Loc:
    filename = template.filename or template.name or "template"
    line = 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return Loc(filename, line, 1 if line else 0)


def _section_problems(section: ini.Section, title: str, want: dict[str, str]) -> list[str]:
    """How one output section differs from the seat's: keys it should not have, has twice, carries
    another value of, or lacks."""
    problems: list[str] = []
    got: set[str] = set()
    for entry in section.entries:
        key = entry.key.lower()
        if key not in want:
            problems.append(
                f"output line {entry.line}: key {quoted(entry.key)} in [{section.name}] is not part of the seat"
            )
        elif key in got:
            problems.append(f"output line {entry.line}: key {quoted(entry.key)} appears twice in [{section.name}]")
        elif entry.value != want[key]:
            problems.append(f"output line {entry.line}: [{section.name}] {entry.key} does not carry the seat's value")
        got.add(key)
    problems += [f"key {quoted(key)} of [{title}] is missing from the output" for key in want.keys() - got]
    return problems


def check_output(text: str, context: dict[str, Any], template: str) -> list[tuple[Loc, str]]:
    """Compare what a template produced with the values it was given.

    The output must hold exactly the expected sections and keys with the expected
    values (as Windows would read them); layout, order, blank lines and comments
    are the template's business.
    """
    expected: dict[str, tuple[str, dict[str, str]]] = {}
    expected["settings"] = ("Settings", {k.lower(): ini.read_value(v) for k, v in context["settings"]})
    for i, rows in enumerate(context["accounts"], start=1):
        expected[f"account{i}"] = (f"Account{i}", {k.lower(): ini.read_value(v) for k, v in rows})
    for name, rows in context["sections"]:
        expected[name.lower()] = (name, {k.lower(): ini.read_value(v) for k, v in rows})
    parsed = ini.parse(text)
    problems: list[tuple[Loc, str]] = []
    for line in parsed.stray:
        problems.append((Loc(template, 0), f"output line {line} is neither a [section] nor key=value"))
    seen: set[str] = set()
    for section in parsed.sections:
        where = Loc(template, 0)
        lowered = section.name.lower()
        if lowered not in expected:
            problems.append((where, f"output line {section.line}: section [{section.name}] is not part of the seat"))
            continue
        if lowered in seen:
            problems.append((where, f"output line {section.line}: section [{section.name}] appears twice"))
            continue
        seen.add(lowered)
        title, want = expected[lowered]
        problems += [(where, message) for message in _section_problems(section, title, want)]
    for lowered in expected.keys() - seen:
        problems.append((Loc(template, 0), f"section [{expected[lowered][0]}] is missing from the output"))
    if parsed.sections and parsed.sections[0].name.lower() != "settings":
        problems.append((Loc(template, 0), "[Settings] must be the first section"))
    return problems
