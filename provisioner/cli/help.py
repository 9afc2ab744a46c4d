"""How the command line helps: every command's first sentence in full, and examples at the end of each --help."""

from __future__ import annotations

from typing import Any

import click

#: One or two command lines an admin can copy, at the end of each command's --help.
EXAMPLES = {
    "validate": [
        "provisioner validate fleet.yaml",
        "provisioner validate fleet.yaml --targets --secrets --root trial",
    ],
    "render": ["provisioner render fleet.yaml --out build", "provisioner render fleet.yaml --out build --seat alice"],
    "seats": ["provisioner seats fleet.yaml", "provisioner seats fleet.yaml --format json"],
    "explain": [
        "provisioner explain fleet.yaml --seat alice",
        "provisioner explain fleet.yaml --seat alice --seat bob --format json",
    ],
    "bundle": [
        "provisioner bundle fleet.yaml --seat sales --microsip MicroSIP-3.22.3.zip --out /media/usb/MicroSIP",
        "provisioner bundle fleet.yaml --seat sales --microsip MicroSIP --out sales.zip --no-passwords",
    ],
    "publish": [
        "provisioner publish fleet.yaml --out /srv/share/microsip",
        "provisioner publish fleet.yaml --out /srv/share/microsip --share-path '\\\\fs1\\microsip'",
    ],
    "status": ["provisioner status /srv/share/microsip", "provisioner status /srv/share/microsip --format json"],
    "package-agent": [
        "provisioner package-agent --out dist",
        "provisioner package-agent --out dist --sign-cert signer.pem --sign-key signer.key",
    ],
    "import": [
        "provisioner import 'C:/Users/kim/AppData/Roaming/MicroSIP/microsip.ini' --out fleet.yaml",
        "provisioner import /mnt/pcs/*/microsip.ini --name office > fleet.yaml",
    ],
    "translate-flags": ['provisioner translate-flags -- --dn "John Doe" --autoanswer 1'],
    "keys": ["provisioner keys", "provisioner keys autoAnswer"],
    "schema": ["provisioner schema > fleet.schema.json"],
    "init": ["provisioner init my-office", "provisioner init"],
    "plan": ["provisioner plan fleet.yaml", "provisioner plan fleet.yaml --seat alice --exit-code --format json"],
    "apply": ["provisioner apply fleet.yaml --dry-run", "provisioner apply fleet.yaml --seat alice --force"],
    "verify": ["provisioner verify fleet.yaml", "provisioner verify fleet.yaml -q --format json"],
    "diff": [
        "provisioner diff HEAD~1 HEAD",
        "provisioner diff main HEAD --fleet fleets/office.yaml --format markdown --exit-code",
    ],
    "check-registration": [
        "provisioner check-registration fleet.yaml",
        "provisioner check-registration fleet.yaml --seat alice --bind --cafile pbx-ca.pem",
    ],
    "rollback": [
        "provisioner rollback fleet.yaml --seat alice --list",
        "provisioner rollback fleet.yaml --seat alice --dry-run",
    ],
}


class HelpfulGroup(click.Group):
    """A group whose listing keeps each command's first sentence whole and whose commands end with examples."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        examples = EXAMPLES.get(name or cmd.name or "")
        if examples and not cmd.epilog:
            cmd.epilog = "\b\nExamples:\n" + "\n".join(f"  {line}" for line in examples)
        super().add_command(cmd, name)

    def format_commands(self, ctx: click.Context, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=1 << 16)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
