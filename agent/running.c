/* A running MicroSIP: found as MicroSIP finds itself, asked whether it is in a call,
 * closed as its `/exit` closes it, and started again without side effects.
 *
 * Found (microsip.cpp 315-343, MsipEnumWindowsProc): a top-level window of class
 * "MicroSIP" with no owner whose process runs the same exe, compared ignoring case.
 * A MicroSIP window whose process the agent cannot look at may be this exe's: the
 * agent cannot tell, and defers.
 *
 * In a call: MicroSIP's `/exit` never refuses because of a call -- 3.22.3 closes the
 * window and OnDestroy runs PJDestroy, whose pjsua_destroy() hangs every call up
 * (mainDlg.cpp 1666-1675, 3426-3472); 3.22.16 hangs them up in OnClose. So the agent
 * closes MicroSIP only when it can tell that no call is in progress, ringing
 * included. The signal is the call's media sockets. MicroSIP gives each account the
 * media port rtpPortMin, or leaves pjsua's 4000 when it is 0, and a range up to
 * rtpPortMax when that is higher (mainDlg.cpp 3493-3497, pjsua_core.c 348). pjsua
 * binds a call's RTP socket at the account's next port and its RTCP socket at the
 * port above, both when the call starts -- an incoming call when its INVITE arrives,
 * before it is answered -- and closes them when it ends (pjsua_media.c 288-700
 * create_rtp_rtcp_sock, 1380 tp_auto_del; pjsua_call.c 987, 1991). The next call
 * takes the next two ports; with a range they wrap within it (pjsua_media.c 347-353),
 * without one they climb. With ICE each socket is bound anywhere in the range, or in
 * ten ports a call when there is none (pjsua_media.c 1140-1150; PJSUA_MAX_CALLS is 32
 * in the largest MicroSIP build seen). A UDP socket counts when MicroSIP's process
 * owns it or its owner cannot be told (Wine 8 lists every owner as 0); MicroSIP is in
 * a call when a counting socket lies in its bounded media range, or two counting
 * sockets sit on neighbouring ports (RTP and RTCP) at or above the first media port.
 * A lone socket outside a bounded range is MicroSIP's SIP transport or its resolver
 * (mainDlg.cpp 3189-3235), not a call.
 */
#include "agent.h"

#include <iphlpapi.h>
#include <psapi.h>
#include <wchar.h>

#define PJSUA_DEFAULT_RTP_PORT 4000
#define ICE_PORTS_A_CALL 10
#define LARGEST_MAX_CALLS 32

typedef struct {
    const WCHAR *exe;
    Running *out;
} Search;

typedef enum { OTHER_EXE, SAME_EXE, UNKNOWN_EXE } Match;

static Match which_exe(DWORD pid, const WCHAR *exe) {
    HANDLE proc = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    if (!proc) return UNKNOWN_EXE;
    WCHAR path[MAX_PATH + 1];
    DWORD len = MAX_PATH + 1;
    BOOL named = QueryFullProcessImageNameW(proc, 0, path, &len);
    CloseHandle(proc);
    return !named ? UNKNOWN_EXE : equal_ignoring_case(path, exe) ? SAME_EXE : OTHER_EXE;
}

static BOOL CALLBACK search_window(HWND w, LPARAM lp) {
    Search *s = (Search *)lp;
    WCHAR cls[16];
    if (GetWindow(w, GW_OWNER) || GetClassNameW(w, cls, 16) != 8 || wcscmp(cls, L"MicroSIP") != 0) return TRUE;
    DWORD pid = 0;
    GetWindowThreadProcessId(w, &pid);
    Match match = which_exe(pid, s->exe);
    if (match == OTHER_EXE) return TRUE;
    s->out->unknown = match == UNKNOWN_EXE;
    s->out->window = w;
    s->out->pid = pid;
    s->out->visible = IsWindowVisible(w) && !IsIconic(w);
    return match == UNKNOWN_EXE; /* a window of this exe ends the search; go on past one that may not be */
}

BOOL find_running(const WCHAR *exe, Running *out) {
    ZeroMemory(out, sizeof *out);
    Search s = {exe, out};
    EnumWindows(search_window, (LPARAM)&s);
    return out->window != NULL;
}

/* ---- media ports ---- */

typedef struct {
    unsigned first, last; /* the bounded range, or last = 0 */
    unsigned pairs_from;  /* neighbouring sockets at or above this port are a call */
} Media;

static int ini_number(const WCHAR *ini, const WCHAR *section, const WCHAR *key) {
    WCHAR text[64];
    GetPrivateProfileStringW(section, key, L"", text, 64, ini);
    return _wtoi(text); /* as MicroSIP reads them (settings.cpp 385-392) */
}

/* Whether any [AccountN] section has ICE=1 (settings.cpp AccountLoad: "ICE" is "1" or not). */
static BOOL any_ice(const WCHAR *ini) {
    WCHAR *names = section_names(ini);
    if (!names) return TRUE; /* cannot tell: assume the wider range */
    BOOL ice = FALSE;
    for (WCHAR *name = names; *name && !ice; name += wcslen(name) + 1) {
        if (_wcsnicmp(name, L"Account", 7) != 0) continue;
        WCHAR value[8];
        GetPrivateProfileStringW(name, L"ICE", L"", value, 8, ini);
        ice = wcscmp(value, L"1") == 0;
    }
    str_free(names);
    return ice;
}

/* rtpPortMin and rtpPortMax as MicroSIP hands them to pjsua: (first port, range) (mainDlg.cpp 3493-3497). */
static void configured_ports(const WCHAR *ini, unsigned *first, unsigned *range) {
    int low = ini_number(ini, L"Settings", L"rtpPortMin"), high = ini_number(ini, L"Settings", L"rtpPortMax");
    BOOL set = low > 0 && low < 65536;
    *first = set ? (unsigned)low : PJSUA_DEFAULT_RTP_PORT;
    *range = set && high > low ? (unsigned)(high - low) : 0;
}

static void media_of(const WCHAR *ini, Media *m) {
    unsigned first = PJSUA_DEFAULT_RTP_PORT, range = 0;
    BOOL have = file_exists(ini);
    if (have) configured_ports(ini, &first, &range);
    m->first = first;
    m->last = range ? first + range + 1 : 0;
    if (!range && have && any_ice(ini)) m->last = first + ICE_PORTS_A_CALL * LARGEST_MAX_CALLS + 1;
    m->pairs_from = first < PJSUA_DEFAULT_RTP_PORT ? first : PJSUA_DEFAULT_RTP_PORT;
    if (m->last > 65535) m->last = 65535;
}

typedef struct {
    BYTE counts[65536]; /* 1 when a counting socket holds the port */
} Ports;

/* The UDP table of one address family with owners, allocated; NULL with the reason in *error. */
static void *udp_table(ULONG family, DWORD *error) {
    DWORD size = 0;
    *error = GetExtendedUdpTable(NULL, &size, FALSE, family, UDP_TABLE_OWNER_PID, 0);
    for (int tries = 0; tries < 5; tries++) {
        if (*error != ERROR_INSUFFICIENT_BUFFER && *error != NO_ERROR) return NULL;
        size += 4096; /* room for sockets opened in between */
        void *table = HeapAlloc(GetProcessHeap(), 0, size);
        if (!table) {
            *error = ERROR_NOT_ENOUGH_MEMORY;
            return NULL;
        }
        *error = GetExtendedUdpTable(table, &size, FALSE, family, UDP_TABLE_OWNER_PID, 0);
        if (*error == NO_ERROR) return table;
        str_free(table);
    }
    return NULL;
}

static void mark_port(Ports *ports, DWORD owner, DWORD pid, DWORD port) {
    if (owner == pid || owner == 0) ports->counts[ntohs((u_short)port)] = 1;
}

/* Mark the ports of counting sockets of one address family; FALSE when the table cannot be read. */
static BOOL mark(ULONG family, DWORD pid, Ports *ports, DWORD *error) {
    void *table = udp_table(family, error);
    if (!table) return *error == ERROR_NOT_SUPPORTED && family == AF_INET6; /* no IPv6 stack: no IPv6 sockets */
    if (family == AF_INET) {
        MIB_UDPTABLE_OWNER_PID *t = (MIB_UDPTABLE_OWNER_PID *)table;
        for (DWORD i = 0; i < t->dwNumEntries; i++) mark_port(ports, t->table[i].dwOwningPid, pid, t->table[i].dwLocalPort);
    } else {
        MIB_UDP6TABLE_OWNER_PID *t = (MIB_UDP6TABLE_OWNER_PID *)table;
        for (DWORD i = 0; i < t->dwNumEntries; i++) mark_port(ports, t->table[i].dwOwningPid, pid, t->table[i].dwLocalPort);
    }
    str_free(table);
    return TRUE;
}

static WCHAR *judge(const Ports *ports, const Media *m) {
    for (unsigned port = m->first; m->last && port <= m->last; port++)
        if (ports->counts[port])
            return str_printf(L"MicroSIP is in a call or one is ringing: UDP port %u, in its media ports %u-%u, is "
                              L"open by MicroSIP or by a process Windows does not name",
                              port, m->first, m->last);
    for (unsigned port = m->pairs_from; port < 65535; port++)
        if (ports->counts[port] && ports->counts[port + 1])
            return str_printf(L"MicroSIP is in a call or one is ringing: UDP ports %u and %u (RTP and RTCP) are open "
                              L"by MicroSIP or by a process Windows does not name",
                              port, port + 1);
    return NULL;
}

WCHAR *call_in_progress(DWORD pid, const WCHAR *ini) {
    Media m;
    media_of(ini, &m);
    Ports *ports = (Ports *)HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(Ports));
    if (!ports) return str_printf(L"cannot tell whether MicroSIP is in a call: out of memory");
    DWORD error = 0;
    WCHAR *why = NULL;
    if (!mark(AF_INET, pid, ports, &error) || !mark(AF_INET6, pid, ports, &error)) {
        WCHAR *words = error_text(error);
        why = str_printf(L"cannot tell whether MicroSIP is in a call: Windows does not list its UDP sockets (%ls)", words);
        str_free(words);
    } else {
        why = judge(ports, &m);
    }
    str_free(ports);
    return why;
}

/* ---- closing and starting ---- */

/* What `/exit` does (microsip.cpp 379-385): WM_CLOSE, sent and waited for; then the process is waited for. */
WCHAR *close_running(const Running *running, DWORD wait_ms) {
    HANDLE proc = OpenProcess(SYNCHRONIZE, FALSE, running->pid);
    if (!proc) {
        WCHAR *words = error_text(GetLastError()), *why = str_printf(L"cannot wait for MicroSIP to exit (%ls)", words);
        str_free(words);
        return why;
    }
    DWORD_PTR result = 0;
    SendMessageTimeoutW(running->window, WM_CLOSE, 0, 0, SMTO_NORMAL | SMTO_ABORTIFHUNG, wait_ms, &result);
    DWORD waited = WaitForSingleObject(proc, wait_ms);
    CloseHandle(proc);
    if (waited == WAIT_OBJECT_0) return NULL;
    return str_printf(L"MicroSIP did not exit within %lu ms of being asked to", wait_ms);
}

/* Started as it was: no argument when its window was showing, `/minimized` when it was in the tray --
   never the seat's launch arguments, which MicroSIP would dial or act on (mainDlg.cpp 4033-4265). This
   is how MicroSIP 3.22.16 restarts itself after a crash (microsip.cpp ExceptionFilter). */
WCHAR *start_again(const WCHAR *exe, const WCHAR *folder, BOOL visible) {
    WCHAR *command = str_printf(L"\"%ls\"%ls", exe, visible ? L"" : L" /minimized");
    STARTUPINFOW si;
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    PROCESS_INFORMATION pi;
    BOOL ok = CreateProcessW(exe, command, NULL, NULL, FALSE, 0, NULL, folder, &si, &pi);
    DWORD error = GetLastError();
    str_free(command);
    if (ok) {
        CloseHandle(pi.hThread);
        CloseHandle(pi.hProcess);
        return NULL;
    }
    WCHAR *words = error_text(error), *why = str_printf(L"cannot start MicroSIP again (%ls)", words);
    str_free(words);
    return why;
}
