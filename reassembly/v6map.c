/*
 * v6map.c - open-addressing table from IPv6 address to stand-in ID.
 *
 * The ID of an entry is its slot index + 1, so the way back is an array
 * index. An entry is reusable when nothing pins it and it has not been
 * seen for ST_V6MAP_STALE seconds of packet time; reuse overwrites it in
 * place, which keeps every probe chain intact (no tombstones needed).
 */
#include "reassembly/v6map.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define ST_V6MAP_STALE 600 /* seconds */
#define ST_V6MAP_PROBE 64  /* longest probe before we call the table full */

typedef struct {
    uint8_t addr[16];
    uint32_t refs;
    long last_seen;
    int used;
} v6_slot;

static v6_slot *slots;
static uint32_t nslots;

int st_v6map_init(uint32_t n)
{
    if (n == 0 || (n & (n - 1)) != 0 || n > (1u << 15))
        return -1;
    slots = calloc(n, sizeof *slots);
    if (!slots)
        return -1;
    nslots = n;
    return 0;
}

void st_v6map_free(void)
{
    free(slots);
    slots = NULL;
    nslots = 0;
}

static uint32_t hash16(const uint8_t a[16])
{
    uint32_t h = 2166136261u; /* FNV-1a: short keys, good enough spread */
    for (int i = 0; i < 16; i++)
        h = (h ^ a[i]) * 16777619u;
    return h;
}

static uint32_t id_to_v4(uint32_t idx)
{
    return htonl(ST_V6MAP_NET | (idx + 1));
}

static int reusable(const v6_slot *s, long now)
{
    return s->refs == 0 && now - s->last_seen > ST_V6MAP_STALE;
}

uint32_t st_v6map_get(const uint8_t addr[16], long now)
{
    if (!slots)
        return 0;
    uint32_t mask = nslots - 1, i = hash16(addr) & mask;
    long room = -1; /* first slot we may take: empty, or stale and unpinned */
    for (uint32_t n = 0; n < ST_V6MAP_PROBE && n < nslots; n++, i = (i + 1) & mask) {
        v6_slot *s = &slots[i];
        if (!s->used) {
            if (room < 0)
                room = i;
            break; /* end of the chain: the address is not in the table */
        }
        if (memcmp(s->addr, addr, 16) == 0) {
            s->last_seen = now;
            return id_to_v4(i);
        }
        if (room < 0 && reusable(s, now))
            room = i;
    }
    if (room < 0)
        return 0;
    v6_slot *s = &slots[room];
    memcpy(s->addr, addr, 16);
    s->refs = 0;
    s->used = 1;
    s->last_seen = now;
    return id_to_v4((uint32_t)room);
}

static v6_slot *slot_of(uint32_t v4_be)
{
    uint32_t h = ntohl(v4_be);
    if ((h & ST_V6MAP_MASK) != ST_V6MAP_NET)
        return NULL;
    uint32_t idx = (h & ~ST_V6MAP_MASK) - 1;
    if (idx >= nslots || !slots[idx].used)
        return NULL;
    return &slots[idx];
}

const uint8_t *st_v6map_lookup(uint32_t v4_be)
{
    v6_slot *s = slot_of(v4_be);
    return s ? s->addr : NULL;
}

void st_v6map_ref(uint32_t v4_be)
{
    v6_slot *s = slot_of(v4_be);
    if (s)
        s->refs++;
}

void st_v6map_unref(uint32_t v4_be)
{
    v6_slot *s = slot_of(v4_be);
    if (s && s->refs > 0)
        s->refs--;
}
