/* Whole files: read within a limit, replaced atomically, hashed. */
#include "agent.h"

#include <bcrypt.h>
#include <wchar.h>

BOOL file_exists(const WCHAR *path) {
    DWORD a = GetFileAttributesW(path);
    return a != INVALID_FILE_ATTRIBUTES && !(a & FILE_ATTRIBUTE_DIRECTORY);
}

/* All `want` bytes of an open file, or FALSE with the reason in *error. */
static BOOL read_all(HANDLE h, BYTE *buf, DWORD want, DWORD *error) {
    DWORD total = 0, got = 0;
    while (total < want) {
        if (!ReadFile(h, buf + total, want - total, &got, NULL)) {
            *error = GetLastError();
            return FALSE;
        }
        if (got == 0) {
            *error = ERROR_HANDLE_EOF;
            return FALSE;
        }
        total += got;
    }
    return TRUE;
}

/* The file's bytes (two zero bytes after them) or NULL with the reason in *error. */
BYTE *read_whole(const WCHAR *path, DWORD limit, DWORD *size, DWORD *error) {
    HANDLE h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        *error = GetLastError();
        return NULL;
    }
    LARGE_INTEGER len;
    BYTE *buf = NULL;
    if (!GetFileSizeEx(h, &len)) *error = GetLastError();
    else if (len.QuadPart > limit) *error = ERROR_FILE_TOO_LARGE;
    else if (!(buf = (BYTE *)HeapAlloc(GetProcessHeap(), 0, (SIZE_T)len.QuadPart + 2))) *error = ERROR_NOT_ENOUGH_MEMORY;
    else if (!read_all(h, buf, (DWORD)len.QuadPart, error)) buf = (str_free(buf), NULL);
    CloseHandle(h);
    if (!buf) return NULL;
    buf[len.QuadPart] = buf[len.QuadPart + 1] = 0;
    *size = (DWORD)len.QuadPart;
    return buf;
}

static volatile LONG g_temp_count;

WCHAR *unique_temp(const WCHAR *path, const WCHAR *tag) {
    for (int tries = 0; tries < 100; tries++) {
        LONG n = InterlockedIncrement(&g_temp_count);
        WCHAR *temp = str_printf(L"%ls.%lu-%ld.%ls", path, GetCurrentProcessId(), n, tag);
        HANDLE h = CreateFileW(temp, GENERIC_WRITE, 0, NULL, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, NULL);
        if (h != INVALID_HANDLE_VALUE) {
            CloseHandle(h);
            return temp;
        }
        DWORD error = GetLastError();
        str_free(temp);
        if (error != ERROR_FILE_EXISTS && error != ERROR_ALREADY_EXISTS) {
            SetLastError(error);
            return NULL;
        }
    }
    return NULL;
}

/* Write a whole copy beside the file, then move it over the file with write-through: old or new, never torn. */
BOOL replace_whole(const WCHAR *path, const BYTE *data, DWORD size, DWORD *error) {
    WCHAR *temp = unique_temp(path, L"provisioner-tmp");
    if (!temp) {
        *error = GetLastError();
        return FALSE;
    }
    HANDLE h = CreateFileW(temp, GENERIC_WRITE, 0, NULL, TRUNCATE_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    DWORD written = 0;
    BOOL ok = h != INVALID_HANDLE_VALUE && WriteFile(h, data, size, &written, NULL) && written == size &&
              FlushFileBuffers(h);
    *error = ok ? ERROR_SUCCESS : GetLastError();
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
    if (ok && !MoveFileExW(temp, path, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
        ok = FALSE;
        *error = GetLastError();
    }
    if (!ok) DeleteFileW(temp);
    str_free(temp);
    return ok;
}

void sha256_hex(const BYTE *data, DWORD size, WCHAR out[65]) {
    BCRYPT_ALG_HANDLE alg = NULL;
    BCRYPT_HASH_HANDLE hash = NULL;
    BYTE digest[32];
    static const WCHAR hex[] = L"0123456789abcdef";
    out[0] = 0;
    if (BCryptOpenAlgorithmProvider(&alg, BCRYPT_SHA256_ALGORITHM, NULL, 0) != 0) return;
    if (BCryptCreateHash(alg, &hash, NULL, 0, NULL, 0, 0) == 0) {
        if (BCryptHashData(hash, (PUCHAR)data, size, 0) == 0 && BCryptFinishHash(hash, digest, 32, 0) == 0) {
            for (int i = 0; i < 32; i++) {
                out[2 * i] = hex[digest[i] >> 4];
                out[2 * i + 1] = hex[digest[i] & 15];
            }
            out[64] = 0;
        }
        BCryptDestroyHash(hash);
    }
    BCryptCloseAlgorithmProvider(alg, 0);
}
