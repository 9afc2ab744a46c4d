@echo off
rem Starts MicroSIP from the folder this file is in (written by microsip-provisioner).
start "" /D "%~dp0." "%~dp0MicroSIP-sales.exe" /minimized
