/*
 * message.h - one message, streamed: MIME parsing, decoding, hashing,
 * attachment storage and the message's part of the record.
 *
 * Bytes of one RFC 5322 message go in (from an SMTP transaction, an .eml
 * file or a Maildir entry); when it ends, the fields documented in
 * docs/record.md ("Message contents") are added to a JSON object. Nothing
 * is held whole: headers are capped, bodies are capped, attachments are
 * streamed through the hashes into the store as they are decoded.
 *
 * How it fails: never. Malformed MIME becomes entries in the message's
 * "anomalies"; a cap that is hit sets a flag; a store error leaves the
 * attachment unstored with "stored": null. Out of memory at creation gives
 * NULL and the caller records the message without contents.
 */
#ifndef ST_OUTPUT_MESSAGE_H
#define ST_OUTPUT_MESSAGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "mime/mime.h"
#include "output/store.h"

typedef struct st_message_config {
    st_store *files;               /* attachment store; NULL: attachments are hashed, not stored */
    uint64_t attachment_store_max; /* bytes stored per attachment; beyond: truncated */
    size_t body_max;               /* bytes of body / body_html kept (UTF-8, after decoding) */
    size_t header_value_max;       /* bytes of one decoded header value kept */
    size_t max_attachments;        /* attachment entries listed (the rest counted) */
    int omit_body;                 /* stoQ omit_body: no body / body_html fields */
    st_mime_limits mime;
} st_message_config;

void st_message_config_default(st_message_config *cfg);

typedef struct st_message st_message;

st_message *st_message_new(const st_message_config *cfg);
void st_message_feed(st_message *m, const uint8_t *data, size_t len);
void st_message_gap(st_message *m, uint64_t len);
/* Ends the message and adds its fields to obj (an existing JSON object). */
void st_message_finish(st_message *m, json_t *obj);
void st_message_free(st_message *m);

/*
 * Heap bytes the message holds now: its MIME parser (st_mime_memory) and the
 * extractor's own buffers (header values kept for the record, decoding
 * scratch, body text and blocks, the open-attachment stack). Not counted:
 * the attachment store objects and hash contexts of open attachments, the
 * JSON values built for the record, and what malloc adds per block. With
 * the default configuration: under 4 KiB new, under 6 KiB after the headers
 * of a typical multipart/mixed message, and bounded while an attachment
 * streams (no buffer grows with its size); tests/unit/test_message.c checks.
 */
size_t st_message_memory(const st_message *m);

#endif
