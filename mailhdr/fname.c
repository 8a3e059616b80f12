/*
 * fname.c - attachment file names: a JSON-safe copy "as the sender wrote it", and
 * anomaly flags for names built to fool a person or a file system.
 *
 * A file name from the wire is never used as a path (the store names files by
 * hash), so nothing here strips or rewrites: the copy keeps slashes, "..", NUL and
 * control bytes (the JSON writer escapes them) and only replaces invalid UTF-8
 * with U+FFFD and cuts overlong names at a character boundary (flag). The checks
 * are a few linear passes over the bytes; they never allocate and accept any input.
 */
#include "mailhdr/mailhdr.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

size_t st_hdr_fname_clean(const char *in, size_t len, char *out, size_t cap, unsigned *flags)
{
    unsigned cf = 0, fl = 0;
    size_t n;

    if (cap > ST_HDR_FNAME_MAX + 1)
        cap = ST_HDR_FNAME_MAX + 1;
    n = st_charset_utf8_sanitize(in, len, out, cap, &cf);
    if (cf & ST_CHARSET_F_TRUNCATED)
        fl |= ST_HDR_FN_CUT;
    if (cf & ST_CHARSET_F_INVALID)
        fl |= ST_HDR_FN_BADUTF8;
    if (flags)
        *flags |= fl;
    return n;
}

static const char *const exec_ext[] = {
    "exe", "scr", "com", "pif", "bat", "cmd", "vbs", "vbe", "js",  "jse", "wsf", "wsh", "hta",
    "msi", "msp", "lnk", "cpl", "jar", "ps1", "reg", "scf", "dll", "iso", "img", "apk", "sh",
};

static const char *const decoy_ext[] = {
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "txt", "rtf", "jpg",  "jpeg", "png", "gif",
    "bmp", "mp3", "mp4",  "avi", "mov",  "zip", "rar",  "csv", "htm", "html", "odt",  "wav",
};

static bool ext_in(const char *e, size_t n, const char *const *list, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++)
        if (strlen(list[i]) == n && strncasecmp(e, list[i], n) == 0)
            return true;
    return false;
}

/* Extension of s[0..n): bytes after the last '.', or NULL. */
static const char *ext_of(const char *s, size_t n, size_t *elen)
{
    for (size_t i = n; i > 0; i--) {
        if (s[i - 1] == '.') {
            *elen = n - i;
            return s + i;
        }
        if (s[i - 1] == '/' || s[i - 1] == '\\')
            break;
    }
    return NULL;
}

/* "invoice.pdf.exe", "invoice.pdf     .exe" */
static bool double_ext(const char *s, size_t n)
{
    size_t el, dl;
    const char *e = ext_of(s, n, &el), *d;

    if (!e || !ext_in(e, el, exec_ext, sizeof(exec_ext) / sizeof(exec_ext[0])))
        return false;
    n = (size_t)(e - 1 - s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    d = ext_of(s, n, &dl);
    return d && ext_in(d, dl, decoy_ext, sizeof(decoy_ext) / sizeof(decoy_ext[0]));
}

/* Flags for the code point encoded at p (UTF-8, at least 2 bytes available). */
static unsigned special_cp(const unsigned char *p, size_t left)
{
    if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F)
        return ST_HDR_FS_CTRL; /* C1 */
    if (p[0] == 0xC2 && p[1] == 0xAD)
        return ST_HDR_FS_INVIS; /* soft hyphen */
    if (p[0] == 0xD8 && p[1] == 0x9C)
        return ST_HDR_FS_BIDI; /* U+061C arabic letter mark */
    if (left < 3)
        return 0;
    if (p[0] == 0xE2 && p[1] == 0x80) {
        if (p[2] >= 0xAA && p[2] <= 0xAE) /* U+202A..U+202E incl. RTLO */
            return ST_HDR_FS_BIDI;
        if (p[2] == 0x8E || p[2] == 0x8F) /* LRM, RLM */
            return ST_HDR_FS_BIDI;
        if (p[2] >= 0x8B && p[2] <= 0x8D) /* zero width space/joiners */
            return ST_HDR_FS_INVIS;
    }
    if (p[0] == 0xE2 && p[1] == 0x81) {
        if (p[2] >= 0xA6 && p[2] <= 0xA9) /* U+2066..U+2069 isolates */
            return ST_HDR_FS_BIDI;
        if (p[2] == 0xA0) /* word joiner */
            return ST_HDR_FS_INVIS;
    }
    if (p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) /* BOM / ZWNBSP */
        return ST_HDR_FS_INVIS;
    return 0;
}

/* ".." as a whole path component, and absolute forms. */
static unsigned path_flags(const char *s, size_t n)
{
    unsigned fl = 0;
    size_t comp = 0;

    if (n > 0 && (s[0] == '/' || s[0] == '\\'))
        fl |= ST_HDR_FS_ABSOLUTE;
    if (n > 1 && isalpha((unsigned char)s[0]) && s[1] == ':')
        fl |= ST_HDR_FS_ABSOLUTE;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '/' || s[i] == '\\') {
            if (i - comp == 2 && s[comp] == '.' && s[comp + 1] == '.')
                fl |= ST_HDR_FS_DOTDOT;
            if (i < n)
                fl |= ST_HDR_FS_PATHSEP;
            comp = i + 1;
        }
    }
    return fl;
}

unsigned st_hdr_fname_is_suspicious(const char *in, size_t len)
{
    const unsigned char *p = (const unsigned char *)in;
    unsigned fl = path_flags(in, len);
    size_t blanks = 0;
    bool only_dots = true;

    if (len > 255)
        fl |= ST_HDR_FS_LONG;
    if (!st_charset_utf8_valid(in, len))
        fl |= ST_HDR_FS_BADUTF8;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == 0)
            fl |= ST_HDR_FS_NUL;
        else if (p[i] < 0x20 || p[i] == 0x7F)
            fl |= ST_HDR_FS_CTRL;
        else if (p[i] >= 0xC2 && i + 1 < len)
            fl |= special_cp(p + i, len - i);
        blanks = p[i] == ' ' ? blanks + 1 : 0;
        if (blanks >= 4)
            fl |= ST_HDR_FS_PADDING;
        if (p[i] != '.' && p[i] != ' ' && p[i] != '\t')
            only_dots = false;
    }
    if (only_dots)
        fl |= ST_HDR_FS_EMPTY;
    else if (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '.') && !(fl & ST_HDR_FS_DOTDOT))
        fl |= ST_HDR_FS_PADDING;
    if (double_ext(in, len))
        fl |= ST_HDR_FS_DOUBLE;
    return fl;
}
