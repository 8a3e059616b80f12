/*
 * join.h - joining a dialogue mid-stream (smtp-internal; join.c).
 *
 * smtp.c hands join.c the bytes of a parser that st_smtp_midstream made
 * a joiner, while it is still seeking its footing: every client byte, and
 * every complete server line. Once the footing is found the parser runs
 * as usual; join.c only keeps watching the events (detection, a BDAT
 * message whose beginning was not seen).
 */
#ifndef ST_SMTP_JOIN_H
#define ST_SMTP_JOIN_H

#include <stddef.h>
#include <stdint.h>

#include "smtp/smtp_int.h"

/* 1 while the footing is not found: smtp.c passes the bytes on. */
int st_smtp_join_seeking(const st_smtp *p);
void st_smtp_join_client(st_smtp *p, const uint8_t *d, size_t n);
void st_smtp_join_server_line(st_smtp *p, const char *s, size_t len);
/* Client bytes lost while seeking. */
void st_smtp_join_gap(st_smtp *p, uint64_t len);
/* 1 once a command and its reply fit (a mid-stream session is SMTP). */
int st_smtp_join_fit(const st_smtp *p);
size_t st_smtp_join_memory(const st_smtp *p);
/* The bytes held while seeking, wiped (nothing will be read any more). */
void st_smtp_join_release(st_smtp *p);
void st_smtp_join_free(st_smtp *p);

#endif
