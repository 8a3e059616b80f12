/*
 * cmdq.c - the bounded FIFO of commands waiting for their reply.
 *
 * Entries live in a ring that grows by doubling up to max entries; their
 * text lives in one arena that grows up to amax bytes and is compacted
 * when the oldest entries are gone. Both go back to their small sizes
 * whenever the queue empties, so a burst of pipelining does not keep its
 * memory for the rest of the session. A push that finds either cap reached
 * fails (returns -1) and the caller decides what to drop; an allocation
 * failure is reported the same way, so a session never aborts.
 */
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_int.h"

int st_smtp_cmdq_init(st_smtp_cmdq *q, size_t max, size_t amax)
{
    memset(q, 0, sizeof(*q));
    q->max = max;
    q->amax = amax;
    q->cap = max < ST_SMTP_RING_MIN ? max : ST_SMTP_RING_MIN;
    q->acap = amax < ST_SMTP_ARENA_MIN ? amax : ST_SMTP_ARENA_MIN;
    q->e = malloc(q->cap * sizeof(*q->e));
    q->arena = malloc(q->acap);
    return q->e && q->arena ? 0 : -1;
}

void st_smtp_cmdq_free(st_smtp_cmdq *q)
{
    free(q->e);
    free(q->arena);
    q->e = NULL;
    q->arena = NULL;
    q->cap = q->acap = q->n = q->head = q->used = 0;
}

size_t st_smtp_cmdq_memory(const st_smtp_cmdq *q)
{
    return q->cap * sizeof(*q->e) + q->acap;
}

/* The queue is empty: back to the sizes it started with. Without memory
 * for the small blocks the large ones are kept. */
static void shrink(st_smtp_cmdq *q)
{
    size_t cap = q->max < ST_SMTP_RING_MIN ? q->max : ST_SMTP_RING_MIN;
    size_t acap = q->amax < ST_SMTP_ARENA_MIN ? q->amax : ST_SMTP_ARENA_MIN;
    st_smtp_pend *e = q->cap > cap ? malloc(cap * sizeof(*e)) : NULL;
    char *a = q->acap > acap ? malloc(acap) : NULL;
    if (e) {
        free(q->e);
        q->e = e;
        q->cap = cap;
    }
    if (a) {
        free(q->arena);
        q->arena = a;
        q->acap = acap;
    }
}

st_smtp_pend *st_smtp_cmdq_at(st_smtp_cmdq *q, size_t i)
{
    return i < q->n ? &q->e[(q->head + i) % q->cap] : NULL;
}

const char *st_smtp_cmdq_text(const st_smtp_cmdq *q, const st_smtp_pend *e)
{
    return q->arena + e->off;
}

void st_smtp_cmdq_pop(st_smtp_cmdq *q)
{
    if (q->n == 0)
        return;
    q->head = (q->head + 1) % q->cap;
    if (--q->n == 0) {
        q->head = q->used = 0;
        shrink(q);
    }
}

/* Unwrap the ring into a bigger array: the oldest entry goes to index 0. */
static int grow_ring(st_smtp_cmdq *q)
{
    size_t cap = q->cap * 2 > q->max ? q->max : q->cap * 2;
    st_smtp_pend *e = malloc(cap * sizeof(*e));
    if (!e)
        return -1;
    for (size_t i = 0; i < q->n; i++)
        e[i] = q->e[(q->head + i) % q->cap];
    free(q->e);
    q->e = e;
    q->cap = cap;
    q->head = 0;
    return 0;
}

/* Move the live text to the start of the arena. */
static void compact(st_smtp_cmdq *q)
{
    if (q->n == 0 || q->e[q->head].off == 0)
        return;
    uint32_t base = q->e[q->head].off;
    memmove(q->arena, q->arena + base, q->used - base);
    q->used -= base;
    for (size_t i = 0; i < q->n; i++)
        q->e[(q->head + i) % q->cap].off -= base;
}

static int arena_room(st_smtp_cmdq *q, size_t len)
{
    if (q->used + len <= q->acap)
        return 0;
    compact(q);
    while (q->used + len > q->acap && q->acap < q->amax) {
        size_t cap = q->acap * 2 > q->amax ? q->amax : q->acap * 2;
        char *a = realloc(q->arena, cap);
        if (!a)
            return -1;
        q->arena = a;
        q->acap = cap;
    }
    return q->used + len <= q->acap ? 0 : -1;
}

int st_smtp_cmdq_push(st_smtp_cmdq *q, int kind, int flags, const char *text, size_t len)
{
    if (q->n == q->cap && (q->cap == q->max || grow_ring(q) != 0))
        return -1;
    if (arena_room(q, len) != 0)
        return -1;
    st_smtp_pend *e = &q->e[(q->head + q->n) % q->cap];
    e->kind = (uint8_t)kind;
    e->flags = (uint8_t)flags;
    e->off = (uint32_t)q->used;
    e->len = (uint32_t)len;
    memcpy(q->arena + q->used, text, len);
    q->used += len;
    q->n++;
    return 0;
}
