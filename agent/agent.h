/* provisioner-agent: what the parts of the agent share. */
#ifndef AGENT_H
#define AGENT_H

#define WIN32_LEAN_AND_MEAN
#define _WIN32_WINNT 0x0601
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <stdarg.h>

#define AGENT_VERSION L"2"

/* The payload's limits. provisioner/agent_limits.py holds the same numbers (a test
   compares them with these lines) and `publish` refuses a seat beyond them. */
#define MAX_PAYLOAD_BYTES (1024 * 1024)   /* seat.ini */
#define MAX_FILE_BYTES (16 * 1024 * 1024) /* a launcher, Contacts.xml (the user's too) */
#define MAX_KEYS 4096                      /* Set, Seed and Remove lines together */
#define MAX_LAUNCHERS 16
#define MAX_FILES 32
#define MAX_NAME_CHARS 255     /* a file name: the exe, the ini, a launcher */
#define MAX_EXE_PATH_CHARS 259 /* MicroSIP reads its own path into MAX_PATH (settings.cpp 94) */

#define EXIT_OK 0
#define EXIT_DEFERRED 1
#define EXIT_BAD_PAYLOAD 2
#define EXIT_FAILED 3

/* ---- text.c: strings sized to fit, messages, the log ---- */
void out_of_memory(void); /* says so and ends the agent (exit 3) before anything is half done */
WCHAR *str_printf(const WCHAR *format, ...);
WCHAR *str_vprintf(const WCHAR *format, va_list ap);
void str_free(void *text);
WCHAR *error_text(DWORD code); /* FormatMessageW's words and the code */
void say(const WCHAR *format, ...);
void set_log(const WCHAR *path);
BOOL is_plain_name(const WCHAR *name);
BOOL equal_ignoring_case(const WCHAR *a, const WCHAR *b);

/* ---- files.c: whole files, atomic replacement, SHA-256 ---- */
BYTE *read_whole(const WCHAR *path, DWORD limit, DWORD *size, DWORD *error);
BOOL replace_whole(const WCHAR *path, const BYTE *data, DWORD size, DWORD *error);
WCHAR *unique_temp(const WCHAR *path, const WCHAR *tag); /* path.<pid>-<n>.<tag>, created empty with CREATE_NEW */
void sha256_hex(const BYTE *data, DWORD size, WCHAR out[65]);
BOOL file_exists(const WCHAR *path);

/* ---- payload.c ---- */
typedef struct {
    const WCHAR *kind; /* Set, Seed or Remove */
    const WCHAR *section, *key, *value;
} Item;

typedef struct {
    const WCHAR *name, *places;
} Launcher;

typedef struct {
    const WCHAR *name, *sha256;
} FileSum;

typedef struct {
    const WCHAR *format, *seat, *user, *computer, *generation, *exe, *folder, *mode, *ini, *microsip, *checksum;
    const WCHAR *contacts; /* merge, replace or NULL */
    Item *items;
    int item_count;
    Launcher launchers[MAX_LAUNCHERS];
    int launcher_count;
    FileSum files[MAX_FILES];
    int file_count;
} Payload;

const WCHAR *payload_parse(BYTE *data, DWORD size, Payload *p);

/* ---- location.c: where MicroSIP reads its ini ---- */
typedef struct {
    WCHAR *dir;       /* the folder of MicroSIP's ini and Contacts.xml */
    WCHAR *ini;       /* dir\<ini name> */
    BOOL installed;   /* %APPDATA%\MicroSIP, else beside the exe */
    WCHAR *note;      /* why that is not what the seat says, or NULL */
    WCHAR *undecided; /* why the agent cannot tell, or NULL */
} Location;

WCHAR *exe_path(const Payload *p);
const WCHAR *locate(const Payload *p, Location *out);

/* ---- running.c: MicroSIP running, in a call, closed and started ---- */
typedef struct {
    HWND window;
    DWORD pid;
    BOOL visible;
    BOOL unknown; /* a MicroSIP window whose process the agent cannot look at */
} Running;

BOOL find_running(const WCHAR *exe, Running *out);
WCHAR *call_in_progress(DWORD pid, const WCHAR *ini); /* why it cannot close MicroSIP, or NULL */
WCHAR *close_running(const Running *running, DWORD wait_ms);
WCHAR *start_again(const WCHAR *exe, const WCHAR *folder, BOOL visible);

/* ---- keys.c ---- */
BOOL keys_hold(const Payload *p, const WCHAR *ini);
WCHAR *section_names(const WCHAR *ini);
WCHAR *apply_keys(const Payload *p, const WCHAR *ini, const WCHAR *backup);

/* ---- contacts.c ---- */
WCHAR *place_contacts(const Payload *p, const WCHAR *seat_dir, const WCHAR *data_dir);

/* ---- launchers.c ---- */
int place_launchers(const Payload *p, const WCHAR *seat_dir, const WCHAR *state);

#endif
