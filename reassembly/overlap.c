/*
 * overlap.c - retransmissions that say something else: the evasion Zeek
 * and Suricata raise events for.
 *
 * A TCP receiver keeps the first copy of a byte (the most common stacks
 * do, and so does libnids): a later segment over bytes already taken is
 * old data and is dropped. When the two copies differ, a monitor that
 * keeps one and an endpoint that keeps the other see different messages.
 * We keep the sequence range and a CRC-32 of the last ST_RS_SEEN data
 * segments of each direction; a segment whose bytes were all taken
 * already, over exactly the range of one of them, is compared by its CRC,
 * and a difference is counted (st_half_stats.conflicts; the session gets
 * the anomaly overlap_conflict). Policy: the first copy wins.
 *
 * Entry point: st_rs_overlap_check (before libnids sees a data packet).
 *
 * Limits: ST_RS_SEEN segments a direction (192 bytes a stream); a
 * retransmission over another range than an earlier segment's (split or
 * merged differently) is not compared.
 */
#include <netinet/tcp.h>
#include <zlib.h>

#include "reassembly/stream.h"

void st_rs_overlap_check(st_rs_stream *rs, int from, const st_rs_key *k)
{
    st_rs_seen *s = rs->seen[from];
    uint32_t seq = k->seq, len = k->len;
    if (!len)
        return;
    uint32_t crc = (uint32_t)crc32(0L, k->payload, len);
    if (st_rs_seq_after(seq + len, st_rs_have(rs->tcp, from))) {
        unsigned i = rs->seen_next[from]++ % ST_RS_SEEN; /* new bytes: remember them */
        s[i].seq = seq;
        s[i].len = len;
        s[i].crc = crc;
        s[i].ack = k->ack; /* reorder.c: what bytes queued out of order answer */
        s[i].acks = (k->flags & TH_ACK) != 0;
        return;
    }
    for (unsigned i = 0; i < ST_RS_SEEN; i++) {
        if (s[i].len == len && s[i].seq == seq) {
            if (s[i].crc != crc) {
                rs->st[from].conflicts++;
                st_rs.counters.overlap_conflicts++;
            }
            return;
        }
    }
}
