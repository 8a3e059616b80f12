/*
 * v6map.h - IPv6 addresses as stand-in IPv4 addresses for libnids.
 *
 * libnids knows only IPv4. Each IPv6 address we see gets an ID in
 * 240.0.0.0/16 (class E: not routed; anonymised captures do use other
 * parts of 240/4, so we claim only this /16), exact both ways. Entries are
 * pinned while a stream uses them; unpinned entries not seen for ten
 * minutes of packet time are reused, so the table never grows past the
 * size given to st_v6map_init.
 *
 * Entry points: st_v6map_init, st_v6map_get, st_v6map_lookup,
 * st_v6map_ref, st_v6map_unref, st_v6map_is_mapped, st_v6map_free.
 *
 * Limits: one table per process (static), at most 32768 entries. An
 * address is looked for, and placed, within 64 slots of its hash.
 *
 * How it fails: st_v6map_init gives -1 (bad size, no memory). When no
 * free or stale slot is within reach, st_v6map_get refuses the address
 * (0) and the caller counts the packet as dropped.
 */
#ifndef ST_REASSEMBLY_V6MAP_H
#define ST_REASSEMBLY_V6MAP_H

#include <stdint.h>

#define ST_V6MAP_NET  0xF0000000u /* 240.0.0.0, host byte order */
#define ST_V6MAP_MASK 0xFFFF0000u /* a /16: at most 65535 addresses mapped at once */

int st_v6map_init(uint32_t slots); /* slots: a power of two up to 32768; 0 on success */
void st_v6map_free(void);

/* The stand-in address (network byte order) for addr, 0 when full. */
uint32_t st_v6map_get(const uint8_t addr[16], long now_sec);

/* The IPv6 address behind a stand-in; NULL if it is not one of ours. */
const uint8_t *st_v6map_lookup(uint32_t v4_be);

/* Pin / unpin the entry behind a stand-in while a stream uses it. */
void st_v6map_ref(uint32_t v4_be);
void st_v6map_unref(uint32_t v4_be);

static inline int st_v6map_is_mapped(uint32_t v4_be)
{
    uint32_t h = ((v4_be & 0xFFu) << 24) | ((v4_be & 0xFF00u) << 8) | ((v4_be >> 8) & 0xFF00u) |
                 (v4_be >> 24);
    return (h & ST_V6MAP_MASK) == ST_V6MAP_NET;
}

#endif
