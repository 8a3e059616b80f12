/*
 * message_json.h - a message's contents as record fields.
 *
 * The facts the extraction layer found in one message, and the results of
 * its file objects, become the fields of docs/record.md "Message
 * contents", added in the documented order to the message object that
 * st_record_message_json began.
 */
#ifndef ST_OUTPUT_MESSAGE_JSON_H
#define ST_OUTPUT_MESSAGE_JSON_H

#include <jansson.h>

#include "analyze/file.h"
#include "analyze/ioc.h"
#include "extract/extract.h"

/* Adds headers ... attachments, parts, anomalies to obj. Each file of an
 * attachment or a part (if any) is an st_file of analyze/file.h, closed. */
void st_message_json(const st_xfacts *f, json_t *obj);

/* What is known of the message beyond its facts. */
typedef struct st_message_more {
    const st_file *eml;     /* the message's own object, closed, when analyzers ran on it
                             * (yara_scan_messages): their fields; NULL: none */
    const st_ioc_set *iocs; /* extract_iocs: message.iocs; NULL: off */
} st_message_more;

/* st_message_json, with the message's analyzers' fields and "iocs" after
 * the attachments, and their anomalies with the others. more may be NULL. */
void st_message_json_more(const st_xfacts *f, const st_message_more *more, json_t *obj);

#endif
