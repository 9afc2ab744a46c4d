"""MkDocs hook: the reference pages, generated at build time from the tool itself.

The commands come from the click group, the ini keys from the key catalogue, the
fleet format's fields from its JSON schema: none is written by hand, so none can
drift from what the tool does.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

import click
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

from provisioner import api, catalogue
from provisioner.cli import main
from provisioner.problem_codes import CODES

PAGES = {
    "reference/commands.md": "commands_page",
    "reference/keys.md": "keys_page",
    "reference/fleet-fields.md": "fields_page",
    "reference/problem-codes.md": "codes_page",
    "developer/modules.md": "modules_page",
}


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated pages to the site."""
    for name, maker in PAGES.items():
        files.append(File.generated(config, name, content=globals()[maker]()))
    return files


def cell(text: object) -> str:
    """Text fit for one cell of a Markdown table."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def codes_page() -> str:
    """Every problem code: what it means and a line the tool printed for it."""
    out = [
        "# Problem codes",
        "",
        "Every problem the tool reports carries a stable code: `--format json` gives it as `code`, SARIF",
        "as `ruleId`, GitLab as `check_name`, JUnit as the failure's `type`. A code never changes meaning",
        "once released; its message may be reworded. Each example below is the line the tool printed for",
        "the input in `tests/test_problem_codes.py` (paths below the test's folder shown as `/srv/fleets`).",
        "",
    ]
    for code, entry in CODES.items():
        out += [f"## `{code}`", "", entry.summary, "", "```text", entry.example, "```", ""]
    return "\n".join(out)


def commands_page() -> str:
    """Every command: its usage, what it does, and each option with its help."""
    out = [
        "# Command reference",
        "",
        "Generated from the command line itself (`provisioner COMMAND --help` says the same).",
        "",
    ]
    root = click.Context(main, info_name="provisioner")
    for name in sorted(main.commands):
        command = main.commands[name]
        if command.hidden:
            continue
        context = click.Context(command, info_name=name, parent=root)
        out += [f"## `{name}`", "", "```", command.get_usage(context), "```", ""]
        out += [(command.help or "").strip(), ""]
        rows = [row for param in command.get_params(context) if (row := _param_row(param, context))]
        if rows:
            out += ["| option | what it does |", "|---|---|", *rows, ""]
    return "\n".join(out)


def _param_row(param: click.Parameter, context: click.Context) -> str | None:
    """One table row for an option or an argument (None for ``--help``)."""
    if isinstance(param, click.Argument):
        return f"| `{param.make_metavar(context)}` | argument |"
    if not isinstance(param, click.Option) or "--help" in param.opts:
        return None
    shown = "" if param.is_flag else f" {param.metavar or param.make_metavar(context)}"
    names = ", ".join(f"`{opt}{shown}`" for opt in param.opts)
    names += "".join(f", `{opt}`" for opt in param.secondary_opts)
    help_text = cell(param.help or "")
    choices = getattr(param.type, "choices", None)
    if choices:
        help_text += f" (one of {', '.join(f'`{c}`' for c in choices)})"
    return f"| {names} | {help_text} |"


def keys_page() -> str:
    """Every ini key the catalogue knows, by section."""
    out = [
        "# Ini key reference",
        "",
        "Generated from the key catalogue (`provisioner keys` prints the same): every key MicroSIP "
        f"{', '.join(catalogue.versions())} reads, checked against its source.",
        "",
    ]
    keys = catalogue.all_keys()
    for section in dict.fromkeys(key.section for key in keys):
        out += [
            f"## `{section}`",
            "",
            "| key | type | default | allowed | MicroSIP | notes |",
            "|---|---|---|---|---|---|",
        ]
        for key in (k for k in keys if k.section == section):
            default = "" if key.default is None else f"`{cell(key.default)}`"
            versions = ", ".join(key.versions)
            out.append(
                f"| `{key.name}` | {key.type} | {default} | {cell(key.allowed)} | {versions} | {cell(key.notes)} |"
            )
        out.append("")
    return "\n".join(out)


def fields_page() -> str:
    """The fleet file's fields, from its JSON schema (``provisioner schema``)."""
    schema = api.schema()
    definitions: dict[str, Any] = schema.get("$defs", {})
    out = [
        "# Fleet file fields",
        "",
        "Generated from the fleet format's JSON schema (`provisioner schema` prints it, for editors). "
        "The ini keys under `settings` and `account` are in the [ini key reference](keys.md).",
        "",
        "## The fleet file",
        "",
        *_fields_table(schema),
    ]
    for name in sorted(definitions):
        if name.startswith(("Settings", "Account")):
            continue  # the key catalogue's, listed there
        definition = definitions[name]
        out += ["", f"## `{name}`", "", cell(definition.get("description", "")), "", *_fields_table(definition)]
    return "\n".join(out) + "\n"


def _fields_table(definition: dict[str, Any]) -> list[str]:
    required = set(definition.get("required", []))
    rows = ["| field | type | required | description |", "|---|---|---|---|"]
    for name, spec in definition.get("properties", {}).items():
        need = "yes" if name in required else ""
        rows.append(f"| `{name}` | {cell(_type_of(spec))} | {need} | {cell(spec.get('description', ''))} |")
    return rows


def _type_of(spec: dict[str, Any]) -> str:
    """A short name for a schema's type."""
    if "$ref" in spec:
        name = spec["$ref"].rsplit("/", 1)[-1]
        if name.startswith(("Settings", "Account")):
            return f"[{name.rstrip('0123456789')} keys](keys.md)"
        return f"[{name}](#{name.lower()})"
    if "anyOf" in spec:
        kinds = [_type_of(option) for option in spec["anyOf"] if option.get("type") != "null"]
        return " or ".join(dict.fromkeys(kinds))
    if "const" in spec:
        return f"`{spec['const']}`"
    if "enum" in spec:
        return " / ".join(f"`{value}`" for value in spec["enum"])
    kind = spec.get("type", "value")
    if isinstance(kind, list):
        return " / ".join(str(k) for k in kind if k != "null")
    if kind == "array":
        return f"list of {_type_of(spec.get('items', {}))}"
    if kind == "object":
        values = spec.get("additionalProperties") or next(iter(spec.get("patternProperties", {}).values()), None)
        return f"mapping of {_type_of(values)}" if isinstance(values, dict) else "mapping"
    return str(kind)


def modules_page() -> str:
    """Every module of the package with the first paragraph of its docstring: its job, in its own words."""
    spec = importlib.util.find_spec("provisioner")
    assert spec is not None and spec.origin is not None
    package = Path(spec.origin).parent
    out = [
        "# Modules",
        "",
        "Each module of `provisioner/` and its job, from its own docstring (generated when the site is built). "
        "[Architecture](architecture.md) shows how they work together.",
        "",
        "| module | its job |",
        "|---|---|",
    ]
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        doc = ast.get_docstring(ast.parse(path.read_text("utf-8"))) or ""
        out.append(f"| `{name}` | {cell(doc.split(chr(10) + chr(10))[0])} |")
    return "\n".join(out) + "\n"
