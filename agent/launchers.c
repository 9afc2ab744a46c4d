/* The seat's launchers, placed in the user's real Desktop, Start Menu and Startup
   folders (SHGetKnownFolderPath: redirected and OneDrive folders work); a launcher
   already there is replaced only when this agent placed it. */
#include "agent.h"

#include <knownfolders.h>
#include <shlobj.h>
#include <wchar.h>

static const KNOWNFOLDERID *place_folder(const WCHAR *place, size_t n) {
    if (n == 7 && wcsncmp(place, L"desktop", 7) == 0) return &FOLDERID_Desktop;
    if (n == 10 && wcsncmp(place, L"start_menu", 10) == 0) return &FOLDERID_Programs;
    if (n == 7 && wcsncmp(place, L"startup", 7) == 0) return &FOLDERID_Startup;
    return NULL;
}

/* One launcher in one place; FALSE when it could not be placed. */
static BOOL place_one(const Launcher *l, const WCHAR *place, size_t n, const BYTE *data, DWORD size,
                      const WCHAR *sum, const WCHAR *state) {
    const KNOWNFOLDERID *id = place_folder(place, n);
    PWSTR folder = NULL;
    if (!id || SHGetKnownFolderPath(id, KF_FLAG_CREATE, NULL, &folder) != S_OK) {
        say(L"warning: Windows does not say where %.*ls is for this user", (int)n, place);
        return FALSE;
    }
    WCHAR *dest = str_printf(L"%ls\\%ls", folder, l->name), *key = str_printf(L"%.*ls|%ls", (int)n, place, l->name);
    CoTaskMemFree(folder);
    WCHAR placed[65] = L"", have_sum[65] = L"";
    GetPrivateProfileStringW(L"launchers", key, L"", placed, 65, state);
    DWORD have_size = 0, error = 0;
    BYTE *have = read_whole(dest, MAX_FILE_BYTES, &have_size, &error);
    if (have) sha256_hex(have, have_size, have_sum);
    str_free(have);
    BOOL ok = TRUE;
    if (have && wcscmp(have_sum, sum) == 0) {
        WritePrivateProfileStringW(L"launchers", key, sum, state);
    } else if (have && wcscmp(have_sum, placed) != 0) {
        say(L"left %ls as it is: not a launcher this agent placed", dest);
    } else if (replace_whole(dest, data, size, &error)) {
        WritePrivateProfileStringW(L"launchers", key, sum, state);
    } else {
        WCHAR *words = error_text(error);
        say(L"warning: cannot place %ls (%ls)", dest, words);
        str_free(words);
        ok = FALSE;
    }
    str_free(dest);
    str_free(key);
    return ok;
}

/* Every launcher in every place it names; returns how many could not be placed. */
int place_launchers(const Payload *p, const WCHAR *seat_dir, const WCHAR *state) {
    int problems = 0;
    for (int i = 0; i < p->launcher_count; i++) {
        const Launcher *l = &p->launchers[i];
        WCHAR *source = str_printf(L"%ls\\%ls", seat_dir, l->name);
        DWORD size = 0, error = 0;
        BYTE *data = read_whole(source, MAX_FILE_BYTES, &size, &error);
        str_free(source);
        if (!data) {
            problems++;
            continue;
        }
        WCHAR sum[65];
        sha256_hex(data, size, sum);
        for (const WCHAR *place = l->places; *place;) {
            while (*place == L' ') place++;
            size_t n = wcscspn(place, L" ");
            if (n && !place_one(l, place, n, data, size, sum, state)) problems++;
            place += n;
        }
        str_free(data);
    }
    return problems;
}
