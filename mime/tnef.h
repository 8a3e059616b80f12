/*
 * tnef.h - streaming TNEF ("winmail.dat", application/ms-tnef) decoder: the
 * bytes of one TNEF stream in, the attachments it carries out.
 *
 * A push parser, a resumable byte-driven state machine. st_tnef_feed() takes
 * the stream in pieces of any size; every split of the same bytes gives the
 * same events (ATTACH_DATA may come in different chunks, the concatenation is
 * the same). Nothing of an attachment is buffered: attAttachData and the MAPI
 * property PR_ATTACH_DATA_OBJ are passed through as they arrive, and the MAPI
 * property list of attAttachment is parsed by the same state machine rather
 * than buffered. Memory is fixed at st_tnef_new() (a few hundred bytes plus
 * three buffers of max_name bytes) whatever the input; st_tnef_memory() tells.
 *
 * How it fails: never. Malformed or hostile input becomes an ANOMALY event;
 * a bad signature or an unknown attribute level stops the decoding (TNEF has
 * no resynchronisation point), everything else is reported and decoding goes
 * on. An attachment that was begun is always ended, at the latest by
 * st_tnef_finish(). st_tnef_new() returns NULL only when out of memory.
 *
 * ---- Events, in order, for every attachment ----
 *   ATTACH_BEGIN   index (0, 1, ...): attAttachRendData was seen (or an
 *                  attachment attribute came without one: anomaly
 *                  tnef_orphan_attribute, and an attachment is begun)
 *   ATTACH_NAME*   a candidate name, as soon as it is known: provisional
 *   ATTACH_DATA*   the attachment's bytes, in chunks
 *   ATTACH_END     index, size (bytes delivered) and the FINAL name and MIME
 *                  type. The name of an attachment often comes after its data
 *                  (PR_ATTACH_LONG_FILENAME lives in attAttachment, written
 *                  after attAttachData), so a consumer creates its entry at
 *                  BEGIN, streams DATA into a store and names it at END.
 * ANOMALY events may come at any point; index is the attachment in progress
 * or -1.
 *
 * Names. Best first: PR_ATTACH_LONG_FILENAME (0x3707), attAttachTitle,
 * PR_ATTACH_FILENAME (0x3704, the 8.3 name); a later candidate of the same
 * rank replaces an earlier one. name_cp tells the bytes' character set:
 * ST_TNEF_CP_UTF8 (65001) when the name came from a PT_UNICODE property
 * (converted here from UTF-16LE); otherwise the bytes are raw 8-bit text in
 * the code page of attOemCodepage (0: none was given), for the consumer to
 * convert. Names have no terminating NUL, are at most max_name bytes (longer
 * ones are cut, anomaly tnef_name_too_long) and may contain any byte: the
 * consumer sanitises them like any attacker-chosen file name.
 *
 * Anomalies (name: detail):
 *   tnef_bad_signature         the first 4 bytes (decoding stops)
 *   tnef_bad_level             attribute level not 1 or 2 (decoding stops)
 *   tnef_bad_checksum          attribute id; the data is kept
 *   tnef_truncated             the stream ended inside a header or checksum
 *   tnef_length_overrun        the stream ended inside an attribute's data:
 *                              its length went beyond the stream
 *   tnef_too_many_attachments  max_attachments reached; later attachments are
 *                              parsed and dropped (no events)
 *   tnef_orphan_attribute      attachment attribute before any attAttachRendData
 *   tnef_duplicate_data        a second data attribute/property for one
 *                              attachment: skipped, the first one is kept
 *   tnef_mapi_malformed        the MAPI property list of attAttachment: what
 *                              went wrong; the rest of that attribute is skipped
 *   tnef_name_too_long         the name was cut to max_name bytes
 *   tnef_too_many_anomalies    max_anomalies reached: later ones are dropped
 *
 * Strings and data in an event are owned by the decoder and valid only during
 * the callback. The callback must not call back into the decoder.
 *
 * Not decoded: the message body and other message properties, the embedded
 * TNEF stream of an attached message (PR_ATTACH_DATA_OBJ of type PT_OBJECT is
 * delivered as data after its 16-byte interface id: for an attached Outlook
 * message that data is itself TNEF, which the consumer may decode again).
 */
#ifndef ST_MIME_TNEF_H
#define ST_MIME_TNEF_H

#include <stddef.h>
#include <stdint.h>

#define ST_TNEF_SIGNATURE 0x223E9F78u
#define ST_TNEF_CP_UTF8   65001u

typedef struct st_tnef_limits {
    unsigned max_attachments; /* 1000 */
    size_t max_name;          /* 8192 bytes of a name (and of a MIME type) */
    unsigned max_anomalies;   /* 100 */
} st_tnef_limits;

typedef enum st_tnef_event {
    ST_TNEF_ATTACH_BEGIN,
    ST_TNEF_ATTACH_NAME,
    ST_TNEF_ATTACH_DATA,
    ST_TNEF_ATTACH_END,
    ST_TNEF_ANOMALY,
} st_tnef_event;

typedef struct st_tnef_ev {
    st_tnef_event type;
    long index;          /* attachment number from 0; -1: none (ANOMALY) */
    const uint8_t *data; /* DATA: bytes */
    size_t len;          /* DATA: byte count */
    const uint8_t *name; /* NAME, END: name bytes (NULL at END: no name) */
    size_t name_len;     /* NAME, END */
    unsigned name_cp;    /* NAME, END: ST_TNEF_CP_UTF8, else a Windows code page or 0 */
    const char *mime;    /* END: PR_ATTACH_MIME_TAG as given (NUL-terminated), or NULL */
    uint64_t size;       /* END: data bytes delivered */
    const char *anomaly; /* ANOMALY: name */
    const char *detail;  /* ANOMALY: detail, or NULL */
} st_tnef_ev;

typedef void (*st_tnef_fn)(void *ctx, const st_tnef_ev *ev);

typedef struct st_tnef st_tnef;

/* Fill *lim with the defaults. */
void st_tnef_limits_default(st_tnef_limits *lim);
/* lim NULL (or a field 0): the defaults. NULL when out of memory. */
st_tnef *st_tnef_new(const st_tnef_limits *lim, st_tnef_fn fn, void *ctx);
void st_tnef_feed(st_tnef *t, const uint8_t *p, size_t n);
/* End of the stream: reports truncation, ends the open attachment. Later
 * feeds are ignored. */
void st_tnef_finish(st_tnef *t);
void st_tnef_free(st_tnef *t);
/* Bytes held, constant from st_tnef_new() on. */
size_t st_tnef_memory(const st_tnef *t);

#endif
