"""task.xml: a Task Scheduler task that runs the agent as each logged-on user, and again later.

A logon script runs once, and Windows delays it; a deferred agent (a call in progress)
needs another chance soon. The task starts the agent that ``package-agent``'s installer
puts in Program Files (a local, signed copy: AppLocker and SmartScreen allow it where
they block programs on shares) at logon, at workstation unlock
and every 2 hours, for the built-in Users group (by SID), only while the user is
logged on, with the user's own (least) privileges, never elevated, stopped after 10
minutes. Group Policy Preferences (Scheduled Tasks), Intune and ``schtasks /create
/xml`` import it. Task Scheduler schema 1.3 (Windows 7 and later), the version
Microsoft's published schema fixes, with a trigger's children in the schema's order;
UTF-16 with a BOM, as Task Scheduler exports tasks. Same share path, same bytes.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from provisioner.distribution import agent_package
from provisioner.errors import UsageError, quoted

#: The built-in Users group: every interactive user, in any language.
USERS_SID = "S-1-5-32-545"
#: How often the task runs the agent again while the user is logged on.
REPEAT = "PT2H"
#: How long one run may take before Task Scheduler stops it.
TIME_LIMIT = "PT10M"
#: Where ``package-agent``'s installer puts the agent (Task Scheduler expands the variable).
INSTALLED_AGENT = f"%ProgramFiles%\\{agent_package.FOLDER}\\{agent_package.EXE}"


def share_path(text: str) -> str:
    """A share path as the PCs spell it (``\\\\server\\share``); UsageError when it is not one."""
    path = text.replace("/", "\\").rstrip("\\")
    parts = path[2:].split("\\") if path.startswith("\\\\") else []
    if len(parts) < 2 or not all(parts) or any(c in path for c in '"<>|*?\r\n\t'):
        raise UsageError(f"--share-path {quoted(text)}: give the share as the PCs reach it, like \\\\server\\share")
    return path


def task_xml(share: str, fleet: str) -> bytes:
    """The task for the share at ``share`` (as :func:`share_path` spells it)."""
    agent = escape(INSTALLED_AGENT)
    arguments = escape(f'--share "{share}"')
    lines = [
        '<?xml version="1.0" encoding="UTF-16"?>',
        '<Task version="1.3" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">',
        "  <RegistrationInfo>",
        "    <Author>microsip-provisioner</Author>",
        f"    <Description>Applies this user's MicroSIP seat of fleet {escape(fleet)} from {escape(share)}"
        "</Description>",
        "    <URI>\\microsip-provisioner</URI>",
        "  </RegistrationInfo>",
        "  <Triggers>",
        "    <LogonTrigger>",
        "      <Enabled>true</Enabled>",
        "    </LogonTrigger>",
        "    <SessionStateChangeTrigger>",
        "      <Enabled>true</Enabled>",
        "      <StateChange>SessionUnlock</StateChange>",
        "    </SessionStateChangeTrigger>",
        "    <TimeTrigger>",
        "      <Enabled>true</Enabled>",
        "      <StartBoundary>2026-01-01T00:00:00</StartBoundary>",
        "      <Repetition>",
        f"        <Interval>{REPEAT}</Interval>",
        "        <StopAtDurationEnd>false</StopAtDurationEnd>",
        "      </Repetition>",
        "    </TimeTrigger>",
        "  </Triggers>",
        "  <Principals>",
        '    <Principal id="Author">',
        f"      <GroupId>{USERS_SID}</GroupId>",
        "      <RunLevel>LeastPrivilege</RunLevel>",
        "    </Principal>",
        "  </Principals>",
        "  <Settings>",
        "    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>",
        "    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>",
        "    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>",
        "    <AllowHardTerminate>true</AllowHardTerminate>",
        "    <StartWhenAvailable>true</StartWhenAvailable>",
        "    <RunOnlyIfNetworkAvailable>true</RunOnlyIfNetworkAvailable>",
        "    <AllowStartOnDemand>true</AllowStartOnDemand>",
        "    <Enabled>true</Enabled>",
        "    <Hidden>false</Hidden>",
        "    <RunOnlyIfIdle>false</RunOnlyIfIdle>",
        f"    <ExecutionTimeLimit>{TIME_LIMIT}</ExecutionTimeLimit>",
        "    <Priority>7</Priority>",
        "  </Settings>",
        '  <Actions Context="Author">',
        "    <Exec>",
        f"      <Command>{agent}</Command>",
        f"      <Arguments>{arguments}</Arguments>",
        "    </Exec>",
        "  </Actions>",
        "</Task>",
        "",
    ]
    return "\ufeff".encode("utf-16-le") + "\r\n".join(lines).encode("utf-16-le")
