/*
 * provisioner-agent: applies one user's MicroSIP seat at logon, as that user.
 *
 * Reads seats\<user>@<computer>\seat.ini (or seats\<user>\seat.ini) from the share
 * written by `provisioner publish`, checks its checksum, and -- unless the same
 * generation is already applied and its managed keys still hold -- closes MicroSIP
 * the way MicroSIP supports (`/exit`), sets the managed keys in the user's ini with
 * the profile API MicroSIP itself reads with, on a copy that then replaces the ini
 * atomically, places the seat's launchers and phonebook, starts MicroSIP again if
 * it was running, and reports to status\ on the share.
 *
 * Exit codes: 0 applied or nothing to do, 1 deferred (MicroSIP would not exit),
 * 2 bad or damaged payload, 3 failed with nothing changed.
 *
 * C and the Win32 API only; built with MinGW-w64 (see Makefile in this folder).
 */
#define WIN32_LEAN_AND_MEAN
#define _WIN32_WINNT 0x0601
#include <windows.h>
#include <bcrypt.h>
#include <initguid.h>
#include <knownfolders.h>
#include <shlobj.h>
#include <stdarg.h>
#include <stdio.h>
#include <wchar.h>

#define AGENT_VERSION L"1"
#define MAX_PAYLOAD (1024 * 1024)
#define MAX_ITEMS 512
#define EXIT_OK 0
#define EXIT_DEFERRED 1
#define EXIT_BAD_PAYLOAD 2
#define EXIT_FAILED 3

typedef struct {
    WCHAR kind[8];      /* Set, Seed, Remove */
    WCHAR section[64];
    WCHAR key[128];
    WCHAR *value;       /* raw text after '=' (quotes kept) */
} Item;

typedef struct {
    WCHAR name[128];
    WCHAR places[64];   /* "desktop startup start_menu" */
} Launcher;

typedef struct {
    WCHAR name[128];
    WCHAR sha256[65];
} FileSum;

typedef struct {
    WCHAR seat[128], user[128], computer[128], generation[32], exe[MAX_PATH], folder[MAX_PATH];
    WCHAR mode[16], ini[MAX_PATH], args[1024], checksum[65], contacts[16];
    Item items[MAX_ITEMS];
    int item_count;
    Launcher launchers[16];
    int launcher_count;
    FileSum files[32];
    int file_count;
    WCHAR *text;        /* the decoded payload (owns the strings items point into) */
} Payload;

static WCHAR g_log_path[MAX_PATH];
static WCHAR g_local_dir[MAX_PATH];

/* ---- small helpers -------------------------------------------------------------- */

static void log_line(const WCHAR *fmt, ...) {
    WCHAR line[2048];
    va_list ap;
    va_start(ap, fmt);
    _vsnwprintf(line, 2047, fmt, ap);
    va_end(ap);
    line[2047] = 0;
    fwprintf(stderr, L"%ls\n", line);
    if (!g_log_path[0]) return;
    HANDLE h = CreateFileW(g_log_path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                           OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) return;
    SYSTEMTIME t;
    GetSystemTime(&t);
    char buf[6144];
    WCHAR stamped[2200];
    _snwprintf(stamped, 2199, L"%04u-%02u-%02uT%02u:%02u:%02uZ %ls\r\n", t.wYear, t.wMonth, t.wDay,
               t.wHour, t.wMinute, t.wSecond, line);
    stamped[2199] = 0;
    int n = WideCharToMultiByte(CP_UTF8, 0, stamped, -1, buf, sizeof buf, NULL, NULL);
    DWORD written;
    if (n > 1) WriteFile(h, buf, (DWORD)(n - 1), &written, NULL);
    CloseHandle(h);
}

static BOOL file_exists(const WCHAR *path) {
    DWORD a = GetFileAttributesW(path);
    return a != INVALID_FILE_ATTRIBUTES && !(a & FILE_ATTRIBUTE_DIRECTORY);
}

/* Read a whole file (at most `limit` bytes); returns a malloc'ed buffer or NULL. */
static BYTE *read_file(const WCHAR *path, DWORD limit, DWORD *size) {
    HANDLE h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) return NULL;
    LARGE_INTEGER len;
    if (!GetFileSizeEx(h, &len) || len.QuadPart > limit) {
        CloseHandle(h);
        return NULL;
    }
    BYTE *buf = (BYTE *)HeapAlloc(GetProcessHeap(), 0, (SIZE_T)len.QuadPart + 2);
    DWORD got = 0, total = 0;
    while (buf && total < (DWORD)len.QuadPart) {
        if (!ReadFile(h, buf + total, (DWORD)len.QuadPart - total, &got, NULL) || got == 0) break;
        total += got;
    }
    CloseHandle(h);
    if (!buf || total != (DWORD)len.QuadPart) {
        if (buf) HeapFree(GetProcessHeap(), 0, buf);
        return NULL;
    }
    buf[total] = buf[total + 1] = 0;
    *size = total;
    return buf;
}

/* Write a file whole, then move it over `path` with write-through: old or new, never torn. */
static BOOL replace_file(const WCHAR *path, const BYTE *data, DWORD size) {
    WCHAR temp[MAX_PATH + 32];
    _snwprintf(temp, MAX_PATH + 31, L"%ls.provisioner-tmp", path);
    temp[MAX_PATH + 31] = 0;
    HANDLE h = CreateFileW(temp, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) return FALSE;
    DWORD written = 0;
    BOOL ok = WriteFile(h, data, size, &written, NULL) && written == size && FlushFileBuffers(h);
    CloseHandle(h);
    if (ok) ok = MoveFileExW(temp, path, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH);
    if (!ok) DeleteFileW(temp);
    return ok;
}

static void sha256_hex(const BYTE *data, DWORD size, WCHAR out[65]) {
    BCRYPT_ALG_HANDLE alg = NULL;
    BCRYPT_HASH_HANDLE hash = NULL;
    BYTE digest[32];
    out[0] = 0;
    if (BCryptOpenAlgorithmProvider(&alg, BCRYPT_SHA256_ALGORITHM, NULL, 0) != 0) return;
    if (BCryptCreateHash(alg, &hash, NULL, 0, NULL, 0, 0) == 0) {
        if (BCryptHashData(hash, (PUCHAR)data, size, 0) == 0 && BCryptFinishHash(hash, digest, 32, 0) == 0) {
            for (int i = 0; i < 32; i++) _snwprintf(out + 2 * i, 3, L"%02x", digest[i]);
            out[64] = 0;
        }
        BCryptDestroyHash(hash);
    }
    BCryptCloseAlgorithmProvider(alg, 0);
}

static void copy_str(WCHAR *dst, size_t cap, const WCHAR *src) {
    wcsncpy(dst, src, cap - 1);
    dst[cap - 1] = 0;
}

/* The value Windows' profile API returns for raw text: trimmed, one pair of matching quotes removed. */
static void read_back(const WCHAR *raw, WCHAR *out, size_t cap) {
    while (*raw == L' ' || *raw == L'\t') raw++;
    size_t n = wcslen(raw);
    while (n && (raw[n - 1] == L' ' || raw[n - 1] == L'\t')) n--;
    if (n >= 2 && (raw[0] == L'"' || raw[0] == L'\'') && raw[n - 1] == raw[0]) {
        raw++;
        n -= 2;
    }
    if (n >= cap) n = cap - 1;
    wmemcpy(out, raw, n);
    out[n] = 0;
}

/* ---- the payload ------------------------------------------------------------------- */

static void header_value(Payload *p, const WCHAR *key, const WCHAR *value) {
    struct { const WCHAR *name; WCHAR *dst; size_t cap; } fields[] = {
        {L"seat", p->seat, 128},       {L"user", p->user, 128},         {L"computer", p->computer, 128},
        {L"generation", p->generation, 32}, {L"exe", p->exe, MAX_PATH}, {L"folder", p->folder, MAX_PATH},
        {L"mode", p->mode, 16},        {L"ini", p->ini, MAX_PATH},      {L"args", p->args, 1024},
        {L"checksum", p->checksum, 65},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (_wcsicmp(key, fields[i].name) == 0) copy_str(fields[i].dst, fields[i].cap, value);
}

/* Parse and check a payload: BOM, header, body length and SHA-256. Returns NULL + reason when bad. */
static const WCHAR *parse_payload(BYTE *data, DWORD size, Payload *p) {
    if (size < 4 || data[0] != 0xFF || data[1] != 0xFE || size % 2) return L"not UTF-16LE with a BOM";
    WCHAR *text = (WCHAR *)(data + 2);
    DWORD chars = (size - 2) / 2;
    text[chars] = 0; /* read_file left two spare zero bytes */
    WCHAR *sep = wcsstr(text, L"\r\n\r\n");
    if (!sep) return L"no header";
    WCHAR *body = sep + 4;
    DWORD body_bytes = (DWORD)((chars - (DWORD)(body - text)) * 2);
    /* header lines */
    long length = -1;
    WCHAR *line = text;
    *sep = 0;
    if (wcsncmp(line, L"[Provisioner]", 13) != 0) return L"no [Provisioner] header";
    for (WCHAR *next; line && *line; line = next) {
        next = wcsstr(line, L"\r\n");
        if (next) { *next = 0; next += 2; }
        WCHAR *eq = wcschr(line, L'=');
        if (!eq) continue;
        *eq = 0;
        if (_wcsicmp(line, L"length") == 0) length = wcstol(eq + 1, NULL, 10);
        else header_value(p, line, eq + 1);
    }
    if (length != (long)body_bytes) return L"the payload is cut short or padded (length differs)";
    WCHAR sum[65];
    sha256_hex((BYTE *)body, body_bytes, sum);
    if (_wcsicmp(sum, p->checksum) != 0) return L"checksum mismatch (damaged or half-copied)";
    /* body sections */
    WCHAR section[160] = L"";
    for (WCHAR *next, *ln = body; ln && *ln; ln = next) {
        next = wcsstr(ln, L"\r\n");
        if (next) { *next = 0; next += 2; }
        if (ln[0] == L'[') {
            WCHAR *end = wcschr(ln, L']');
            if (!end) return L"bad section line";
            *end = 0;
            copy_str(section, 160, ln + 1);
            continue;
        }
        WCHAR *eq = wcschr(ln, L'=');
        if (!eq || !section[0]) continue;
        *eq = 0;
        WCHAR *key = ln, *value = eq + 1;
        if (wcsncmp(section, L"Set ", 4) == 0 || wcsncmp(section, L"Seed ", 5) == 0 ||
            wcsncmp(section, L"Remove ", 7) == 0) {
            if (p->item_count >= MAX_ITEMS) return L"too many keys";
            Item *it = &p->items[p->item_count++];
            WCHAR *space = wcschr(section, L' ');
            size_t kind_len = (size_t)(space - section);
            if (kind_len >= 8) kind_len = 7;
            wmemcpy(it->kind, section, kind_len);
            it->kind[kind_len] = 0;
            copy_str(it->section, 64, space + 1);
            copy_str(it->key, 128, key);
            it->value = value;
        } else if (wcscmp(section, L"Launchers") == 0 && p->launcher_count < 16) {
            copy_str(p->launchers[p->launcher_count].name, 128, key);
            copy_str(p->launchers[p->launcher_count++].places, 64, value);
        } else if (wcscmp(section, L"Files") == 0 && p->file_count < 32) {
            copy_str(p->files[p->file_count].name, 128, key);
            copy_str(p->files[p->file_count++].sha256, 65, value);
        } else if (wcscmp(section, L"Contacts") == 0 && _wcsicmp(key, L"mode") == 0) {
            copy_str(p->contacts, 16, value);
        }
    }
    p->text = text;
    if (!p->exe[0] || !p->ini[0] || !p->generation[0]) return L"the header lacks exe, ini or generation";
    return NULL;
}

/* ---- MicroSIP on this PC --------------------------------------------------------------- */

static BOOL registry_folder(HKEY root, REGSAM view, WCHAR *out, DWORD cap) {
    HKEY key;
    if (RegOpenKeyExW(root, L"Software\\MicroSIP", 0, KEY_READ | view, &key) != ERROR_SUCCESS) return FALSE;
    DWORD type = 0, bytes = cap * sizeof(WCHAR);
    LONG r = RegQueryValueExW(key, NULL, NULL, &type, (BYTE *)out, &bytes);
    RegCloseKey(key);
    if (r != ERROR_SUCCESS || type != REG_SZ || bytes < sizeof(WCHAR)) return FALSE;
    out[cap - 1] = 0;
    return out[0] != 0;
}

/* Where MicroSIP will read its ini; a note when that is not where the seat expects. */
static void ini_location(const Payload *p, WCHAR *ini_path, WCHAR *data_dir, WCHAR *note, size_t note_cap) {
    WCHAR registered[MAX_PATH] = L"";
    BOOL found = registry_folder(HKEY_CURRENT_USER, 0, registered, MAX_PATH) ||
                 registry_folder(HKEY_LOCAL_MACHINE, KEY_WOW64_64KEY, registered, MAX_PATH) ||
                 registry_folder(HKEY_LOCAL_MACHINE, KEY_WOW64_32KEY, registered, MAX_PATH);
    size_t n = wcslen(registered);
    while (n && registered[n - 1] == L'\\') registered[--n] = 0;
    BOOL installed = found && _wcsicmp(registered, p->folder) == 0;
    note[0] = 0;
    if (_wcsicmp(p->mode, L"installed") == 0) {
        WCHAR appdata[MAX_PATH];
        if (!GetEnvironmentVariableW(L"APPDATA", appdata, MAX_PATH)) appdata[0] = 0;
        _snwprintf(data_dir, MAX_PATH, L"%ls\\MicroSIP", appdata);
        if (!installed)
            _snwprintf(note, note_cap, L"MicroSIP at %ls is not the registered install (%ls): it would run "
                       L"portable and read the ini beside its exe", p->folder, found ? registered : L"none");
    } else {
        copy_str(data_dir, MAX_PATH, p->folder);
        if (installed)
            _snwprintf(note, note_cap, L"%ls is the registered install: MicroSIP reads %%APPDATA%%\\MicroSIP, "
                       L"not the ini beside the exe", p->folder);
    }
    _snwprintf(ini_path, MAX_PATH, L"%ls\\%ls", data_dir, p->ini);
}

typedef struct { const WCHAR *exe; HWND found; DWORD pid; } FindCtx;

static BOOL same_exe(HWND w, const WCHAR *exe, DWORD *pid_out) {
    DWORD pid = 0;
    GetWindowThreadProcessId(w, &pid);
    HANDLE proc = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    if (!proc) return FALSE;
    WCHAR path[MAX_PATH];
    DWORD len = MAX_PATH;
    BOOL same = QueryFullProcessImageNameW(proc, 0, path, &len) && _wcsicmp(path, exe) == 0;
    CloseHandle(proc);
    if (same) *pid_out = pid;
    return same;
}

/* The running MicroSIP of this exe (its main window, or a message-only one), or NULL. */
static HWND find_microsip(const WCHAR *exe, DWORD *pid) {
    HWND w = NULL;
    while ((w = FindWindowExW(NULL, w, L"MicroSIP", NULL)) != NULL)
        if (same_exe(w, exe, pid)) return w;
    w = NULL;
    while ((w = FindWindowExW(HWND_MESSAGE, w, L"MicroSIP", NULL)) != NULL)
        if (same_exe(w, exe, pid)) return w;
    return NULL;
}

static BOOL run(const WCHAR *exe, const WCHAR *args, const WCHAR *dir, BOOL wait) {
    WCHAR cmd[2048];
    _snwprintf(cmd, 2047, L"\"%ls\"%ls%ls", exe, args && args[0] ? L" " : L"", args ? args : L"");
    cmd[2047] = 0;
    STARTUPINFOW si;
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    PROCESS_INFORMATION pi;
    if (!CreateProcessW(exe, cmd, NULL, NULL, FALSE, 0, NULL, dir, &si, &pi)) return FALSE;
    if (wait) WaitForSingleObject(pi.hProcess, 30000);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    return TRUE;
}

/* Ask a running MicroSIP to exit (`/exit`: it saves its settings) and wait, bounded. */
static BOOL close_microsip(const WCHAR *exe, const WCHAR *folder, DWORD pid, DWORD wait_ms) {
    HANDLE proc = OpenProcess(SYNCHRONIZE, FALSE, pid);
    if (!run(exe, L"/exit", folder, TRUE)) {
        if (proc) CloseHandle(proc);
        return FALSE;
    }
    BOOL gone = proc ? WaitForSingleObject(proc, wait_ms) == WAIT_OBJECT_0 : TRUE;
    if (proc) CloseHandle(proc);
    return gone;
}

/* ---- applying ------------------------------------------------------------------------ */

/* Whether every managed key already holds (the fast path at every logon). */
static BOOL keys_hold(const Payload *p, const WCHAR *ini) {
    if (!file_exists(ini)) return FALSE;
    WCHAR have[1100], want[1100];
    for (int i = 0; i < p->item_count; i++) {
        const Item *it = &p->items[i];
        DWORD n = GetPrivateProfileStringW(it->section, it->key, L"\x01", have, 1100, ini);
        BOOL missing = n == 1 && have[0] == 1;
        if (wcscmp(it->kind, L"Set") == 0) {
            read_back(it->value, want, 1100);
            if (missing || wcscmp(have, want) != 0) return FALSE;
        } else if (wcscmp(it->kind, L"Seed") == 0) {
            if (missing || !have[0]) return FALSE;
        } else if (!missing) {
            return FALSE;
        }
    }
    return TRUE;
}

/* Set, seed and remove keys on a copy of the ini, then replace the ini with it. */
static const WCHAR *apply_keys(const Payload *p, const WCHAR *ini, const WCHAR *backup) {
    WCHAR temp[MAX_PATH + 32];
    _snwprintf(temp, MAX_PATH + 31, L"%ls.provisioner-new", ini);
    temp[MAX_PATH + 31] = 0;
    if (file_exists(ini)) {
        if (!CopyFileW(ini, temp, FALSE)) return L"cannot copy the ini";
    } else {
        static const BYTE bom[] = {0xFF, 0xFE, '[', 0, 'S', 0, 'e', 0, 't', 0, 't', 0, 'i', 0, 'n', 0, 'g', 0,
                                   's', 0, ']', 0, '\r', 0, '\n', 0};
        HANDLE h = CreateFileW(temp, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
        DWORD w;
        if (h == INVALID_HANDLE_VALUE) return L"cannot create the ini";
        BOOL ok = WriteFile(h, bom, sizeof bom, &w, NULL);
        CloseHandle(h);
        if (!ok) return L"cannot create the ini";
    }
    WCHAR have[1100];
    for (int i = 0; i < p->item_count; i++) {
        const Item *it = &p->items[i];
        BOOL ok = TRUE;
        if (wcscmp(it->kind, L"Set") == 0) {
            ok = WritePrivateProfileStringW(it->section, it->key, it->value, temp);
        } else if (wcscmp(it->kind, L"Seed") == 0) {
            GetPrivateProfileStringW(it->section, it->key, L"", have, 1100, temp);
            if (!have[0]) ok = WritePrivateProfileStringW(it->section, it->key, it->value, temp);
        } else {
            ok = WritePrivateProfileStringW(it->section, it->key, NULL, temp);
        }
        if (!ok) {
            DeleteFileW(temp);
            return L"the profile API refused a key";
        }
    }
    WritePrivateProfileStringW(NULL, NULL, NULL, temp); /* flush the profile cache */
    if (file_exists(ini) && !CopyFileW(ini, backup, FALSE)) {
        DeleteFileW(temp);
        return L"cannot keep a backup of the ini";
    }
    if (!MoveFileExW(temp, ini, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
        DeleteFileW(temp);
        return L"cannot replace the ini (locked?)";
    }
    return NULL;
}

static const KNOWNFOLDERID *place_folder(const WCHAR *place) {
    if (wcscmp(place, L"desktop") == 0) return &FOLDERID_Desktop;
    if (wcscmp(place, L"start_menu") == 0) return &FOLDERID_Programs;
    if (wcscmp(place, L"startup") == 0) return &FOLDERID_Startup;
    return NULL;
}

/* Place each launcher where the seat says; replace only a launcher the agent placed before. */
static int place_launchers(const Payload *p, const WCHAR *seat_dir, const WCHAR *state) {
    int problems = 0;
    for (int i = 0; i < p->launcher_count; i++) {
        const Launcher *l = &p->launchers[i];
        WCHAR source[MAX_PATH], places[64];
        _snwprintf(source, MAX_PATH, L"%ls\\%ls", seat_dir, l->name);
        DWORD size = 0;
        BYTE *data = read_file(source, MAX_PAYLOAD, &size);
        if (!data) { problems++; continue; }
        WCHAR sum[65];
        sha256_hex(data, size, sum);
        copy_str(places, 64, l->places);
        for (WCHAR *place = places, *rest; place && *place; place = rest) {
            rest = wcschr(place, L' ');
            if (rest) *rest++ = 0;
            if (!*place) continue;
            const KNOWNFOLDERID *id = place_folder(place);
            PWSTR folder = NULL;
            if (!id || SHGetKnownFolderPath(id, KF_FLAG_CREATE, NULL, &folder) != S_OK) { problems++; continue; }
            WCHAR dest[MAX_PATH], key[300], placed[65] = L"";
            _snwprintf(dest, MAX_PATH, L"%ls\\%ls", folder, l->name);
            CoTaskMemFree(folder);
            _snwprintf(key, 299, L"%ls|%ls", place, l->name);
            GetPrivateProfileStringW(L"launchers", key, L"", placed, 65, state);
            DWORD have_size = 0;
            BYTE *have = read_file(dest, MAX_PAYLOAD, &have_size);
            WCHAR have_sum[65] = L"";
            if (have) { sha256_hex(have, have_size, have_sum); HeapFree(GetProcessHeap(), 0, have); }
            if (have && wcscmp(have_sum, sum) == 0) {
                WritePrivateProfileStringW(L"launchers", key, sum, state);
                continue;
            }
            if (have && wcscmp(have_sum, placed) != 0) {
                log_line(L"left %ls as it is: not a launcher this agent placed", dest);
                continue;
            }
            if (replace_file(dest, data, size)) WritePrivateProfileStringW(L"launchers", key, sum, state);
            else problems++;
        }
        HeapFree(GetProcessHeap(), 0, data);
    }
    return problems;
}

/* The value of attribute `name` in a <contact .../> line (into out), or FALSE. */
static BOOL xml_attr(const char *line, const char *name, char *out, size_t cap) {
    char pattern[64];
    _snprintf(pattern, 63, " %s=\"", name);
    pattern[63] = 0;
    const char *at = strstr(line, pattern);
    if (!at) return FALSE;
    at += strlen(pattern);
    const char *end = strchr(at, '"');
    if (!end || (size_t)(end - at) >= cap) return FALSE;
    memcpy(out, at, (size_t)(end - at));
    out[end - at] = 0;
    return TRUE;
}

/* Contacts.xml: placed when missing or `replace`; otherwise merged by number, line by line. */
static BOOL place_contacts(const Payload *p, const WCHAR *seat_dir, const WCHAR *data_dir) {
    if (!p->contacts[0]) return TRUE;
    WCHAR source[MAX_PATH], dest[MAX_PATH];
    _snwprintf(source, MAX_PATH, L"%ls\\Contacts.xml", seat_dir);
    _snwprintf(dest, MAX_PATH, L"%ls\\Contacts.xml", data_dir);
    DWORD ours_size = 0, have_size = 0;
    BYTE *ours = read_file(source, MAX_PAYLOAD, &ours_size);
    if (!ours) return FALSE;
    BYTE *have = _wcsicmp(p->contacts, L"replace") == 0 ? NULL : read_file(dest, 16 * MAX_PAYLOAD, &have_size);
    BOOL ok;
    if (!have || !strstr((char *)have, "</contacts>")) {
        ok = replace_file(dest, ours, ours_size);
    } else {
        /* keep the user's lines; a fleet contact replaces the line with its number, or is added */
        SIZE_T cap = have_size + ours_size + 16;
        char *out = (char *)HeapAlloc(GetProcessHeap(), 0, cap);
        char *w = out;
        char *close = strstr((char *)have, "</contacts>");
        for (char *line = (char *)have; line < close;) {
            char *eol = strstr(line, "\n");
            if (!eol || eol > close) eol = close; else eol++;
            char number[256];
            BOOL replaced = FALSE;
            if (strstr(line, "<contact ") && xml_attr(line, "number", number, sizeof number)) {
                for (char *o = strstr((char *)ours, "<contact "); o; o = strstr(o + 1, "<contact ")) {
                    char theirs[256];
                    if (xml_attr(o, "number", theirs, sizeof theirs) && strcmp(theirs, number) == 0) {
                        replaced = TRUE;
                        break;
                    }
                }
            }
            if (!replaced) { memcpy(w, line, (size_t)(eol - line)); w += eol - line; }
            line = eol;
        }
        for (char *o = strstr((char *)ours, "<contact "); o; o = strstr(o + 1, "<contact ")) {
            char *eol = strstr(o, "\n");
            size_t n = eol ? (size_t)(eol - o + 1) : strlen(o);
            memcpy(w, o, n);
            w += n;
        }
        memcpy(w, "</contacts>\r\n", 13);
        w += 13;
        ok = replace_file(dest, (BYTE *)out, (DWORD)(w - out));
        HeapFree(GetProcessHeap(), 0, out);
        HeapFree(GetProcessHeap(), 0, have);
    }
    HeapFree(GetProcessHeap(), 0, ours);
    return ok;
}

/* ---- reporting ------------------------------------------------------------------------- */

static void report(const WCHAR *share, const WCHAR *user, const WCHAR *computer, const WCHAR *generation,
                   const WCHAR *result, const WCHAR *ini, const WCHAR *message) {
    WCHAR path[MAX_PATH], stamp[32];
    _snwprintf(path, MAX_PATH, L"%ls\\status\\%ls@%ls.ini", share, user, computer);
    SYSTEMTIME t;
    GetSystemTime(&t);
    _snwprintf(stamp, 31, L"%04u-%02u-%02uT%02u:%02u:%02uZ", t.wYear, t.wMonth, t.wDay, t.wHour, t.wMinute,
               t.wSecond);
    WCHAR body[4096];
    _snwprintf(body, 4095,
               L"[status]\r\ngeneration=%ls\r\nresult=%ls\r\ntime=%ls\r\nagent=%ls\r\nini=%ls\r\nmessage=%ls\r\n",
               generation, result, stamp, AGENT_VERSION, ini, message);
    body[4095] = 0;
    BYTE bytes[8200] = {0xFF, 0xFE};
    size_t n = wcslen(body) * sizeof(WCHAR);
    memcpy(bytes + 2, body, n);
    if (!replace_file(path, bytes, (DWORD)(n + 2))) log_line(L"cannot write the status report %ls", path);
    log_line(L"%ls: %ls %ls", result, generation, message);
}

/* ---- main ----------------------------------------------------------------------------- */

int wmain(int argc, WCHAR **argv) {
    WCHAR share[MAX_PATH] = L"", user[128] = L"", computer[128] = L"";
    BOOL dry_run = FALSE, rollback = FALSE;
    DWORD wait_ms = 20000;
    for (int i = 1; i < argc; i++) {
        if (wcscmp(argv[i], L"--share") == 0 && i + 1 < argc) copy_str(share, MAX_PATH, argv[++i]);
        else if (wcscmp(argv[i], L"--user") == 0 && i + 1 < argc) copy_str(user, 128, argv[++i]);
        else if (wcscmp(argv[i], L"--computer") == 0 && i + 1 < argc) copy_str(computer, 128, argv[++i]);
        else if (wcscmp(argv[i], L"--wait") == 0 && i + 1 < argc) wait_ms = (DWORD)wcstoul(argv[++i], NULL, 10);
        else if (wcscmp(argv[i], L"--dry-run") == 0) dry_run = TRUE;
        else if (wcscmp(argv[i], L"--rollback") == 0) rollback = TRUE;
        else {
            fwprintf(stderr, L"usage: provisioner-agent [--share DIR] [--user NAME] [--computer NAME] "
                             L"[--dry-run] [--rollback] [--wait MS]\n");
            return EXIT_BAD_PAYLOAD;
        }
    }
    if (!share[0]) { /* the share is the folder above the agent's own (share\agent\provisioner-agent.exe) */
        GetModuleFileNameW(NULL, share, MAX_PATH);
        for (int up = 0; up < 2; up++) {
            WCHAR *slash = wcsrchr(share, L'\\');
            if (slash) *slash = 0;
        }
    }
    DWORD len = 128;
    if (!user[0] && !GetUserNameW(user, &len)) copy_str(user, 128, L"unknown");
    len = 128;
    if (!computer[0] && !GetComputerNameW(computer, &len)) copy_str(computer, 128, L"unknown");

    PWSTR local = NULL;
    if (SHGetKnownFolderPath(&FOLDERID_LocalAppData, KF_FLAG_CREATE, NULL, &local) == S_OK) {
        _snwprintf(g_local_dir, MAX_PATH, L"%ls\\microsip-provisioner", local);
        CoTaskMemFree(local);
        CreateDirectoryW(g_local_dir, NULL);
        _snwprintf(g_log_path, MAX_PATH, L"%ls\\agent.log", g_local_dir);
    }
    WCHAR state[MAX_PATH], backup[MAX_PATH];
    _snwprintf(state, MAX_PATH, L"%ls\\state.ini", g_local_dir);
    _snwprintf(backup, MAX_PATH, L"%ls\\ini.bak", g_local_dir);

    WCHAR seat_dir[MAX_PATH], payload_path[MAX_PATH];
    _snwprintf(seat_dir, MAX_PATH, L"%ls\\seats\\%ls@%ls", share, user, computer);
    _snwprintf(payload_path, MAX_PATH, L"%ls\\seat.ini", seat_dir);
    if (!file_exists(payload_path)) {
        _snwprintf(seat_dir, MAX_PATH, L"%ls\\seats\\%ls", share, user);
        _snwprintf(payload_path, MAX_PATH, L"%ls\\seat.ini", seat_dir);
    }
    if (!file_exists(payload_path)) {
        log_line(L"no seat for %ls on %ls under %ls: nothing to do", user, computer, share);
        return EXIT_OK;
    }
    DWORD size = 0;
    BYTE *data = read_file(payload_path, MAX_PAYLOAD, &size);
    static Payload p;
    const WCHAR *bad = data ? parse_payload(data, size, &p) : L"cannot be read";
    for (int i = 0; !bad && i < p.file_count; i++) {
        WCHAR path[MAX_PATH], sum[65];
        _snwprintf(path, MAX_PATH, L"%ls\\%ls", seat_dir, p.files[i].name);
        DWORD fsize = 0;
        BYTE *fdata = read_file(path, 16 * MAX_PAYLOAD, &fsize);
        if (!fdata) { bad = L"a file of the seat is missing"; break; }
        sha256_hex(fdata, fsize, sum);
        HeapFree(GetProcessHeap(), 0, fdata);
        if (_wcsicmp(sum, p.files[i].sha256) != 0) bad = L"a file of the seat does not match (half-copied?)";
    }
    if (bad) {
        WCHAR message[512];
        _snwprintf(message, 511, L"%ls: %ls; nothing changed", payload_path, bad);
        message[511] = 0;
        report(share, user, computer, L"", L"damaged", L"", message);
        return EXIT_BAD_PAYLOAD;
    }
    WCHAR ini[MAX_PATH], data_dir[MAX_PATH], note[600], exe[MAX_PATH * 2];
    ini_location(&p, ini, data_dir, note, 600);
    _snwprintf(exe, MAX_PATH * 2 - 1, L"%ls\\%ls", p.folder, p.exe);
    if (note[0]) log_line(L"warning: %ls", note);

    if (rollback) {
        if (!file_exists(backup)) {
            report(share, user, computer, p.generation, L"failed", ini, L"no backup to roll back to");
            return EXIT_FAILED;
        }
        DWORD bsize = 0;
        BYTE *bdata = read_file(backup, 16 * MAX_PAYLOAD, &bsize);
        if (!bdata || !replace_file(ini, bdata, bsize)) {
            report(share, user, computer, p.generation, L"failed", ini, L"cannot restore the backup");
            return EXIT_FAILED;
        }
        WritePrivateProfileStringW(L"seat", L"generation", L"", state);
        report(share, user, computer, p.generation, L"rolled-back", ini, L"the ini before the last apply is back");
        return EXIT_OK;
    }

    WCHAR applied[32] = L"";
    GetPrivateProfileStringW(L"seat", L"generation", L"", applied, 32, state);
    if (wcscmp(applied, p.generation) == 0 && keys_hold(&p, ini)) {
        log_line(L"current: generation %ls already applied to %ls", p.generation, ini);
        return EXIT_OK;
    }
    if (dry_run) {
        log_line(L"dry run: generation %ls would be applied to %ls (%d keys)", p.generation, ini, p.item_count);
        return EXIT_OK;
    }
    DWORD pid = 0;
    BOOL was_running = find_microsip(exe, &pid) != NULL;
    if (was_running && !close_microsip(exe, p.folder, pid, wait_ms)) {
        report(share, user, computer, p.generation, L"deferred", ini,
               L"MicroSIP did not exit when asked (a call in progress?); nothing changed, next logon tries again");
        return EXIT_DEFERRED;
    }
    CreateDirectoryW(data_dir, NULL);
    const WCHAR *failed = apply_keys(&p, ini, backup);
    if (failed) {
        if (was_running) run(exe, p.args, p.folder, FALSE);
        report(share, user, computer, p.generation, L"failed", ini, failed);
        return EXIT_FAILED;
    }
    int problems = place_launchers(&p, seat_dir, state);
    if (!place_contacts(&p, seat_dir, data_dir)) problems++;
    if (was_running) run(exe, p.args, p.folder, FALSE);
    WritePrivateProfileStringW(L"seat", L"generation", p.generation, state);
    WCHAR message[700];
    _snwprintf(message, 699, L"%ls%ls%ls", problems ? L"some launchers or the phonebook could not be placed"
                                                    : L"ok",
               note[0] ? L"; " : L"", note);
    message[699] = 0;
    report(share, user, computer, p.generation, L"applied", ini, message);
    return EXIT_OK;
}
