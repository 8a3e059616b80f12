/*
 * overlap.c - retransmissions that say something else: the evasion Zeek
 * and Suricata raise events for.
 *
 * A TCP receiver keeps the first copy of a byte (the most common stacks
 * do, and so does libnids): a later segment over bytes already taken is
 * old data and is dropped. When the two copies differ, a monitor that
 * keeps one and an endpoint that keeps the other see different messages.
 * We keep the sequence range and a 64-bit digest of the last ST_RS_SEEN
 * data segments of each direction; a segment whose bytes were all taken
 * already, over exactly the range of one of them, is compared by digest,
 * and a difference is counted (st_half_stats.conflicts; the session gets
 * the anomaly overlap_conflict). Policy: the first copy wins.
 *
 * Entry point: st_rs_overlap_check (before libnids sees a data packet).
 *
 * The digest runs over every new data segment, so it must cost little
 * beside the hashing of the content: zlib's crc32 was 4% of a run's
 * instructions, this is four lanes of multiply-xorshift, 8 bytes a step.
 * Each step is a bijection of a lane's state for a given word, so two
 * copies that differ inside one 8-byte word always give different
 * digests; more scattered differences collide with odds near 2^-64. It
 * is not meant to resist a forger (who would rather send the conflict in
 * a range we do not compare).
 *
 * Limits: ST_RS_SEEN segments a direction (384 bytes a stream); a
 * retransmission over another range than an earlier segment's (split or
 * merged differently) is not compared.
 */
#include <netinet/tcp.h>
#include <string.h>

#include "reassembly/stream.h"

#define MIX 0x9e3779b97f4a7c15ull /* odd: multiplying by it is a bijection */

static uint64_t step(uint64_t h, uint64_t w)
{
    h = (h ^ w) * MIX;
    return h ^ (h >> 29);
}

static uint64_t segment_sum(const uint8_t *p, uint32_t n)
{
    uint64_t l[4] = {n, n + 1, n + 2, n + 3}, w;
    uint32_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int j = 0; j < 4; j++) {
            memcpy(&w, p + i + 8 * j, 8);
            l[j] = step(l[j], w);
        }
    }
    for (int j = 0; i < n; i += 8, j++) {
        uint32_t k = n - i < 8 ? n - i : 8;
        w = 0;
        memcpy(&w, p + i, k);
        l[j] = step(l[j], w);
    }
    return step(step(step(l[0], l[1]), l[2]), l[3]);
}

void st_rs_overlap_check(st_rs_stream *rs, int from, const st_rs_key *k)
{
    st_rs_seen *s = rs->seen[from];
    uint32_t seq = k->seq, len = k->len;
    if (!len)
        return;
    uint64_t sum = segment_sum(k->payload, len);
    if (st_rs_seq_after(seq + len, st_rs_have(rs->tcp, from))) {
        unsigned i = rs->seen_next[from]++ % ST_RS_SEEN; /* new bytes: remember them */
        s[i].seq = seq;
        s[i].len = len;
        s[i].sum = sum;
        s[i].ack = k->ack; /* reorder.c: what bytes queued out of order answer */
        s[i].acks = (k->flags & TH_ACK) != 0;
        return;
    }
    for (unsigned i = 0; i < ST_RS_SEEN; i++) {
        if (s[i].len == len && s[i].seq == seq) {
            if (s[i].sum != sum) {
                rs->st[from].conflicts++;
                st_rs.counters.overlap_conflicts++;
            }
            return;
        }
    }
}
