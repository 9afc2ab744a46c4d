"""A microsip.ini as MicroSIP 3.22 itself leaves it after weeks of use.

[Settings] in MicroSIP's own key order with window, column and volume state,
an account whose password MicroSIP has already encrypted into hex, call history,
dial history and speed-dial buttons. Deploy must keep all of it.
"""

from __future__ import annotations

import codecs

SETTINGS = """\
[Settings]
accountId=1
singleMode=1
ringingSound=
volumeRing=100
audioRingDevice=""
audioOutputDevice="Speakers (Realtek(R) Audio)"
audioInputDevice="Microphone (Jabra EVOLVE 30)"
micAmplification=0
swLevelAdjustment=0
audioCodecs=opus/48000/2 PCMA/8000/1 PCMU/8000/1
VAD=0
EC=1
forceCodec=0
opusStereo=0
disableMessaging=0
rport=1
sourcePort=0
rtpPortMin=0
rtpPortMax=0
dnsSrvNs=
dnsSrv=0
STUN=
enableSTUN=0
recordingPath=C:\\Users\\jdoe\\Desktop\\Recordings
recordingFormat=
autoRecording=0
DTMFMethod=0
autoAnswer=button
autoAnswerDelay=0
denyIncoming=button
usersDirectory=
defaultAction=
enableLog=0
bringToFrontOnIncoming=1
enableLocalAccount=0
callWaiting=1
updatesInterval=
checkUpdatesTime=1763251200
noResize=0
userAgent=
cmdCallStart=""C:\\Tools\\crm.exe" --old"
mainX=412
mainY=-8
mainW=326
mainH=528
messagesX=760
messagesY=120
messagesW=400
messagesH=380
ringinX=1500
ringinY=800
callsWidth0=90
callsWidth1=120
callsWidth2=60
callsWidth3=80
callsWidth4=0
callsWidth5=0
volumeOutput=85
volumeInput=70
activeTab=1
AA=0
AC=1
DND=0
FWD=0
alwaysOnTop=0
enableShortcuts=1
shortcutsBottom=0
lastCallNumber=5551234
lastCallHasVideo=0
version=3.22.3
callsLastKey=3
"""

ACCOUNT = """\
[Account1]
label=
server=old-pbx.example.com
proxy=
domain=example.com
username=2001
password=9f3a6c1e0b7d4a2f8e5c1b3d7a9f0e2c
authID=
displayName=John Old
dialingPrefix=
dialPlan=
hideCID=0
voicemailNumber=*97
SRTP=
transport=udp
publicAddr=
registerRefresh=300
keepAlive=15
publish=0
ICE=0
allowRewrite=0
disableSessionTimer=0
"""

USER_STATE = """\
[Account2]
label=Personal
domain=sip.personal.example
username=jdoe
password=0a1b2c3d4e5f60718293a4b5c6d7e8f9
[Calls]
0=5551234;Alice;0;1763000000;125;
1=5559876;;2;1763003600;0;
2=null
3=+4930123456;Berlin office;1;1763090000;42;
[Dialed]
0=5551234
1=+4930123456
[Shortcuts]
0=Reception;100;call;;1
1=Queue;*45;call;;0
"""

TEXT = SETTINGS + ACCOUNT + USER_STATE


def utf16(text: str = TEXT) -> bytes:
    """As MicroSIP writes it: UTF-16LE with BOM, CRLF."""
    return codecs.BOM_UTF16_LE + text.replace("\n", "\r\n").encode("utf-16-le")
