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

#include "extract/extract.h"

/* Adds headers ... attachments, anomalies to obj. Each attachment's file
 * (if any) is an st_file of analyze/file.h, closed. */
void st_message_json(const st_xfacts *f, json_t *obj);

#endif
