/*
 * ioc_table.c - the hash index of the IOC engine: a set's values and the
 * allow-list's exact entries are found through it.
 *
 * Open addressing with linear probing over indices the caller keeps (the
 * caller holds the keys and says whether one is equal); grown at half
 * full. The hash is keyed with a seed drawn when the engine is made, so
 * that values chosen by a sender cannot be made to collide on purpose.
 *
 * Entry points: st_ioc_hash, st_ioc_table_find, st_ioc_table_add,
 * st_ioc_table_free.
 *
 * Limits: as many entries as the caller adds (a set adds at most
 * max_iocs). How it fails: st_ioc_table_add returns -1 when out of
 * memory, the table unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "analyze/ioc_int.h"

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

uint64_t st_ioc_hash(uint64_t seed, const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = mix(seed ^ (n * 0x9e3779b97f4a7c15ULL));
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        h = mix(h ^ w) + 0x9e3779b97f4a7c15ULL;
        b += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, b, n);
    return mix(h ^ w ^ ((uint64_t)n << 56));
}

long st_ioc_table_find(const st_ioc_table *t, uint64_t h, int (*eq)(void *ctx, uint32_t i),
                       void *ctx)
{
    if (!t->slot)
        return -1;
    for (size_t k = h & t->mask;; k = (k + 1) & t->mask) {
        if (!t->slot[k])
            return -1;
        if (t->hash[k] == h && eq(ctx, t->slot[k] - 1))
            return (long)(t->slot[k] - 1);
    }
}

static void put(uint32_t *slot, uint64_t *hash, size_t mask, uint64_t h, uint32_t v)
{
    size_t k = h & mask;
    while (slot[k])
        k = (k + 1) & mask;
    slot[k] = v;
    hash[k] = h;
}

static int grow(st_ioc_table *t)
{
    size_t n = t->slot ? (t->mask + 1) * 2 : 16;
    uint32_t *slot = calloc(n, sizeof *slot);
    uint64_t *hash = malloc(n * sizeof *hash);
    if (!slot || !hash) {
        free(slot);
        free(hash);
        return -1;
    }
    for (size_t k = 0; t->slot && k <= t->mask; k++)
        if (t->slot[k])
            put(slot, hash, n - 1, t->hash[k], t->slot[k]);
    free(t->slot);
    free(t->hash);
    t->slot = slot;
    t->hash = hash;
    t->mask = n - 1;
    return 0;
}

int st_ioc_table_add(st_ioc_table *t, uint64_t h, uint32_t i)
{
    if ((!t->slot || (t->n + 1) * 2 > t->mask + 1) && grow(t) != 0)
        return -1;
    put(t->slot, t->hash, t->mask, h, i + 1);
    t->n++;
    return 0;
}

void st_ioc_table_free(st_ioc_table *t)
{
    free(t->slot);
    free(t->hash);
    memset(t, 0, sizeof *t);
}
