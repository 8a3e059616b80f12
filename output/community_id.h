/*
 * community_id.h - Community ID flow hash, version 1 (corelight spec),
 * so records can be joined with Zeek, Suricata and Arkime logs.
 */
#ifndef ST_OUTPUT_COMMUNITY_ID_H
#define ST_OUTPUT_COMMUNITY_ID_H

#include <stddef.h>

#include "reassembly/reasm.h"

/* "1:<base64 sha1>" for TCP between a and b (either order), seed 0. */
void st_community_id(const st_endpoint *a, const st_endpoint *b, char *out, size_t outlen);

#endif
