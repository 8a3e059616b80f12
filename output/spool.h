/*
 * spool.h - append-only text that can be squeezed while it waits.
 *
 * A session's finished transactions are JSON text that is only needed
 * when the session ends, which may be minutes away. An idle session packs
 * its spool with zlib (JSON shrinks several times); the text comes back
 * whole at the end. Appending after packing is allowed.
 *
 * Entry points: st_spool_add, st_spool_pack, st_spool_take,
 * st_spool_memory, st_spool_free. A zeroed st_spool is empty.
 *
 * How it fails: out of memory on append drops that piece and returns -1;
 * packing that fails leaves the text as it was; take without memory
 * returns NULL, and the spool is emptied all the same.
 */
#ifndef ST_OUTPUT_SPOOL_H
#define ST_OUTPUT_SPOOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_spool {
    char *text; /* not yet packed */
    size_t len;
    uint8_t *z; /* packed earlier text */
    size_t zlen, zraw;
} st_spool;

int st_spool_add(st_spool *s, const char *p, size_t n);
void st_spool_pack(st_spool *s);
/* Everything appended, in order, NUL-terminated ("" when nothing was);
 * *len set. The spool is emptied. NULL only when out of memory. */
char *st_spool_take(st_spool *s, size_t *len);
size_t st_spool_memory(const st_spool *s);
void st_spool_free(st_spool *s);

#endif
