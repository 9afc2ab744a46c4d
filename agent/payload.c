/* seat.ini as `provisioner publish` writes it, read as if hostile: UTF-16LE with a BOM,
   a [Provisioner] header, a blank line, then the body whose length and SHA-256 the
   header gives. Strings point into the decoded text: nothing is copied, nothing cut. */
#include "agent.h"

#include <stddef.h>
#include <wchar.h>
#include <wctype.h>

typedef struct {
    const WCHAR *name;
    size_t offset;
} HeaderField;

static const HeaderField FIELDS[] = {
    {L"format", offsetof(Payload, format)},         {L"seat", offsetof(Payload, seat)},
    {L"user", offsetof(Payload, user)},             {L"computer", offsetof(Payload, computer)},
    {L"generation", offsetof(Payload, generation)}, {L"exe", offsetof(Payload, exe)},
    {L"folder", offsetof(Payload, folder)},         {L"mode", offsetof(Payload, mode)},
    {L"ini", offsetof(Payload, ini)},               {L"microsip", offsetof(Payload, microsip)},
    {L"checksum", offsetof(Payload, checksum)},
};

/* Cut the text at the next CRLF; returns the line after it (or NULL). */
static WCHAR *next_line(WCHAR *line) {
    WCHAR *end = wcsstr(line, L"\r\n");
    if (!end) return NULL;
    end[0] = 0;
    return end + 2;
}

static const WCHAR *header_line(WCHAR *line, Payload *p, long *length) {
    WCHAR *eq = wcschr(line, L'=');
    if (!eq) return line[0] ? L"a header line without '='" : NULL;
    *eq = 0;
    if (wcscmp(line, L"length") == 0) {
        WCHAR *end = NULL;
        *length = wcstol(eq + 1, &end, 10);
        return end && !*end ? NULL : L"a length that is not a number";
    }
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++)
        if (wcscmp(line, FIELDS[i].name) == 0) *(const WCHAR **)((BYTE *)p + FIELDS[i].offset) = eq + 1;
    return NULL;
}

static BOOL is_hex(const WCHAR *text, size_t most) {
    size_t n = text ? wcslen(text) : 0;
    if (n == 0 || n > most) return FALSE;
    for (; *text; text++)
        if (!wcschr(L"0123456789abcdef", *text)) return FALSE;
    return TRUE;
}

static BOOL is_drive_folder(const WCHAR *folder, size_t n) {
    return n >= 3 && iswalpha(folder[0]) && folder[1] == L':' && folder[2] == L'\\';
}

static BOOL is_unc_folder(const WCHAR *folder, size_t n) {
    return n >= 5 && folder[0] == L'\\' && folder[1] == L'\\';
}

/* No control character, none Windows refuses in a path, and ':' only after the drive letter. */
static BOOL path_chars_ok(const WCHAR *folder) {
    for (const WCHAR *c = folder; *c; c++) {
        if (*c < 0x20 || wcschr(L"/*?\"<>|", *c)) return FALSE;
        if (*c == L':' && c != folder + 1) return FALSE;
    }
    return TRUE;
}

/* No "." or ".." between backslashes. */
static BOOL no_dot_parts(const WCHAR *parts) {
    for (const WCHAR *part = parts; *part;) {
        size_t len = wcscspn(part, L"\\");
        BOOL dots = len && len <= 2 && wcsspn(part, L".") == len;
        if (dots) return FALSE;
        part += len;
        if (*part) part++;
    }
    return TRUE;
}

/* An absolute Windows folder (X:\... or \\server\share\...) without . or .. parts or control characters. */
static BOOL is_folder(const WCHAR *folder) {
    size_t n = folder ? wcslen(folder) : 0;
    BOOL drive = is_drive_folder(folder, n), unc = !drive && is_unc_folder(folder, n);
    if (!drive && !unc) return FALSE;
    return path_chars_ok(folder) && no_dot_parts(folder + (unc ? 2 : 3));
}

static BOOL is_checksum(const WCHAR *text) {
    return is_hex(text, 64) && wcslen(text) == 64;
}

static const WCHAR *check_names(const Payload *p) {
    if (!is_plain_name(p->exe) || !is_plain_name(p->ini)) return L"exe or ini is not a plain file name";
    if (!is_folder(p->folder)) return L"folder is not an absolute Windows folder";
    if (wcslen(p->folder) + 1 + wcslen(p->exe) > MAX_EXE_PATH_CHARS) return L"the exe's path is longer than MicroSIP reads";
    return NULL;
}

static BOOL one_of(const WCHAR *value, const WCHAR *a, const WCHAR *b) {
    return value && (wcscmp(value, a) == 0 || wcscmp(value, b) == 0);
}

static BOOL has_fields(const Payload *p) {
    const WCHAR *needed[] = {p->exe, p->ini, p->generation, p->folder, p->mode};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
        if (!needed[i]) return FALSE;
    return TRUE;
}

static const WCHAR *check_header(const Payload *p) {
    if (!one_of(p->format, L"1", L"2"))
        return L"a payload format this agent does not know (publish with the same provisioner as the agent)";
    if (!has_fields(p)) return L"the header lacks exe, folder, mode, ini or generation";
    const WCHAR *bad = check_names(p);
    if (bad) return bad;
    if (!one_of(p->mode, L"installed", L"portable")) return L"mode is neither installed nor portable";
    if (!is_hex(p->generation, 64) || !is_checksum(p->checksum)) return L"generation or checksum is not hexadecimal";
    return NULL;
}

static const WCHAR *key_line(Payload *p, const WCHAR *kind, const WCHAR *section, WCHAR *key, WCHAR *value) {
    if (!key[0] || key[0] == L'[' || key[0] == L';') return L"an empty or malformed key";
    if (p->item_count == MAX_KEYS) return L"more keys than the agent holds (see MAX_KEYS)";
    Item *it = &p->items[p->item_count++];
    it->kind = kind;
    it->section = section;
    it->key = key;
    it->value = value;
    return NULL;
}

static BOOL places_known(const WCHAR *places) {
    for (const WCHAR *word = places; *word;) {
        while (*word == L' ') word++;
        if (!*word) break;
        size_t n = wcscspn(word, L" ");
        if (!(n == 7 && wcsncmp(word, L"desktop", 7) == 0) && !(n == 10 && wcsncmp(word, L"start_menu", 10) == 0) &&
            !(n == 7 && wcsncmp(word, L"startup", 7) == 0))
            return FALSE;
        word += n;
    }
    return TRUE;
}

static const WCHAR *launcher_line(Payload *p, const WCHAR *name, const WCHAR *places) {
    if (p->launcher_count == MAX_LAUNCHERS) return L"more launchers than the agent holds";
    if (!is_plain_name(name) || !places_known(places)) return L"a launcher name or place the agent does not accept";
    p->launchers[p->launcher_count].name = name;
    p->launchers[p->launcher_count++].places = places;
    return NULL;
}

static const WCHAR *file_line(Payload *p, const WCHAR *name, const WCHAR *sum) {
    if (p->file_count == MAX_FILES) return L"more files than the agent holds";
    if (!is_plain_name(name) || !is_checksum(sum)) return L"a malformed [Files] line";
    p->files[p->file_count].name = name;
    p->files[p->file_count++].sha256 = sum;
    return NULL;
}

static const WCHAR *other_line(Payload *p, const WCHAR *section, WCHAR *key, WCHAR *value) {
    if (wcscmp(section, L"Launchers") == 0) return launcher_line(p, key, value);
    if (wcscmp(section, L"Files") == 0) return file_line(p, key, value);
    if (wcscmp(section, L"Contacts") != 0 || wcscmp(key, L"mode") != 0) return NULL;
    if (!one_of(value, L"merge", L"replace")) return L"a phonebook mode the agent does not know";
    p->contacts = value;
    return NULL;
}

/* "[Set Account1]" -> kind "Set", section "Account1" (both cut in place). */
static const WCHAR *section_line(WCHAR *line, const WCHAR **kind, const WCHAR **section) {
    WCHAR *end = wcschr(line, L']');
    if (!end || end[1]) return L"a malformed section line";
    *end = 0;
    WCHAR *name = line + 1, *space = wcschr(name, L' ');
    *kind = NULL;
    *section = name;
    if (space && (wcsncmp(name, L"Set ", 4) == 0 || wcsncmp(name, L"Seed ", 5) == 0 || wcsncmp(name, L"Remove ", 7) == 0)) {
        *space = 0;
        *kind = name;
        *section = space + 1;
    }
    return (*section)[0] ? NULL : L"an empty section name";
}

static const WCHAR *parse_body(WCHAR *body, Payload *p) {
    const WCHAR *kind = NULL, *section = NULL;
    for (WCHAR *line = body, *next; line && *line; line = next) {
        next = next_line(line);
        if (!next) return L"the body does not end with a line break";
        const WCHAR *bad = NULL;
        if (line[0] == L'[') {
            bad = section_line(line, &kind, &section);
        } else {
            WCHAR *eq = wcschr(line, L'=');
            if (!eq || !section) return L"a body line outside a section or without '='";
            *eq = 0;
            bad = kind ? key_line(p, kind, section, line, eq + 1) : other_line(p, section, line, eq + 1);
        }
        if (bad) return bad;
    }
    return NULL;
}

/* The header lines, then the body's length and checksum against what the header says. */
static const WCHAR *parse_header(WCHAR *lines, const WCHAR *sum, DWORD body_bytes, Payload *p) {
    long length = -1;
    for (WCHAR *line = lines, *next; line && *line; line = next) {
        next = next_line(line);
        const WCHAR *bad = header_line(line, p, &length);
        if (bad) return bad;
    }
    if (length != (long)body_bytes) return L"the payload is cut short or padded (length differs)";
    if (!p->checksum || wcscmp(sum, p->checksum) != 0) return L"checksum mismatch (damaged or half-copied)";
    return check_header(p);
}

/* Room for one Item a body line (at most MAX_KEYS). */
static BOOL make_items(const WCHAR *body, Payload *p) {
    size_t lines = 0;
    for (const WCHAR *c = body; (c = wcsstr(c, L"\r\n")) != NULL; c += 2) lines++;
    size_t count = (lines < MAX_KEYS ? lines : MAX_KEYS) + 1;
    p->items = (Item *)HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, count * sizeof(Item));
    return p->items != NULL;
}

/* Check and parse a payload: BOM, header, body length and SHA-256, then every line. NULL when good. */
const WCHAR *payload_parse(BYTE *data, DWORD size, Payload *p) {
    ZeroMemory(p, sizeof *p);
    if (size < 4 || size % 2 || data[0] != 0xFF || data[1] != 0xFE) return L"not UTF-16LE with a BOM";
    WCHAR *text = (WCHAR *)(data + 2);
    DWORD chars = (size - 2) / 2;
    text[chars] = 0; /* read_whole left two zero bytes after the data */
    if (wcslen(text) != chars) return L"a NUL character in the payload";
    WCHAR *sep = wcsstr(text, L"\r\n\r\n");
    if (!sep || wcsncmp(text, L"[Provisioner]\r\n", 15) != 0) return L"no [Provisioner] header";
    WCHAR *body = sep + 4, sum[65];
    DWORD body_bytes = (DWORD)((chars - (DWORD)(body - text)) * sizeof(WCHAR));
    sha256_hex((BYTE *)body, body_bytes, sum);
    sep[2] = 0;
    const WCHAR *bad = parse_header(text + 15, sum, body_bytes, p);
    if (bad) return bad;
    if (!make_items(body, p)) return L"out of memory";
    return parse_body(body, p);
}
