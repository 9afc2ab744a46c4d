@echo off
rem Run on the file server after each publish, as an administrator (microsip-provisioner).
rem A seat folder holds a plain-text password until the agent hands it to MicroSIP:
rem only its user (and administrators) may read it. Each user may write only their own
rem status\<user>\ folder, so a report there comes from that user. Groups are named by SID
rem (Administrators, SYSTEM, Authenticated Users in any language); users by the domain of
rem whoever runs this.
icacls "%~dp0." /inheritance:r /grant:r "*S-1-5-32-544:(OI)(CI)F" "*S-1-5-18:(OI)(CI)F" "*S-1-5-11:RX"
icacls "%~dp0agent" /inheritance:e
icacls "%~dp0seats" /inheritance:r /grant:r "*S-1-5-32-544:(OI)(CI)F" "*S-1-5-18:(OI)(CI)F" "*S-1-5-11:(NP)RX"
icacls "%~dp0status" /inheritance:r /grant:r "*S-1-5-32-544:(OI)(CI)F" "*S-1-5-18:(OI)(CI)F" "*S-1-5-11:(NP)X"
pushd "%~dp0status"
for /d %%U in (*) do (
  icacls "%~dp0status\%%U" /inheritance:r /grant:r "*S-1-5-32-544:(OI)(CI)F" "*S-1-5-18:(OI)(CI)F" "%USERDOMAIN%\%%U:(OI)(CI)M"
  if exist "%~dp0seats\%%U\" icacls "%~dp0seats\%%U" /inheritance:r /grant:r "*S-1-5-32-544:(OI)(CI)F" "*S-1-5-18:(OI)(CI)F" "%USERDOMAIN%\%%U:(OI)(CI)RX"
  icacls "%~dp0seats\%%U@*" /inheritance:r /grant:r "*S-1-5-32-544:(OI)(CI)F" "*S-1-5-18:(OI)(CI)F" "%USERDOMAIN%\%%U:(OI)(CI)RX"
)
popd
