@echo off
rem Applies this user's MicroSIP seat from the share this file is on (microsip-provisioner).
rem Group Policy: User Configuration > Windows Settings > Scripts > Logon > "\\server\share\logon.cmd"
"%~dp0agent\provisioner-agent.exe" --share "%~dp0."
