/* Where MicroSIP reads its ini, decided exactly as MicroSIP decides it.
 *
 * MicroSIP 3.22.3, settings.cpp 86-190 (AccountSettings::Init):
 * - its folder is the exe's, without the trailing backslash (settings.cpp 98);
 * - the "installer path" is the default value of HKCU\Software\MicroSIP, or when that
 *   is empty of HKLM\Software\MicroSIP, read with CRegKey::QueryStringValue into a
 *   256-character buffer and kept as stored (settings.cpp 135-148);
 * - when it is empty or differs from the folder (ignoring case), the first Windows
 *   Installer product named MicroSIP (ignoring case) answers: its InstallLocation
 *   with trailing backslashes trimmed, or the exe's own folder when it has none
 *   (settings.cpp 148-172). 3.19-3.21.3 ask the installer only when the value is
 *   empty, and compare the product's name with case; 3.22.16 never asks it
 *   (AvrumFeldman/microsip-custom settings.cpp, AccountSettings::Init);
 * - installed when that path equals the folder ignoring case: the ini is
 *   %APPDATA%\MicroSIP\<exe stem>.ini, %APPDATA% being what the shell answers for
 *   CSIDL_APPDATA (SHGetSpecialFolderPath, settings.cpp 109-117), never the APPDATA
 *   variable; otherwise the ini beside the exe (portable).
 * The registry is read in the view of MicroSIP's own bitness: a 32-bit MicroSIP on
 * 64-bit Windows sees HKLM\Software\WOW6432Node. The agent reads the exe's PE header;
 * when it cannot, it takes the shipped build's, which is 32-bit: mainDlg.h 32 links
 * libpjproject-i386-Win32-vc14-Release-Static.lib whatever the platform.
 */
#include "agent.h"

#include <initguid.h>
#include <knownfolders.h>
#include <msi.h>
#include <shlobj.h>
#include <strsafe.h>
#include <wchar.h>

typedef enum { MSI_NEVER, MSI_WHEN_EMPTY, MSI_WHEN_EMPTY_OR_OTHER } MsiRule;

typedef struct {
    MsiRule msi;
    BOOL name_ignoring_case;
} Rule;

WCHAR *exe_path(const Payload *p) {
    return str_printf(L"%ls\\%ls", p->folder, p->exe);
}

/* KEY_WOW64_32KEY unless the exe's PE header (in its first 4 KB) says x64 or ARM64. */
static REGSAM registry_view(const WCHAR *exe) {
    BYTE head[4096];
    DWORD size = 0;
    HANDLE h = CreateFileW(exe, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) return KEY_WOW64_32KEY;
    BOOL read = ReadFile(h, head, sizeof head, &size, NULL);
    CloseHandle(h);
    if (!read || size < 0x40) return KEY_WOW64_32KEY;
    DWORD pe = *(DWORD *)(head + 0x3C);
    if (pe > size - 6 || memcmp(head + pe, "PE\0\0", 4) != 0) return KEY_WOW64_32KEY;
    WORD machine = *(WORD *)(head + pe + 4);
    return machine == IMAGE_FILE_MACHINE_AMD64 || machine == 0xAA64 ? KEY_WOW64_64KEY : KEY_WOW64_32KEY;
}

/* The default value as CRegKey::QueryStringValue leaves it in MicroSIP's 256-character buffer. */
static void installer_value(HKEY root, REGSAM view, WCHAR out[257]) {
    HKEY key;
    out[0] = 0;
    if (RegOpenKeyExW(root, L"Software\\MicroSIP", 0, KEY_READ | view, &key) != ERROR_SUCCESS) return;
    WCHAR value[257] = {0};
    DWORD type = 0, bytes = 256 * sizeof(WCHAR);
    LONG r = RegQueryValueExW(key, NULL, NULL, &type, (BYTE *)value, &bytes);
    RegCloseKey(key);
    if (r == ERROR_SUCCESS) lstrcpynW(out, value, 257); /* whatever the type: the buffer holds the bytes */
}

static void msi_answer(WCHAR path[257], const WCHAR *folder, BOOL ignoring_case) {
    WCHAR product[39];
    for (DWORD i = 0; MsiEnumProductsW(i, product) == ERROR_SUCCESS; i++) {
        WCHAR value[256];
        DWORD cch = 256;
        if (MsiGetProductInfoW(product, L"InstalledProductName", value, &cch) != ERROR_SUCCESS) continue;
        if (ignoring_case ? !equal_ignoring_case(value, L"MicroSIP") : wcscmp(value, L"MicroSIP") != 0) continue;
        cch = 256;
        if (MsiGetProductInfoW(product, L"InstallLocation", value, &cch) == ERROR_SUCCESS) lstrcpynW(path, value, 257);
        if (path[0]) {
            size_t n = wcslen(path);
            while (n && path[n - 1] == L'\\') path[--n] = 0;
        } else {
            lstrcpynW(path, folder, 257);
        }
        return;
    }
}

static BOOL installed_by(Rule rule, const WCHAR *registered, const WCHAR *folder) {
    WCHAR path[257];
    lstrcpynW(path, registered, 257);
    BOOL differs = !path[0] || !equal_ignoring_case(path, folder);
    if ((rule.msi == MSI_WHEN_EMPTY && !path[0]) || (rule.msi == MSI_WHEN_EMPTY_OR_OTHER && differs))
        msi_answer(path, folder, rule.name_ignoring_case);
    return path[0] && equal_ignoring_case(path, folder);
}

/* The rules of every release the fleet's `microsip:` may be ("3.21" is 3.21.0 to 3.21.99). 3.21.6
   added the "or other" step and 3.22.16 has none (the reference's section 8; nobody has read
   3.22.4 to 3.22.15, so both rules stand for them). */
static int version_rules(const WCHAR *version, Rule out[3]) {
    int major = 3, minor = 22, patch = -1;
    swscanf(version, L"%d.%d.%d", &major, &minor, &patch);
    long base = major * 10000L + minor * 100L;
    long lo = base + (patch < 0 ? 0 : patch), hi = base + (patch < 0 ? 99 : patch);
    int n = 0;
    if (lo < 32106) out[n++] = (Rule){MSI_WHEN_EMPTY, lo >= 32100};
    if (hi >= 32106 && lo <= 32215) out[n++] = (Rule){MSI_WHEN_EMPTY_OR_OTHER, TRUE};
    if (hi >= 32204) out[n++] = (Rule){MSI_NEVER, TRUE};
    return n;
}

/* The exe's own release from its version resource (MicroSIP's main.rc FILEVERSION), as "3.22.3". */
static BOOL exe_release(const WCHAR *exe, WCHAR out[32]) {
    DWORD ignored = 0, size = GetFileVersionInfoSizeW(exe, &ignored);
    BYTE *info = size ? (BYTE *)HeapAlloc(GetProcessHeap(), 0, size) : NULL;
    VS_FIXEDFILEINFO *fixed = NULL;
    UINT len = 0;
    BOOL ok = info && GetFileVersionInfoW(exe, 0, size, info) && VerQueryValueW(info, L"\\", (void **)&fixed, &len) &&
              fixed && len >= sizeof *fixed && HIWORD(fixed->dwFileVersionMS) > 0;
    ok = ok && SUCCEEDED(StringCchPrintfW(out, 32, L"%u.%u.%u", HIWORD(fixed->dwFileVersionMS),
                                          LOWORD(fixed->dwFileVersionMS), HIWORD(fixed->dwFileVersionLS)));
    str_free(info);
    return ok;
}

static WCHAR *roaming_folder(void) {
    PWSTR known = NULL;
    if (SHGetKnownFolderPath(&FOLDERID_RoamingAppData, KF_FLAG_DONT_VERIFY, NULL, &known) != S_OK) return NULL;
    WCHAR *out = str_printf(L"%ls", known);
    CoTaskMemFree(known);
    return out;
}

/* Installed (or not) by every rule the release may follow; *undecided when they differ. */
static BOOL installed_by_release(const Payload *p, const WCHAR *version, const WCHAR *registered, Location *out) {
    Rule rules[3];
    int count = version_rules(version, rules);
    BOOL installed = installed_by(rules[0], registered, p->folder);
    for (int i = 1; i < count && !out->undecided; i++)
        if (installed_by(rules[i], registered, p->folder) != installed)
            out->undecided = str_printf(L"MicroSIP %ls releases differ on whether %ls is its installed copy (a Windows "
                                        L"Installer product named MicroSIP is registered) and %ls has no version "
                                        L"resource to tell the release by",
                                        version, p->folder, p->exe);
    return installed;
}

/* Why MicroSIP reads elsewhere than the seat's install mode says, or NULL. */
static WCHAR *mode_note(const Payload *p, const Location *out, const WCHAR *registered) {
    const WCHAR *shown = registered[0] ? registered : L"none";
    if (out->installed && wcscmp(p->mode, L"portable") == 0)
        return str_printf(L"%ls is the registered install (%ls): MicroSIP reads %ls, not the ini beside the exe",
                          p->folder, shown, out->ini);
    if (!out->installed && wcscmp(p->mode, L"installed") == 0)
        return str_printf(L"MicroSIP at %ls is not the registered install (%ls): it runs portable and reads %ls",
                          p->folder, shown, out->ini);
    return NULL;
}

const WCHAR *locate(const Payload *p, Location *out) {
    ZeroMemory(out, sizeof *out);
    WCHAR *exe = exe_path(p), release[32], registered[257];
    REGSAM view = registry_view(exe);
    BOOL known = exe_release(exe, release);
    str_free(exe);
    installer_value(HKEY_CURRENT_USER, view, registered);
    if (!registered[0]) installer_value(HKEY_LOCAL_MACHINE, view, registered);
    const WCHAR *version = known ? release : p->microsip && p->microsip[0] ? p->microsip : L"3.22";
    out->installed = installed_by_release(p, version, registered, out);
    if (out->installed) {
        WCHAR *roaming = roaming_folder();
        if (!roaming) return L"Windows does not say where this user's roaming AppData folder is";
        out->dir = str_printf(L"%ls\\MicroSIP", roaming);
        str_free(roaming);
    } else {
        out->dir = str_printf(L"%ls", p->folder);
    }
    out->ini = str_printf(L"%ls\\%ls", out->dir, p->ini);
    out->note = mode_note(p, out, registered);
    return NULL;
}
