/* The seat's keys in the user's ini, through the profile API MicroSIP itself reads with
   (GetPrivateProfileString, settings.cpp), on a copy that then replaces the ini whole --
   once a copy of that copy, read back from disk, holds every managed key as the seat
   wants it and every other key of the old ini as it was. Wine's WritePrivateProfileStringW
   says TRUE after a write a full disk cut short; the read-back is what tells. */
#include "agent.h"

#include <wchar.h>

/* What the profile API returns for raw text: trimmed, one pair of matching quotes removed. */
static WCHAR *read_back(const WCHAR *raw) {
    while (*raw == L' ' || *raw == L'\t') raw++;
    size_t n = wcslen(raw);
    while (n && (raw[n - 1] == L' ' || raw[n - 1] == L'\t')) n--;
    if (n >= 2 && (raw[0] == L'"' || raw[0] == L'\'') && raw[n - 1] == raw[0]) {
        raw++;
        n -= 2;
    }
    return str_printf(L"%.*ls", (int)n, raw);
}

typedef enum { KEY_MISSING, KEY_EMPTY, KEY_VALUE } Presence;

/* The key's value as the profile API reads it (allocated to fit), and whether it is there. */
static Presence read_key(const WCHAR *ini, const WCHAR *section, const WCHAR *key, WCHAR **value) {
    static const WCHAR missing[] = L"\x01\x02";
    for (DWORD cap = 256;; cap *= 4) {
        WCHAR *buf = (WCHAR *)HeapAlloc(GetProcessHeap(), 0, cap * sizeof(WCHAR));
        if (!buf) return KEY_MISSING;
        DWORD n = GetPrivateProfileStringW(section, key, missing, buf, cap, ini);
        if (n < cap - 1 || cap >= (1u << 22)) {
            BOOL absent = wcscmp(buf, missing) == 0;
            *value = buf;
            return absent ? KEY_MISSING : buf[0] ? KEY_VALUE : KEY_EMPTY;
        }
        str_free(buf);
    }
}

/* Whether every managed key of the seat holds in the ini as the payload wants it. */
BOOL keys_hold(const Payload *p, const WCHAR *ini) {
    if (!file_exists(ini)) return FALSE;
    for (int i = 0; i < p->item_count; i++) {
        const Item *it = &p->items[i];
        WCHAR *have = NULL;
        Presence presence = read_key(ini, it->section, it->key, &have);
        BOOL holds;
        if (wcscmp(it->kind, L"Set") == 0) {
            WCHAR *want = read_back(it->value);
            holds = presence != KEY_MISSING && have && wcscmp(have, want) == 0;
            str_free(want);
        } else if (wcscmp(it->kind, L"Seed") == 0) {
            holds = presence == KEY_VALUE;
        } else {
            holds = presence == KEY_MISSING;
        }
        str_free(have);
        if (!holds) return FALSE;
    }
    return TRUE;
}

static WCHAR *failure(const WCHAR *what, const WCHAR *path, DWORD code) {
    WCHAR *words = error_text(code), *why = str_printf(L"%ls %ls (%ls)", what, path, words);
    str_free(words);
    return why;
}

/* A new ini starts with a BOM and [Settings], as MicroSIP creates one (settings.cpp 202-215), so that
   the profile API writes Unicode into it. */
static BOOL start_ini(const WCHAR *path) {
    static const BYTE first[] = {0xFF, 0xFE, '[', 0, 'S', 0, 'e', 0, 't', 0, 't', 0, 'i', 0, 'n', 0, 'g', 0,
                                 's', 0, ']', 0, '\r', 0, '\n', 0};
    HANDLE h = CreateFileW(path, GENERIC_WRITE, 0, NULL, TRUNCATE_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    DWORD written = 0;
    BOOL ok = h != INVALID_HANDLE_VALUE && WriteFile(h, first, sizeof first, &written, NULL) && written == sizeof first;
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
    return ok;
}

/* The section names of an ini (a double-NUL list, allocated to fit), or NULL. */
WCHAR *section_names(const WCHAR *ini) {
    for (DWORD cap = 4096; cap <= (1u << 24); cap *= 4) {
        WCHAR *names = (WCHAR *)HeapAlloc(GetProcessHeap(), 0, cap * sizeof(WCHAR));
        if (!names) return NULL;
        if (GetPrivateProfileSectionNamesW(names, cap, ini) < cap - 2) return names;
        str_free(names);
    }
    return NULL;
}

/* A section's "key=value" lines (a double-NUL list, allocated to fit), or NULL. */
static WCHAR *section_lines(const WCHAR *ini, const WCHAR *section) {
    for (DWORD cap = 4096; cap <= (1u << 24); cap *= 4) {
        WCHAR *lines = (WCHAR *)HeapAlloc(GetProcessHeap(), 0, cap * sizeof(WCHAR));
        if (!lines) return NULL;
        if (GetPrivateProfileSectionW(section, lines, cap, ini) < cap - 2) return lines;
        str_free(lines);
    }
    return NULL;
}

/* The item managing (section, key), if any (names compare as Windows compares them: ignoring case). */
static const Item *item_for(const Payload *p, const WCHAR *section, const WCHAR *key) {
    for (int i = 0; i < p->item_count; i++)
        if (_wcsicmp(p->items[i].section, section) == 0 && _wcsicmp(p->items[i].key, key) == 0) return &p->items[i];
    return NULL;
}

/* Whether the copy still holds the old ini's value of one key the seat leaves to the user. */
static BOOL kept(const Payload *p, const WCHAR *old, const WCHAR *copy, const WCHAR *section, const WCHAR *key) {
    const Item *it = item_for(p, section, key);
    if (it && wcscmp(it->kind, L"Seed") != 0) return TRUE; /* set or removed: keys_hold checks it */
    WCHAR *was = NULL, *now = NULL;
    Presence before = read_key(old, section, key, &was);
    read_key(copy, section, key, &now);
    BOOL same = (it && before != KEY_VALUE) || (was && now && wcscmp(was, now) == 0);
    str_free(was);
    str_free(now);
    return same;
}

/* Every key of one section of the old ini reads the same in the copy (but those the seat manages). */
static WCHAR *section_kept(const Payload *p, const WCHAR *old, const WCHAR *copy, const WCHAR *section) {
    WCHAR *lines = section_lines(old, section), *why = NULL;
    if (!lines) return str_printf(L"cannot list the keys of [%ls] in %ls", section, old);
    for (WCHAR *line = lines; *line && !why; line += wcslen(line) + 1) {
        WCHAR *eq = wcschr(line, L'=');
        if (eq) *eq = 0;
        if (line[0] && !kept(p, old, copy, section, line))
            why = str_printf(L"the copy of the ini lost [%ls] %ls (a full disk?)", section, line);
    }
    str_free(lines);
    return why;
}

/* Every key of the old ini reads the same in the copy, but for those the seat sets or removes. */
static WCHAR *old_keys_kept(const Payload *p, const WCHAR *old, const WCHAR *copy) {
    WCHAR *names = section_names(old), *why = NULL;
    if (!names) return str_printf(L"cannot list the sections of %ls", old);
    for (WCHAR *section = names; *section && !why; section += wcslen(section) + 1)
        why = section_kept(p, old, copy, section);
    str_free(names);
    return why;
}

/* What is on disk, not what the profile API may keep in memory: a copy of the copy, read back. */
static WCHAR *verify_on_disk(const Payload *p, const WCHAR *ini, const WCHAR *temp) {
    WCHAR *check = unique_temp(ini, L"provisioner-check");
    if (!check) return failure(L"cannot create a copy beside", ini, GetLastError());
    WCHAR *why = NULL;
    if (!CopyFileW(temp, check, FALSE)) why = failure(L"cannot read back the copy of", ini, GetLastError());
    else if (!keys_hold(p, check)) why = str_printf(L"the copy of the ini does not read back as written (a full disk?)");
    else if (file_exists(ini)) why = old_keys_kept(p, ini, check);
    DeleteFileW(check);
    str_free(check);
    return why;
}

static WCHAR *write_keys(const Payload *p, const WCHAR *temp) {
    for (int i = 0; i < p->item_count; i++) {
        const Item *it = &p->items[i];
        BOOL ok = TRUE;
        if (wcscmp(it->kind, L"Set") == 0) {
            ok = WritePrivateProfileStringW(it->section, it->key, it->value, temp);
        } else if (wcscmp(it->kind, L"Seed") == 0) {
            WCHAR *have = NULL;
            if (read_key(temp, it->section, it->key, &have) != KEY_VALUE)
                ok = WritePrivateProfileStringW(it->section, it->key, it->value, temp);
            str_free(have);
        } else {
            ok = WritePrivateProfileStringW(it->section, it->key, NULL, temp);
        }
        if (!ok) {
            WCHAR *words = error_text(GetLastError());
            WCHAR *why = str_printf(L"the profile API refused [%ls] %ls (%ls)", it->section, it->key, words);
            str_free(words);
            return why;
        }
    }
    WritePrivateProfileStringW(NULL, NULL, NULL, temp); /* flush the profile cache */
    return NULL;
}

/* The old ini as the backup; the backup before it stays as <backup>.previous, so that one bad
   ini never takes the place of the only good copy. */
static WCHAR *keep_backup(const WCHAR *ini, const WCHAR *backup) {
    WCHAR *previous = str_printf(L"%ls.previous", backup), *why = NULL;
    if (file_exists(backup) && !MoveFileExW(backup, previous, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
        why = failure(L"cannot keep the previous backup as", previous, GetLastError());
    else if (!CopyFileW(ini, backup, FALSE))
        why = failure(L"cannot keep a backup in", backup, GetLastError());
    str_free(previous);
    return why;
}

/* The copy with every key written and read back from disk, then the old ini kept as the backup. */
static WCHAR *prepare(const Payload *p, const WCHAR *ini, const WCHAR *temp, const WCHAR *backup) {
    BOOL have = file_exists(ini);
    if (have ? !CopyFileW(ini, temp, FALSE) : !start_ini(temp)) return failure(L"cannot copy", ini, GetLastError());
    WCHAR *why = write_keys(p, temp);
    if (!why) why = verify_on_disk(p, ini, temp);
    if (!why && have) why = keep_backup(ini, backup);
    return why;
}

/* Set, seed and remove keys on a copy of the ini, then replace the ini with it; the old ini is kept as the backup. */
WCHAR *apply_keys(const Payload *p, const WCHAR *ini, const WCHAR *backup) {
    WCHAR *temp = unique_temp(ini, L"provisioner-new");
    if (!temp) return failure(L"cannot create a copy beside", ini, GetLastError());
    WCHAR *why = prepare(p, ini, temp, backup);
    if (!why && !MoveFileExW(temp, ini, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
        why = failure(L"cannot replace", ini, GetLastError());
    if (why) DeleteFileW(temp);
    str_free(temp);
    return why;
}
