/* Strings sized to fit what they hold, Windows' words for an error, and the agent's log.
   Nothing here cuts a string short: a string is allocated to its length, and running
   out of memory ends the agent (exit 3) before anything is half done. */
#include "agent.h"

#include <stdio.h>
#include <strsafe.h>
#include <wchar.h>

static WCHAR *g_log_path;

void out_of_memory(void) {
    fwprintf(stderr, L"provisioner-agent: out of memory; nothing more is changed\n");
    ExitProcess(EXIT_FAILED);
}

WCHAR *str_vprintf(const WCHAR *format, va_list ap) {
    va_list count;
    va_copy(count, ap);
    int chars = _vscwprintf(format, count);
    va_end(count);
    if (chars < 0) chars = 0;
    size_t cap = (size_t)chars + 1;
    WCHAR *out = (WCHAR *)HeapAlloc(GetProcessHeap(), 0, cap * sizeof(WCHAR));
    if (!out) out_of_memory();
    if (FAILED(StringCchVPrintfW(out, cap, format, ap))) {
        /* the length was measured just before: a failure here is a bug, never a cut string */
        fwprintf(stderr, L"provisioner-agent: a message did not fit the space measured for it\n");
        ExitProcess(EXIT_FAILED);
    }
    return out;
}

WCHAR *str_printf(const WCHAR *format, ...) {
    va_list ap;
    va_start(ap, format);
    WCHAR *out = str_vprintf(format, ap);
    va_end(ap);
    return out;
}

void str_free(void *text) {
    if (text) HeapFree(GetProcessHeap(), 0, text);
}

WCHAR *error_text(DWORD code) {
    WCHAR *words = NULL;
    DWORD n = FormatMessageW(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                             NULL, code, 0, (LPWSTR)&words, 0, NULL);
    while (n && (words[n - 1] == L'\r' || words[n - 1] == L'\n' || words[n - 1] == L' ' || words[n - 1] == L'.'))
        words[--n] = 0;
    WCHAR *out = n ? str_printf(L"%ls (error %lu)", words, code) : str_printf(L"error %lu", code);
    if (words) LocalFree(words);
    return out;
}

void set_log(const WCHAR *path) {
    g_log_path = path ? str_printf(L"%ls", path) : NULL;
}

static void append_log(const WCHAR *line) {
    if (!g_log_path) return;
    HANDLE h = CreateFileW(g_log_path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) return;
    SYSTEMTIME t;
    GetSystemTime(&t);
    WCHAR *stamped = str_printf(L"%04u-%02u-%02uT%02u:%02u:%02uZ %ls\r\n", t.wYear, t.wMonth, t.wDay, t.wHour,
                                t.wMinute, t.wSecond, line);
    int bytes = WideCharToMultiByte(CP_UTF8, 0, stamped, -1, NULL, 0, NULL, NULL);
    char *utf8 = bytes > 0 ? (char *)HeapAlloc(GetProcessHeap(), 0, (SIZE_T)bytes) : NULL;
    DWORD written;
    if (utf8 && WideCharToMultiByte(CP_UTF8, 0, stamped, -1, utf8, bytes, NULL, NULL) > 1)
        WriteFile(h, utf8, (DWORD)(bytes - 1), &written, NULL);
    str_free(utf8);
    str_free(stamped);
    CloseHandle(h);
}

void say(const WCHAR *format, ...) {
    va_list ap;
    va_start(ap, format);
    WCHAR *line = str_vprintf(format, ap);
    va_end(ap);
    fwprintf(stderr, L"%ls\n", line);
    append_log(line);
    str_free(line);
}

/* A file name with no folder in it: nothing a payload could use to reach elsewhere. */
BOOL is_plain_name(const WCHAR *name) {
    size_t n = name ? wcslen(name) : 0;
    if (n == 0 || n > MAX_NAME_CHARS || name[n - 1] == L'.' || name[n - 1] == L' ') return FALSE; /* "." and ".." too */
    for (const WCHAR *c = name; *c; c++)
        if (*c < 0x20 || wcschr(L"\\/:*?\"<>|", *c)) return FALSE;
    return TRUE;
}

BOOL equal_ignoring_case(const WCHAR *a, const WCHAR *b) {
    return CompareStringOrdinal(a, -1, b, -1, TRUE) == CSTR_EQUAL;
}
