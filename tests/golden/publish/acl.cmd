@echo off
rem Run once on the file server after each publish, as an administrator (microsip-provisioner).
rem A seat folder holds a plain-text password until the agent hands it to MicroSIP:
rem only its user (and administrators) may read it.
rem Each user may write only their own status\<user>\ folder, so a report there comes from that user.
rem Accounts are taken from the domain of whoever runs this.
icacls "%~dp0." /inheritance:r /grant:r "Administrators:(OI)(CI)F" "SYSTEM:(OI)(CI)F" "Authenticated Users:RX"
icacls "%~dp0agent" /inheritance:e
icacls "%~dp0seats" /inheritance:r /grant:r "Administrators:(OI)(CI)F" "SYSTEM:(OI)(CI)F" "Authenticated Users:(NP)RX"
icacls "%~dp0status" /inheritance:r /grant:r "Administrators:(OI)(CI)F" "SYSTEM:(OI)(CI)F" "Authenticated Users:(NP)X"
icacls "%~dp0seats\zoe.mueller" /inheritance:r /grant:r "Administrators:(OI)(CI)F" "SYSTEM:(OI)(CI)F" "%USERDOMAIN%\zoe.mueller:(OI)(CI)RX"
icacls "%~dp0seats\jdoe" /inheritance:r /grant:r "Administrators:(OI)(CI)F" "SYSTEM:(OI)(CI)F" "%USERDOMAIN%\jdoe:(OI)(CI)RX"
icacls "%~dp0status\jdoe" /inheritance:r /grant:r "Administrators:(OI)(CI)F" "SYSTEM:(OI)(CI)F" "%USERDOMAIN%\jdoe:(OI)(CI)M"
icacls "%~dp0status\zoe.mueller" /inheritance:r /grant:r "Administrators:(OI)(CI)F" "SYSTEM:(OI)(CI)F" "%USERDOMAIN%\zoe.mueller:(OI)(CI)M"
