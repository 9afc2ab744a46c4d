/*
 * provisioner-agent: applies one user's MicroSIP seat at logon, as that user.
 *
 * Reads seats\<user>@<computer>\seat.ini (or seats\<user>\seat.ini) from the share
 * written by `provisioner publish` and checks it. Unless the same generation is
 * already applied and its keys still hold, it closes a running MicroSIP -- only when
 * it can tell that no call is in progress, else it defers -- sets the seat's keys in
 * the ini MicroSIP reads (decided as MicroSIP decides it) on a copy that then
 * replaces the ini atomically, places the launchers and phonebook, starts MicroSIP
 * again as it was if it was running, and reports to status\<user>\ on the share.
 *
 * Exit codes: 0 applied or nothing to do, 1 deferred (nothing changed; a call in
 * progress, or the agent cannot tell), 2 bad or damaged payload, 3 failed with
 * nothing changed.
 *
 * C and the Win32 API only; built with MinGW-w64 (see Makefile in this folder).
 */
#include "agent.h"

#include <initguid.h>
#include <knownfolders.h>
#include <lmcons.h>
#include <sddl.h>
#include <shlobj.h>
#include <stdio.h>
#include <wchar.h>

#define USAGE                                                                                                    \
    L"usage: provisioner-agent [--share DIR] [--user NAME] [--computer NAME] [--dry-run] [--rollback] [--wait MS]\n" \
    L"Applies this user's MicroSIP seat from a share written by `provisioner publish`.\n"                          \
    L"Exit codes: 0 applied or nothing to do, 1 deferred, 2 bad or damaged payload, 3 failed.\n"

typedef struct {
    WCHAR *share, *user, *computer;
    WCHAR *state, *backup, *seat_dir, *payload_path;
    const WCHAR *generation, *seat, *format, *warning; /* from the payload, once it is read */
    BOOL dry_run, rollback, help;
    DWORD wait_ms;
} Run;

/* One line for the report: no line breaks, whatever a message carries. */
static WCHAR *one_line(const WCHAR *text) {
    WCHAR *out = str_printf(L"%ls", text ? text : L"");
    for (WCHAR *c = out; *c; c++)
        if (*c < 0x20) *c = L' ';
    return out;
}

static void report(const Run *run, const WCHAR *result, const WCHAR *ini, const WCHAR *message) {
    /* status\<user>\ is writable by that user alone (acl.cmd): the report's place vouches for its writer */
    WCHAR *path = str_printf(L"%ls\\status\\%ls\\%ls@%ls.ini", run->share, run->user, run->user, run->computer);
    SYSTEMTIME t;
    GetSystemTime(&t);
    WCHAR *line = one_line(message), *where = one_line(ini), *warning = one_line(run->warning);
    const WCHAR *generation = run->generation ? run->generation : L"";
    WCHAR *body = str_printf(L"\xFEFF[status]\r\nseat=%ls\r\nformat=%ls\r\ngeneration=%ls\r\nresult=%ls\r\n"
                             L"folder=%ls\r\ntime=%04u-%02u-%02uT%02u:%02u:%02uZ\r\nagent=%ls\r\nini=%ls\r\nwarning=%ls\r\nmessage=%ls\r\n",
                             run->seat ? run->seat : L"", run->format ? run->format : L"", generation, result,
                             run->seat_dir ? wcsrchr(run->seat_dir, L'\\') + 1 : L"", t.wYear, t.wMonth,
                             t.wDay, t.wHour, t.wMinute, t.wSecond, AGENT_VERSION, where, warning, line);
    DWORD error = 0;
    if (!replace_whole(path, (const BYTE *)body, (DWORD)(wcslen(body) * sizeof(WCHAR)), &error)) {
        WCHAR *words = error_text(error);
        say(L"cannot write the status report %ls (%ls)", path, words);
        str_free(words);
    } else { /* what the share last heard, so that a run whose result differs says so */
        WritePrivateProfileStringW(L"report", L"result", result, run->state);
        WritePrivateProfileStringW(L"report", L"generation", generation, run->state);
    }
    say(L"%ls: %ls %ls", result, run->generation ? run->generation : L"", line);
    str_free(line);
    str_free(where);
    str_free(warning);
    str_free(body);
    str_free(path);
}

static int finish(const Run *run, int code, const WCHAR *result, const WCHAR *ini, const WCHAR *message) {
    report(run, result, ini, message);
    return code;
}

/* finish() with a message built for it, which it frees. */
static int done(const Run *run, int code, const WCHAR *result, const WCHAR *ini, WCHAR *message) {
    report(run, result, ini, message);
    str_free(message);
    return code;
}

static BOOL is(const WCHAR *arg, const WCHAR *name) {
    return wcscmp(arg, name) == 0;
}

/* An option with a value (argv[*i + 1]); FALSE when `arg` is none of them. */
static BOOL valued(Run *run, int argc, WCHAR **argv, int *i) {
    if (*i + 1 >= argc) return FALSE;
    const WCHAR *arg = argv[*i], *value = argv[*i + 1];
    WCHAR **field = is(arg, L"--share") ? &run->share : is(arg, L"--user") ? &run->user
                    : is(arg, L"--computer") ? &run->computer : NULL;
    if (field) *field = str_printf(L"%ls", value);
    else if (is(arg, L"--wait")) run->wait_ms = (DWORD)wcstoul(value, NULL, 10);
    else return FALSE;
    (*i)++;
    return TRUE;
}

static BOOL parse_args(int argc, WCHAR **argv, Run *run) {
    run->wait_ms = 20000;
    for (int i = 1; i < argc; i++) {
        if (is(argv[i], L"--help") || is(argv[i], L"/?")) run->help = TRUE;
        else if (is(argv[i], L"--dry-run")) run->dry_run = TRUE;
        else if (is(argv[i], L"--rollback")) run->rollback = TRUE;
        else if (!valued(run, argc, argv, &i)) return FALSE;
    }
    return TRUE;
}

/* The share is the folder above the agent's own (share\agent\provisioner-agent.exe). */
static WCHAR *default_share(void) {
    for (DWORD cap = MAX_PATH;; cap *= 2) {
        WCHAR *path = (WCHAR *)HeapAlloc(GetProcessHeap(), 0, cap * sizeof(WCHAR));
        if (!path) return NULL;
        DWORD n = GetModuleFileNameW(NULL, path, cap);
        if (n && n < cap) {
            for (int up = 0; up < 2; up++) {
                WCHAR *slash = wcsrchr(path, L'\\');
                if (slash) *slash = 0;
            }
            return path;
        }
        str_free(path);
        if (!n || cap > 32768) return NULL;
    }
}

static void defaults(Run *run) {
    if (!run->share) run->share = default_share();
    if (!run->user) {
        WCHAR name[UNLEN + 1];
        DWORD len = UNLEN + 1;
        run->user = str_printf(L"%ls", GetUserNameW(name, &len) ? name : L"unknown");
    }
    if (!run->computer) {
        WCHAR name[MAX_COMPUTERNAME_LENGTH + 1];
        DWORD len = MAX_COMPUTERNAME_LENGTH + 1;
        run->computer = str_printf(L"%ls", GetComputerNameW(name, &len) ? name : L"unknown");
    }
    PWSTR local = NULL;
    WCHAR *dir = NULL;
    if (SHGetKnownFolderPath(&FOLDERID_LocalAppData, KF_FLAG_CREATE, NULL, &local) == S_OK) {
        dir = str_printf(L"%ls\\microsip-provisioner", local);
        CoTaskMemFree(local);
        CreateDirectoryW(dir, NULL);
        WCHAR *log = str_printf(L"%ls\\agent.log", dir);
        set_log(log);
        str_free(log);
    }
    run->state = str_printf(L"%ls\\state.ini", dir ? dir : L".");
    run->backup = str_printf(L"%ls\\ini.bak", dir ? dir : L".");
    str_free(dir);
}

/* seats\<user>@<computer> wins over seats\<user>; FALSE when neither holds a seat. */
static BOOL find_seat(Run *run) {
    const WCHAR *forms[2] = {L"%ls\\seats\\%ls@%ls", L"%ls\\seats\\%ls"};
    for (int i = 0; i < 2; i++) {
        run->seat_dir = str_printf(forms[i], run->share, run->user, run->computer);
        run->payload_path = str_printf(L"%ls\\seat.ini", run->seat_dir);
        if (file_exists(run->payload_path)) return TRUE;
        str_free(run->seat_dir);
        str_free(run->payload_path);
        run->seat_dir = run->payload_path = NULL;
    }
    return FALSE;
}

static WCHAR *read_payload(const Run *run, Payload *p) {
    DWORD size = 0, error = 0;
    BYTE *data = read_whole(run->payload_path, MAX_PAYLOAD_BYTES, &size, &error);
    if (!data) {
        WCHAR *words = error_text(error), *why = str_printf(L"cannot be read (%ls)", words);
        str_free(words);
        return why;
    }
    const WCHAR *bad = payload_parse(data, size, p);
    return bad ? str_printf(L"%ls", bad) : NULL;
}

/* Each launcher and phonebook beside seat.ini as seat.ini's [Files] says, or why not. A share
   replicated file by file (DFS-R) delivers seat.ini before the rest: not damage, just early. */
static WCHAR *files_arrived(const Run *run, const Payload *p) {
    DWORD error = 0;
    for (int i = 0; i < p->file_count; i++) {
        WCHAR *path = str_printf(L"%ls\\%ls", run->seat_dir, p->files[i].name), sum[65];
        DWORD fsize = 0;
        BYTE *fdata = read_whole(path, MAX_FILE_BYTES, &fsize, &error);
        str_free(path);
        if (!fdata) return str_printf(L"%ls of the seat is not there yet", p->files[i].name);
        sha256_hex(fdata, fsize, sum);
        str_free(fdata);
        if (wcscmp(sum, p->files[i].sha256) != 0)
            return str_printf(L"%ls of the seat does not match seat.ini yet", p->files[i].name);
    }
    return NULL;
}

static int roll_back(const Run *run, const Location *where) {
    DWORD size = 0, error = 0;
    BYTE *data = read_whole(run->backup, MAX_FILE_BYTES, &size, &error);
    if (!data) return finish(run, EXIT_FAILED, L"failed", where->ini, L"no backup to roll back to");
    BOOL restored = replace_whole(where->ini, data, size, &error);
    str_free(data);
    if (!restored) {
        WCHAR *words = error_text(error);
        int code = done(run, EXIT_FAILED, L"failed", where->ini, str_printf(L"cannot restore the backup (%ls)", words));
        str_free(words);
        return code;
    }
    WritePrivateProfileStringW(L"seat", L"generation", L"", run->state);
    return finish(run, EXIT_OK, L"rolled-back", where->ini, L"the ini before the last apply is back");
}

/* Close a running MicroSIP when that is safe; NULL when closed or not running, else why it was left alone. */
static WCHAR *close_if_safe(const Run *run, const WCHAR *exe, const Location *where, Running *running) {
    if (!find_running(exe, running)) return NULL;
    if (running->unknown) {
        running->window = NULL; /* not ours to start again */
        return str_printf(L"cannot tell whether this MicroSIP runs: a MicroSIP window belongs to a process the "
                          L"agent cannot look at");
    }
    WCHAR *why = call_in_progress(running->pid, where->ini);
    if (why) return why;
    return close_running(running, run->wait_ms);
}

/* "a; b; c" of the parts that are there (NULL parts left out), the parts freed. */
static WCHAR *joined(WCHAR *first, WCHAR *second, WCHAR *third) {
    WCHAR *parts[3] = {first, second, third}, *out = NULL;
    for (int i = 0; i < 3; i++) {
        if (!parts[i]) continue;
        WCHAR *longer = out ? str_printf(L"%ls; %ls", out, parts[i]) : str_printf(L"%ls", parts[i]);
        str_free(out);
        str_free(parts[i]);
        out = longer;
    }
    return out;
}

static int apply_with(const Run *run, const Payload *p, const Location *where, const WCHAR *exe) {
    Running running;
    ZeroMemory(&running, sizeof running);
    /* no MicroSIP there yet: nothing reads an ini, and where it will read one its install decides */
    WCHAR *why = file_exists(exe) ? close_if_safe(run, exe, where, &running)
                                  : str_printf(L"MicroSIP is not at %ls (not installed yet?)", exe);
    if (why)
        return done(run, EXIT_DEFERRED, L"deferred", where->ini,
                    joined(why, str_printf(L"nothing changed, the agent tries again at its next run"), NULL));
    if (where->installed) CreateDirectoryW(where->dir, NULL); /* as MicroSIP does (settings.cpp 174) */
    WCHAR *failed = apply_keys(p, where->ini, run->backup);
    WCHAR *again = running.window ? start_again(exe, p->folder, running.visible) : NULL;
    if (failed) return done(run, EXIT_FAILED, L"failed", where->ini, joined(failed, again, NULL));
    int problems = place_launchers(p, run->seat_dir, run->state);
    WCHAR *book = place_contacts(p, run->seat_dir, where->dir);
    WritePrivateProfileStringW(L"seat", L"generation", p->generation, run->state);
    WritePrivateProfileStringW(L"read-only", NULL, NULL, run->state); /* writable again: say so next time */
    WCHAR *outcome = str_printf(L"%ls", problems ? L"ok, but some launchers could not be placed" : L"ok");
    WCHAR *note = where->note ? str_printf(L"%ls", where->note) : NULL;
    return done(run, EXIT_OK, L"applied", where->ini, joined(joined(outcome, note, book), again, NULL));
}

static int apply(const Run *run, const Payload *p, const Location *where) {
    WCHAR *exe = exe_path(p);
    int code = apply_with(run, p, where, exe);
    str_free(exe);
    return code;
}

/* A read-only ini (MicroSIP cannot save to it either) is reported once a generation, then left alone. */
static int read_only_ini(const Run *run, const Payload *p, const Location *where) {
    WCHAR said[80] = L"";
    GetPrivateProfileStringW(L"read-only", L"generation", L"", said, 80, run->state);
    if (wcscmp(said, p->generation) == 0) {
        say(L"%ls is still read-only: reported once for generation %ls; not again until it is writable or "
            L"another generation is published",
            where->ini, p->generation);
        return EXIT_FAILED;
    }
    WritePrivateProfileStringW(L"read-only", L"generation", p->generation, run->state);
    return finish(run, EXIT_FAILED, L"failed", where->ini,
                  L"the ini is read-only, so MicroSIP cannot save to it either; nothing changed; clear its "
                  L"read-only attribute (attrib -r) and the agent applies at its next run");
}

static BOOL is_read_only(const WCHAR *path) {
    DWORD attributes = GetFileAttributesW(path);
    return attributes != INVALID_FILE_ATTRIBUTES && (attributes & FILE_ATTRIBUTE_READONLY);
}

/* Whether the share's last report from this PC already says this. */
static BOOL reported(const Run *run, const WCHAR *result, const WCHAR *generation) {
    WCHAR said[32] = L"", of[80] = L"";
    GetPrivateProfileStringW(L"report", L"result", L"", said, 32, run->state);
    GetPrivateProfileStringW(L"report", L"generation", L"", of, 80, run->state);
    return wcscmp(said, result) == 0 && wcscmp(of, generation) == 0;
}

/* This generation applied here and every managed key still holds: report only if the last report said otherwise. */
static BOOL already_applied(const Run *run, const Payload *p, const Location *where) {
    WCHAR applied[80] = L"";
    GetPrivateProfileStringW(L"seat", L"generation", L"", applied, 80, run->state);
    if (wcscmp(applied, p->generation) != 0 || !keys_hold(p, where->ini)) return FALSE;
    say(L"current: generation %ls already applied to %ls", p->generation, where->ini);
    if (!reported(run, L"applied", p->generation)) report(run, L"applied", where->ini, L"ok (already applied)");
    return TRUE;
}

static int seat(Run *run) {
    static Payload p;
    WCHAR *bad = read_payload(run, &p);
    if (bad) {
        WCHAR *message = str_printf(L"%ls: %ls; nothing changed", run->payload_path, bad);
        str_free(bad);
        return done(run, EXIT_BAD_PAYLOAD, L"damaged", L"", message);
    }
    run->generation = p.generation;
    run->seat = p.seat;
    run->format = p.format;
    WCHAR *early = files_arrived(run, &p);
    if (early)
        return done(run, EXIT_DEFERRED, L"deferred", L"",
                    joined(early, str_printf(L"not fully replicated yet; nothing changed"), NULL));
    Location where;
    const WCHAR *lost = locate(&p, &where);
    if (lost) return finish(run, EXIT_FAILED, L"failed", L"", lost);
    if (where.undecided)
        return done(run, EXIT_DEFERRED, L"deferred", where.ini, str_printf(L"%ls; nothing changed", where.undecided));
    if (where.note) say(L"warning: %ls", where.note);
    run->warning = where.note;
    if (run->rollback) return roll_back(run, &where);
    if (already_applied(run, &p, &where)) return EXIT_OK;
    if (run->dry_run) {
        say(L"dry run: generation %ls would be applied to %ls (%d keys)", p.generation, where.ini, p.item_count);
        return EXIT_OK;
    }
    if (is_read_only(where.ini)) return read_only_ini(run, &p, &where);
    return apply(run, &p, &where);
}

/* This user's SID as text (the lock's name), or NULL. */
static WCHAR *user_sid(void) {
    HANDLE token = NULL;
    BYTE buffer[256];
    DWORD size = 0;
    WCHAR *text = NULL, *out = NULL;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return NULL;
    if (GetTokenInformation(token, TokenUser, buffer, sizeof buffer, &size) &&
        ConvertSidToStringSidW(((TOKEN_USER *)buffer)->User.Sid, &text)) {
        out = str_printf(L"%ls", text);
        LocalFree(text);
    }
    CloseHandle(token);
    return out;
}

/* One agent a user at a time, in every session (a logon script and a logon task, two sessions, a
   manual run during logon): a mutex named after the user's SID, waited for within --wait. NULL when
   held, else why not. */
static WCHAR *lock_user(const Run *run) {
    WCHAR *sid = user_sid();
    WCHAR *name = str_printf(L"Global\\microsip-provisioner-agent-%ls", sid ? sid : run->user);
    str_free(sid);
    HANDLE lock = CreateMutexW(NULL, FALSE, name);
    DWORD error = GetLastError();
    str_free(name);
    if (!lock) {
        WCHAR *words = error_text(error), *why = str_printf(L"cannot take this user's agent lock (%ls)", words);
        str_free(words);
        return why;
    }
    DWORD waited = WaitForSingleObject(lock, run->wait_ms); /* held until the process ends */
    if (waited == WAIT_OBJECT_0 || waited == WAIT_ABANDONED) return NULL;
    return str_printf(L"another provisioner-agent is applying this user's seat (waited %lu ms)", run->wait_ms);
}

int wmain(int argc, WCHAR **argv) {
    Run run;
    ZeroMemory(&run, sizeof run);
    if (!parse_args(argc, argv, &run)) {
        fwprintf(stderr, L"%ls", USAGE);
        return EXIT_BAD_PAYLOAD;
    }
    if (run.help) {
        fwprintf(stdout, L"%ls", USAGE);
        return EXIT_OK;
    }
    defaults(&run);
    if (!run.share) {
        say(L"cannot tell which share this agent is on: pass --share");
        return EXIT_FAILED;
    }
    if (!find_seat(&run)) {
        say(L"no seat for %ls on %ls under %ls: nothing to do", run.user, run.computer, run.share);
        return EXIT_OK;
    }
    WCHAR *busy = lock_user(&run);
    if (busy) return done(&run, EXIT_DEFERRED, L"deferred", L"", joined(busy, str_printf(L"nothing changed"), NULL));
    return seat(&run);
}
