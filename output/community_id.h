/*
 * community_id.h - Community ID flow hash, version 1 (corelight spec),
 * so records can be joined with Zeek, Suricata and Arkime logs.
 *
 * Entry point: st_community_id, "1:" and 28 base64 characters for the TCP
 * flow between two endpoints, given in either order; out needs 31 bytes.
 *
 * Limits: TCP and seed 0 only; both endpoints of one family (a's family
 * decides the address length).
 *
 * How it fails: it does not; a shorter out gets a cut, NUL-terminated ID.
 */
#ifndef ST_OUTPUT_COMMUNITY_ID_H
#define ST_OUTPUT_COMMUNITY_ID_H

#include <stddef.h>

#include "reassembly/reasm.h"

/* "1:<base64 sha1>" for TCP between a and b (either order), seed 0. */
void st_community_id(const st_endpoint *a, const st_endpoint *b, char *out, size_t outlen);

#endif
