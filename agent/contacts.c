/* Contacts.xml, merged by apply's rule (provisioner/plan.py plan_contacts): each fleet
 * contact updates the user's first contact with its number, attribute by attribute
 * (the user's other attributes, `starred` among them, stay), or is added at the end;
 * the user's own contacts stay as they are; `replace` makes the file the fleet's list.
 * The result is written as provisioner/phonebook.py writes it, byte for byte.
 *
 * MicroSIP's phonebook is a flat document: <contacts> holding <contact .../> elements
 * (Contacts.cpp). This reads exactly that, as an XML parser would, every scan bounded
 * by the file's length; anything else -- another element, text, a DOCTYPE, an encoding
 * other than UTF-8, bytes that are not UTF-8 -- is a phonebook the agent cannot merge,
 * and it leaves it as it is.
 */
#include "agent.h"

#include <ctype.h>
#include <string.h>

typedef struct {
    char *name, *value; /* decoded UTF-8 */
} Attr;

typedef struct {
    Attr *attrs;
    int count, cap;
} Contact;

typedef struct {
    Contact *items;
    int count, cap;
} Book;

typedef struct {
    const char *at, *end;
    const char *error;
} Reader;

static void *grow(void *block, int *cap, int count, size_t size) {
    if (count < *cap) return block;
    int wanted = *cap ? *cap * 2 : 8;
    void *bigger = block ? HeapReAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, block, (SIZE_T)wanted * size)
                         : HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, (SIZE_T)wanted * size);
    if (!bigger) out_of_memory();
    *cap = wanted;
    return bigger;
}

static BOOL starts(const Reader *r, const char *text) {
    size_t n = strlen(text);
    return (size_t)(r->end - r->at) >= n && memcmp(r->at, text, n) == 0;
}

static BOOL fail(Reader *r, const char *why) {
    if (!r->error) r->error = why;
    return FALSE;
}

static void skip_space(Reader *r) {
    while (r->at < r->end && (*r->at == ' ' || *r->at == '\t' || *r->at == '\r' || *r->at == '\n')) r->at++;
}

/* Past the next `close` (bounded by the end). */
static BOOL skip_past(Reader *r, const char *close) {
    size_t n = strlen(close);
    for (const char *c = r->at; c + n <= r->end; c++)
        if (memcmp(c, close, n) == 0) {
            r->at = c + n;
            return TRUE;
        }
    return fail(r, "an unterminated comment or declaration");
}

/* The encoding a declaration names is UTF-8 (or none is named). */
static BOOL names_utf8(const char *value, const char *to) {
    if (value < to && (*value == '"' || *value == '\'')) value++;
    if ((size_t)(to - value) < 6 || _strnicmp(value, "utf-8", 5) != 0) return FALSE;
    return value[5] == '"' || value[5] == '\'';
}

static BOOL declares_other_encoding(const char *from, const char *to) {
    for (const char *c = from; c + 9 <= to; c++) {
        if (memcmp(c, "encoding", 8) != 0) continue;
        const char *q = c + 8;
        while (q < to && (*q == ' ' || *q == '=')) q++;
        return !names_utf8(q, to);
    }
    return FALSE;
}

/* Whitespace, comments and processing instructions between elements. */
static BOOL skip_misc(Reader *r) {
    for (;;) {
        skip_space(r);
        if (starts(r, "<?")) {
            const char *from = r->at;
            if (!skip_past(r, "?>")) return FALSE;
            if (declares_other_encoding(from, r->at)) return fail(r, "an encoding other than UTF-8");
        } else if (starts(r, "<!--")) {
            if (!skip_past(r, "-->")) return FALSE;
        } else if (starts(r, "<!")) {
            return fail(r, "a DOCTYPE");
        } else {
            return TRUE;
        }
    }
}

static BOOL name_char(unsigned char c, BOOL first) {
    if (isalpha(c) || c == '_' || c == ':' || c >= 0x80) return TRUE;
    return !first && (isdigit(c) || c == '.' || c == '-');
}

static void put_utf8(char **w, unsigned long cp) {
    char *o = *w;
    if (cp < 0x80) *o++ = (char)cp;
    else if (cp < 0x800) { *o++ = (char)(0xC0 | (cp >> 6)); *o++ = (char)(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) { *o++ = (char)(0xE0 | (cp >> 12)); *o++ = (char)(0x80 | ((cp >> 6) & 0x3F)); *o++ = (char)(0x80 | (cp & 0x3F)); }
    else { *o++ = (char)(0xF0 | (cp >> 18)); *o++ = (char)(0x80 | ((cp >> 12) & 0x3F)); *o++ = (char)(0x80 | ((cp >> 6) & 0x3F)); *o++ = (char)(0x80 | (cp & 0x3F)); }
    *w = o;
}

static int digit_value(char c, BOOL hex) {
    if (c >= '0' && c <= '9') return c - '0';
    int lower = c | 32;
    return hex && lower >= 'a' && lower <= 'f' ? lower - 'a' + 10 : -1;
}

/* A character XML 1.0 allows (section 2.2). */
static BOOL allowed_char(unsigned long cp) {
    if (cp < 0x20) return cp == '\t' || cp == '\n' || cp == '\r';
    return cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
}

/* The digits of a character reference up to ';' (at most eight); -1 when malformed. */
static long reference_number(const char **c, const char *end, BOOL hex) {
    long cp = 0;
    int digits = 0;
    for (; *c < end && **c != ';' && digits < 8; (*c)++, digits++) {
        int d = digit_value(**c, hex);
        if (d < 0) return -1;
        cp = cp * (hex ? 16 : 10) + d;
    }
    return digits && *c < end && **c == ';' ? cp : -1;
}

/* "&#N;" or "&#xH;" at r->at, decoded into *w. */
static BOOL char_reference(Reader *r, char **w) {
    const char *c = r->at + 2;
    BOOL hex = c < r->end && *c == 'x';
    c += hex;
    long cp = reference_number(&c, r->end, hex);
    if (cp <= 0 || !allowed_char((unsigned long)cp)) return fail(r, "a malformed character reference");
    put_utf8(w, (unsigned long)cp);
    r->at = c + 1;
    return TRUE;
}

/* One entity at r->at ('&'), decoded into *w. */
static BOOL entity(Reader *r, char **w) {
    static const struct { const char *name; char c; } NAMED[] = {
        {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
    for (size_t i = 0; i < sizeof NAMED / sizeof NAMED[0]; i++) {
        if (!starts(r, NAMED[i].name)) continue;
        *(*w)++ = NAMED[i].c;
        r->at += strlen(NAMED[i].name);
        return TRUE;
    }
    return starts(r, "&#") ? char_reference(r, w) : fail(r, "an unknown entity");
}

/* The next plain character of a value: a line end (CRLF too) or a tab is a space. */
static char normalised(Reader *r, const char *close) {
    char c = *r->at++;
    if (c == '\r' && r->at < close && *r->at == '\n') r->at++;
    return (c == '\r' || c == '\n' || c == '\t') ? ' ' : c;
}

/* The characters of a value up to `close`, decoded and normalised as XML 1.0 section 3.3.3 says. */
static BOOL decode_value(Reader *r, const char *close, char *w) {
    while (r->at < close) {
        if (*r->at == '<') return fail(r, "a '<' inside an attribute value");
        if (*r->at != '&') {
            *w++ = normalised(r, close);
            continue;
        }
        Reader inner = {r->at, close, NULL};
        if (!entity(&inner, &w)) return fail(r, inner.error);
        r->at = inner.at;
    }
    *w = 0;
    return TRUE;
}

/* A quoted value, decoded. */
static char *attr_value(Reader *r) {
    if (r->at >= r->end || (*r->at != '"' && *r->at != '\'')) return fail(r, "an attribute without a quoted value"), NULL;
    char quote = *r->at++;
    const char *close = memchr(r->at, quote, (size_t)(r->end - r->at));
    if (!close) return fail(r, "an unterminated attribute value"), NULL;
    char *value = (char *)HeapAlloc(GetProcessHeap(), 0, (SIZE_T)(close - r->at) * 4 + 1);
    if (!value) return fail(r, "out of memory"), NULL;
    if (!decode_value(r, close, value)) return NULL;
    r->at = close + 1;
    return value;
}

static char *copy_span(const char *from, const char *to) {
    char *out = (char *)HeapAlloc(GetProcessHeap(), 0, (SIZE_T)(to - from) + 1);
    if (out) {
        memcpy(out, from, (size_t)(to - from));
        out[to - from] = 0;
    }
    return out;
}

static int find_attr(const Contact *c, const char *name) {
    for (int i = 0; i < c->count; i++)
        if (strcmp(c->attrs[i].name, name) == 0) return i;
    return -1;
}

static BOOL add_attr(Reader *r, Contact *c, char *name, char *value) {
    if (!c) return TRUE; /* the root's attributes are read, not kept (apply drops them too) */
    if (find_attr(c, name) >= 0) return fail(r, "an attribute given twice");
    c->attrs = (Attr *)grow(c->attrs, &c->cap, c->count, sizeof(Attr));
    c->attrs[c->count].name = name;
    c->attrs[c->count++].value = value;
    return TRUE;
}

/* name="value" at r->at, into c. */
static BOOL one_attribute(Reader *r, Contact *c) {
    const char *from = r->at;
    while (r->at < r->end && name_char((unsigned char)*r->at, FALSE)) r->at++;
    char *name = copy_span(from, r->at);
    skip_space(r);
    if (!name || r->at >= r->end || *r->at != '=') return fail(r, "an attribute without '='");
    r->at++;
    skip_space(r);
    char *value = attr_value(r);
    return value && add_attr(r, c, name, value);
}

/* Attributes up to '>' or "/>"; *empty tells which. */
static BOOL attributes(Reader *r, Contact *c, BOOL *empty) {
    for (;;) {
        const char *before = r->at;
        skip_space(r);
        if (starts(r, "/>") || starts(r, ">")) {
            *empty = *r->at == '/';
            r->at += *empty ? 2 : 1;
            return TRUE;
        }
        BOOL spaced = r->at != before && r->at < r->end;
        if (!spaced || !name_char((unsigned char)*r->at, TRUE)) return fail(r, "a malformed tag");
        if (!one_attribute(r, c)) return FALSE;
    }
}

static BOOL end_tag(Reader *r, const char *name) {
    if (!starts(r, "</") || (r->at += 2, !starts(r, name))) return fail(r, "an element other than <contact>");
    r->at += strlen(name);
    skip_space(r);
    if (r->at >= r->end || *r->at != '>') return fail(r, "a malformed end tag");
    r->at++;
    return TRUE;
}

static BOOL tag_named(const Reader *r, const char *open) {
    size_t n = strlen(open);
    return starts(r, open) && r->at + n < r->end && strchr(" \t\r\n/>", r->at[n]) != NULL;
}

static BOOL contact(Reader *r, Book *book) {
    r->at += 8; /* "<contact" */
    book->items = (Contact *)grow(book->items, &book->cap, book->count, sizeof(Contact));
    Contact *c = &book->items[book->count++];
    BOOL empty;
    if (!attributes(r, c, &empty)) return FALSE;
    if (empty) return TRUE;
    if (!skip_misc(r)) return FALSE;
    return end_tag(r, "contact");
}

static const char *encoding_problem(const BYTE *data, DWORD size) {
    if (size >= 2 && ((data[0] == 0xFF && data[1] == 0xFE) || (data[0] == 0xFE && data[1] == 0xFF)))
        return "UTF-16, not UTF-8";
    if (size && !MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, (LPCCH)data, (int)size, NULL, 0))
        return "bytes that are not UTF-8";
    return NULL;
}

/* What stands where a contact or </contacts> should: why it is not one. */
static BOOL not_a_contact(Reader *r) {
    if (r->at >= r->end) return fail(r, "it ends before </contacts>");
    return fail(r, *r->at == '<' ? "an element other than <contact>" : "text between the contacts");
}

/* The children of <contacts>, up to and past </contacts>. */
static BOOL children(Reader *r, Book *book) {
    for (;;) {
        if (!skip_misc(r)) return FALSE;
        if (starts(r, "</")) return end_tag(r, "contacts");
        if (!tag_named(r, "<contact")) return not_a_contact(r);
        if (!contact(r, book)) return FALSE;
    }
}

/* <contacts ...> with its children, or <contacts/>. */
static BOOL root(Reader *r, Book *book) {
    if (!skip_misc(r)) return FALSE;
    if (!tag_named(r, "<contacts")) return fail(r, "no <contacts> element");
    r->at += 9;
    BOOL empty = FALSE;
    return attributes(r, NULL, &empty) && (empty || children(r, book));
}

static BOOL parse_book(const BYTE *data, DWORD size, Book *book, const char **error) {
    ZeroMemory(book, sizeof *book);
    Reader r = {(const char *)data, (const char *)data + size, NULL};
    *error = encoding_problem(data, size);
    if (*error) return FALSE;
    if (starts(&r, "\xEF\xBB\xBF")) r.at += 3;
    if (root(&r, book) && skip_misc(&r) && r.at != r.end) fail(&r, "content after </contacts>");
    *error = r.error;
    return *error == NULL;
}

/* ---- writing, as ElementTree writes (phonebook.py contacts_document) ---- */

typedef struct {
    char *data;
    size_t len, cap;
} Out;

static void put(Out *o, const char *text, size_t n) {
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->len + n + 1) * 2;
        char *bigger = o->data ? (char *)HeapReAlloc(GetProcessHeap(), 0, o->data, cap) : (char *)HeapAlloc(GetProcessHeap(), 0, cap);
        if (!bigger) out_of_memory();
        o->data = bigger;
        o->cap = cap;
    }
    memcpy(o->data + o->len, text, n);
    o->len += n;
}

static void put_text(Out *o, const char *text) { put(o, text, strlen(text)); }

static void put_escaped(Out *o, const char *value) {
    for (const char *c = value; *c; c++) {
        switch (*c) {
        case '&': put_text(o, "&amp;"); break;
        case '<': put_text(o, "&lt;"); break;
        case '>': put_text(o, "&gt;"); break;
        case '"': put_text(o, "&quot;"); break;
        case '\r': put_text(o, "&#13;"); break;
        case '\n': put_text(o, "&#10;"); break;
        case '\t': put_text(o, "&#09;"); break;
        default: put(o, c, 1);
        }
    }
}

static Out serialize(const Book *book) {
    Out o = {NULL, 0, 0};
    put_text(&o, "<?xml version=\"1.0\"?>\r\n<contacts>\r\n");
    for (int i = 0; i < book->count; i++) {
        put_text(&o, "<contact");
        for (int a = 0; a < book->items[i].count; a++) {
            put_text(&o, " ");
            put_text(&o, book->items[i].attrs[a].name);
            put_text(&o, "=\"");
            put_escaped(&o, book->items[i].attrs[a].value);
            put_text(&o, "\"");
        }
        put_text(&o, " />\r\n");
    }
    put_text(&o, "</contacts>\r\n");
    return o;
}

/* ---- merging ---- */

static const char *number_of(const Contact *c) {
    int i = find_attr(c, "number");
    return i >= 0 ? c->attrs[i].value : NULL;
}

static BOOL update(Contact *current, const Contact *wanted) {
    BOOL changed = FALSE;
    for (int a = 0; a < wanted->count; a++) {
        int i = find_attr(current, wanted->attrs[a].name);
        if (i >= 0 && strcmp(current->attrs[i].value, wanted->attrs[a].value) == 0) continue;
        if (i < 0) {
            current->attrs = (Attr *)grow(current->attrs, &current->cap, current->count, sizeof(Attr));
            i = current->count++;
            current->attrs[i].name = wanted->attrs[a].name;
        }
        current->attrs[i].value = wanted->attrs[a].value;
        changed = TRUE;
    }
    return changed;
}

static BOOL merge(Book *have, const Book *ours) {
    BOOL changed = FALSE;
    for (int i = 0; i < ours->count; i++) {
        const char *number = number_of(&ours->items[i]);
        Contact *current = NULL;
        for (int j = 0; number && j < have->count && !current; j++) {
            const char *theirs = number_of(&have->items[j]);
            if (theirs && strcmp(theirs, number) == 0) current = &have->items[j];
        }
        if (current) {
            changed |= update(current, &ours->items[i]);
            continue;
        }
        have->items = (Contact *)grow(have->items, &have->cap, have->count, sizeof(Contact));
        have->items[have->count++] = ours->items[i];
        changed = TRUE;
    }
    return changed;
}

static BOOL same_lists(const Book *a, const Book *b) {
    if (a->count != b->count) return FALSE;
    for (int i = 0; i < a->count; i++) {
        if (a->items[i].count != b->items[i].count) return FALSE;
        for (int k = 0; k < a->items[i].count; k++)
            if (strcmp(a->items[i].attrs[k].name, b->items[i].attrs[k].name) != 0 ||
                strcmp(a->items[i].attrs[k].value, b->items[i].attrs[k].value) != 0)
                return FALSE;
    }
    return TRUE;
}

static WCHAR *written(const WCHAR *dest, const BYTE *data, DWORD size) {
    DWORD error = 0;
    if (replace_whole(dest, data, size, &error)) return NULL;
    WCHAR *words = error_text(error), *why = str_printf(L"cannot write %ls (%ls)", dest, words);
    str_free(words);
    return why;
}

/* The user's phonebook beside the fleet's: written, merged, or left alone with the reason. */
static WCHAR *with_users(const Payload *p, const WCHAR *dest, const BYTE *ours, DWORD ours_size, const Book *fleet) {
    DWORD have_size = 0, error = 0;
    BYTE *have = read_whole(dest, MAX_FILE_BYTES, &have_size, &error);
    Book user;
    const char *bad = NULL;
    WCHAR *why = NULL;
    if (!have && error != ERROR_FILE_NOT_FOUND && error != ERROR_PATH_NOT_FOUND) {
        WCHAR *words = error_text(error);
        why = str_printf(L"left %ls as it is: it cannot be read (%ls)", dest, words);
        str_free(words);
    } else if (!have) {
        why = written(dest, ours, ours_size);
    } else if (!parse_book(have, have_size, &user, &bad)) {
        why = str_printf(L"left %ls as it is: the agent cannot merge it (%hs)", dest, bad);
    } else if (wcscmp(p->contacts, L"replace") == 0) {
        why = same_lists(&user, fleet) ? NULL : written(dest, ours, ours_size);
    } else if (merge(&user, fleet)) {
        Out o = serialize(&user);
        why = written(dest, (const BYTE *)o.data, (DWORD)o.len);
        str_free(o.data);
    }
    str_free(have);
    return why;
}

/* Placed when missing, replaced in `replace` mode, merged otherwise; NULL when done, else why not. */
WCHAR *place_contacts(const Payload *p, const WCHAR *seat_dir, const WCHAR *data_dir) {
    if (!p->contacts) return NULL;
    WCHAR *source = str_printf(L"%ls\\Contacts.xml", seat_dir), *dest = str_printf(L"%ls\\Contacts.xml", data_dir);
    DWORD ours_size = 0, error = 0;
    BYTE *ours = read_whole(source, MAX_FILE_BYTES, &ours_size, &error);
    Book fleet;
    const char *bad = NULL;
    WCHAR *why;
    if (!ours) why = str_printf(L"cannot read the seat's Contacts.xml");
    else if (!parse_book(ours, ours_size, &fleet, &bad)) why = str_printf(L"the seat's Contacts.xml cannot be read (%hs)", bad);
    else why = with_users(p, dest, ours, ours_size, &fleet);
    str_free(ours);
    str_free(source);
    str_free(dest);
    return why;
}
