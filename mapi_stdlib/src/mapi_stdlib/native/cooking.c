/*
 * COOKING: IPv4/IPv6 defragmentation and TCP stream reassembly; the reassembled bytes of a
 * stream direction leave as "cooked" packets once there are `threshold` of them.
 *
 * Per packet:
 *   - not IP, or IP but not TCP (after defragmentation): passes unchanged;
 *   - an IP fragment: held (dropped) until its datagram is complete, then the datagram replaces
 *     the packet (cooking_defrag.h) and is handled as a whole packet;
 *   - TCP: its bytes go to its connection's reassembly and the packet is dropped; but whenever
 *     COOKING would drop a packet and some direction has a chunk ready, the packet is rewritten
 *     into that chunk's cooked packet instead and passes.  Chunks leave in the order their
 *     directions became ready, one per packet.
 *
 * A cooked packet: the link, IP and TCP headers of the latest packet of the chunk's direction,
 * TCP sequence number 0, SYN, FIN and RST cleared, the IP total length (IPv6 payload length)
 * set, the IPv4 header checksum and the TCP checksum recomputed, then the chunk (all the bytes
 * the direction has ready, at least `threshold` unless it is the last; at most what fits in
 * 65535 bytes of IP); caplen = wlen = its size.
 *
 * Reassembly policy (see the description in cooking.py for the user's view):
 *   - first copy wins: a byte received again keeps its first value (counted, and counted as a
 *     conflict when the new value differs and the first is still held);
 *   - a hole is given up (its bytes counted missing) when the peer acknowledges bytes past it (it
 *     will never be seen: the capture lost it) and when the connection ends;
 *   - a direction ends at its FIN once every byte before it is resolved: its rest leaves as a last,
 *     shorter chunk.  RST, FIN in both directions, the idle timeout (packet time) and eviction end
 *     the connection.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mapi/abi.h>
#include "cooking.h"
#include "layers.h"
#include "cooking_buffer.h"
#include "cooking_state.h"
#include "cooking_defrag.h"

MAPI_DEFINE_ABI_VERSION

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

enum close_reason { CLOSE_FIN, CLOSE_RESET, CLOSE_EXPIRED };

static inline conn_t *half_conn(half_t *h)
{
    return COOKING_CONTAINER(h - h->idx, conn_t, half);
}

/* ---- the queue of directions with a chunk ready ---------------------------------------------- */

static int deliverable(const cooking_t *c, const half_t *h)
{
    return h->collect && !h->done && h->ready_bytes
        && (h->ready_bytes >= c->threshold || h->final);
}

static void enqueue(cooking_t *c, half_t *h)
{
    if (!clink_linked(&h->ready) && deliverable(c, h)) {
        clist_append(&c->ready, &h->ready);
        c->stats->pending_chunks++;
    }
}

static void dequeue(cooking_t *c, half_t *h)
{
    if (clink_linked(&h->ready)) {
        clink_remove(&h->ready);
        c->stats->pending_chunks--;
    }
}

/* ---- connections: table, lists, life ---------------------------------------------------------- */

static conn_t **bucket_of(cooking_t *c, const conn_key_t *key)
{
    return &c->buckets[cooking_hash(c->seed, key, sizeof *key) & c->bucket_mask];
}

/* Drops whatever a direction still holds; returns the bytes that were never delivered. */
static uint64_t half_discard(cooking_t *c, half_t *h)
{
    uint64_t held = sbuf_count_from(&h->buf, h->base);
    sbuf_release_all(&h->buf, &c->pool);
    c->stats->buffered_bytes -= held;
    h->ready_bytes = 0;
    dequeue(c, h);
    return held;
}

/* Makes a connection unfindable (a new one may take its key). */
static void table_remove(cooking_t *c, conn_t *cn)
{
    if (!cn->in_table)
        return;
    conn_t **slot = bucket_of(c, &cn->key);
    while (*slot != cn)
        slot = &(*slot)->hnext;
    *slot = cn->hnext;
    cn->hnext = NULL;
    clink_remove(&cn->lru);
    cn->in_table = 0;
    c->stats->tracked_connections--;
}

/* Frees a connection that is out of the table once its last chunk has left. */
static void conn_release_if_idle(cooking_t *c, conn_t *cn)
{
    if (cn->in_table || clink_linked(&cn->half[0].ready) || clink_linked(&cn->half[1].ready))
        return;
    half_discard(c, &cn->half[0]);
    half_discard(c, &cn->half[1]);
    cn->hnext = c->conn_free;
    c->conn_free = cn;
}

/* Throws a connection out now, its undelivered bytes with it (counted). */
static void conn_evict(cooking_t *c, conn_t *cn)
{
    if (!cn->closed || clink_linked(&cn->half[0].ready) || clink_linked(&cn->half[1].ready))
        c->stats->connections_evicted++;
    c->stats->dropped_evicted_bytes += half_discard(c, &cn->half[0]) + half_discard(c, &cn->half[1]);
    table_remove(c, cn);
    conn_release_if_idle(c, cn);
}

static conn_t *conn_alloc(cooking_t *c)
{
    if (!c->conn_free && c->conns_bumped < COOKING_MAX_CONNECTIONS) {
        conn_t *cn = &c->conns[c->conns_bumped++];
        cn->hnext = c->conn_free;
        c->conn_free = cn;
    }
    if (!c->conn_free) {
        /* full: the oldest lingering closed connection, else the oldest open one, else the
           oldest connection waiting to deliver */
        clink_t *victim = !clist_empty(&c->closed_lru) ? c->closed_lru.next
                        : !clist_empty(&c->open_lru) ? c->open_lru.next : NULL;
        if (victim) {
            conn_evict(c, COOKING_CONTAINER(victim, conn_t, lru));
        } else {
            half_t *h = COOKING_CONTAINER(c->ready.next, half_t, ready);
            conn_evict(c, half_conn(h));
        }
    }
    conn_t *cn = c->conn_free;
    c->conn_free = cn->hnext;
    return cn;
}

static conn_t *conn_create(cooking_t *c, const conn_key_t *key, int client)
{
    conn_t *cn = conn_alloc(c);
    memset(cn, 0, sizeof *cn);
    cn->key = *key;
    cn->client = (uint8_t)client;
    clink_init(&cn->lru);
    for (int i = 0; i < 2; i++) {
        half_t *h = &cn->half[i];
        h->idx = (uint8_t)i;
        clink_init(&h->ready);
        /* libnids' naming: the server side is what the server receives, i.e. what the client sends */
        int side = i == client ? COOKING_SERVER_SIDE : COOKING_CLIENT_SIDE;
        h->collect = (c->direction & side) != 0;
    }
    conn_t **slot = bucket_of(c, key);
    cn->hnext = *slot;
    *slot = cn;
    cn->in_table = 1;
    cn->last = c->now;
    clist_append(&c->open_lru, &cn->lru);
    c->stats->connections++;
    c->stats->tracked_connections++;
    return cn;
}

static conn_t *conn_find(cooking_t *c, const conn_key_t *key)
{
    conn_t *cn = *bucket_of(c, key);
    while (cn && memcmp(&cn->key, key, sizeof *key) != 0)
        cn = cn->hnext;
    return cn;
}

static void conn_touch(cooking_t *c, conn_t *cn)
{
    cn->last = c->now;
    clink_remove(&cn->lru);
    clist_append(cn->closed ? &c->closed_lru : &c->open_lru, &cn->lru);
}

/* ---- a direction's bytes ----------------------------------------------------------------------- */

/* The 64-bit offset of sequence number seq: the one nearest the direction's resolved end. */
static int64_t seq_offset(const half_t *h, uint32_t seq)
{
    uint32_t rel = seq - h->isn;
    return (int64_t)h->contig + (int32_t)(rel - (uint32_t)h->contig);
}

static void half_anchor(half_t *h, uint32_t isn)
{
    h->isn = isn;
    h->init = 1;
    h->base = h->contig = h->high = 0;
}

/* Moves the resolved end over the present bytes that follow it. */
static void half_advance(half_t *h)
{
    uint64_t end = sbuf_first_absent(&h->buf, h->contig);
    h->ready_bytes += end - h->contig;
    h->contig = end;
    if (h->fin && h->contig >= h->fin_off)
        h->final = 1;
}

/* Resolves [contig, target): present bytes become ready, absent ones are given up as missing. */
static void half_skip_to(cooking_t *c, half_t *h, uint64_t target)
{
    half_advance(h);
    while (h->contig < target) {
        uint64_t next = sbuf_first_present(&h->buf, h->contig, target);
        c->stats->missing_bytes += next - h->contig;
        h->contig = next;
        half_advance(h);
    }
}

/* The direction will get no more bytes: everything it holds becomes deliverable. */
static void half_finish(cooking_t *c, half_t *h)
{
    if (h->collect && !h->done) {
        uint64_t target = h->high;
        if (h->fin && h->fin_off > target)
            target = h->fin_off;
        half_skip_to(c, h, target);
    }
    h->final = 1;
    enqueue(c, h);
}

/* A segment's bytes: [seq, seq+len) of which the first `captured` are in data. */
static void half_store(cooking_t *c, half_t *h, uint32_t seq, const unsigned char *data, uint32_t captured,
                       uint32_t len)
{
    cooking_stats_t *st = c->stats;
    int64_t off = seq_offset(h, seq);
    int64_t end = off + len;
    if (end <= (int64_t)h->base) {                   /* all delivered already (or before the anchor) */
        st->overlap_bytes += len;
        return;
    }
    if (off < (int64_t)h->base) {
        uint32_t skip = (uint32_t)((int64_t)h->base - off);
        st->overlap_bytes += skip;
        off += skip;
        data += skip;
        len -= skip;
        captured = captured > skip ? captured - skip : 0;
    }
    if (h->fin && (uint64_t)end > h->fin_off) {       /* nothing is sent after the FIN */
        uint64_t keep = (uint64_t)off < h->fin_off ? h->fin_off - (uint64_t)off : 0;
        st->malformed_packets += keep == 0;
        len = (uint32_t)keep;
        if (captured > len)
            captured = len;
        end = off + len;
    }
    uint64_t limit = h->base + COOKING_WINDOW;
    if ((uint64_t)end > limit) {
        uint64_t keep = (uint64_t)off < limit ? limit - (uint64_t)off : 0;
        st->dropped_window_bytes += len - keep;
        len = (uint32_t)keep;
        if (captured > len)
            captured = len;
    }
    if (!len)
        return;
    if ((uint64_t)off > h->contig)
        st->out_of_order++;
    if ((uint64_t)off < h->contig) {                  /* resolved already: only compare */
        uint32_t n = h->contig - (uint64_t)off < len ? (uint32_t)(h->contig - (uint64_t)off) : len;
        uint32_t nc = captured < n ? captured : n;
        uint64_t again = 0;
        sbuf_compare(&h->buf, (uint64_t)off, data, nc, &again, &st->conflict_bytes);
        st->overlap_bytes += n;
        off += n;
        data += n;
        len -= n;
        captured -= nc;
    }
    if (captured) {
        uint64_t stored = sbuf_store(&h->buf, &c->pool, (uint64_t)off, data, captured, &st->overlap_bytes,
                                     &st->conflict_bytes, &st->dropped_memory_bytes, &h->high);
        st->buffered_bytes += stored;
    }
}

/* Keeps the headers of the direction's latest packet, for its cooked packets; 0 if too long. */
static int half_keep_headers(half_t *h, const unsigned char *pkt, const mapi_pkthdr_t *hdr, const layers_t *L)
{
    uint32_t l4_off = (uint32_t)(L->l4 - pkt), size = l4_off + L->l4_hdr_len;
    if (size > COOKING_MAX_HEADERS)
        return 0;
    memcpy(h->hdr, pkt, size);
    h->hdr_len = (uint16_t)size;
    h->l2_len = (uint16_t)L->l2_len;
    h->l4_off = (uint16_t)l4_off;
    h->linktype = hdr->linktype;
    h->ip_version = L->ip_version;
    return 1;
}

/* ---- connections end --------------------------------------------------------------------------- */

static void conn_close(cooking_t *c, conn_t *cn, enum close_reason reason)
{
    half_finish(c, &cn->half[0]);
    half_finish(c, &cn->half[1]);
    cn->closed = 1;
    switch (reason) {
    case CLOSE_FIN:
        c->stats->connections_closed++;
        conn_touch(c, cn);                         /* lingers on the closed list */
        break;
    case CLOSE_RESET:
        c->stats->connections_reset++;
        conn_touch(c, cn);
        break;
    case CLOSE_EXPIRED:
        c->stats->connections_expired++;
        table_remove(c, cn);
        conn_release_if_idle(c, cn);
        break;
    }
}

static void conn_expire(cooking_t *c)
{
    if (c->timeout) {
        while (!clist_empty(&c->open_lru)) {
            conn_t *cn = COOKING_CONTAINER(c->open_lru.next, conn_t, lru);
            if (cn->last + c->timeout >= c->now)
                break;
            conn_close(c, cn, CLOSE_EXPIRED);
        }
    }
    const uint64_t linger = (uint64_t)COOKING_CLOSED_LINGER << 32;
    while (!clist_empty(&c->closed_lru)) {
        conn_t *cn = COOKING_CONTAINER(c->closed_lru.next, conn_t, lru);
        if (cn->last + linger >= c->now)
            break;
        table_remove(c, cn);
        conn_release_if_idle(c, cn);
    }
}

/* ---- TCP segments ------------------------------------------------------------------------------ */

/* The connection key of a segment, and which endpoint (0/1) sent it. */
static int segment_key(const layers_t *L, conn_key_t *key)
{
    uint8_t src[16] = {0}, dst[16] = {0};
    if (L->ip_version == 4) {
        memcpy(src, L->l3 + 12, 4);
        memcpy(dst, L->l3 + 16, 4);
    } else {
        memcpy(src, L->l3 + 8, 16);
        memcpy(dst, L->l3 + 24, 16);
    }
    uint16_t sport = layers_be16(L->l4), dport = layers_be16(L->l4 + 2);
    int order = memcmp(src, dst, 16);
    int sender = order > 0 || (order == 0 && sport > dport);
    memset(key, 0, sizeof *key);
    memcpy(key->addr[sender], src, 16);
    memcpy(key->addr[!sender], dst, 16);
    key->port[sender] = sport;
    key->port[!sender] = dport;
    key->version = L->ip_version;
    return sender;
}

/*
 * Which endpoint is the client: the sender of a SYN, the receiver of a SYN+ACK; without either,
 * the endpoint with the higher port (ephemeral ports are high), and with equal ports the sender
 * of the first packet seen.
 */
static int client_of(int sender, uint8_t flags, uint16_t sport, uint16_t dport)
{
    if (flags & TCP_SYN)
        return flags & TCP_ACK ? !sender : sender;
    if (sport != dport)
        return sport > dport ? sender : !sender;
    return sender;
}

static void tcp_input(cooking_t *c, const unsigned char *pkt, const mapi_pkthdr_t *hdr, const layers_t *L)
{
    cooking_stats_t *st = c->stats;
    const unsigned char *th = L->l4;
    uint8_t flags = th[13];
    uint32_t seq = layers_be32(th + 4), ack = layers_be32(th + 8);
    conn_key_t key;
    int sender = segment_key(L, &key);
    st->tcp_packets++;

    conn_t *cn = conn_find(c, &key);
    if (cn && cn->closed) {
        if ((flags & (TCP_SYN | TCP_ACK)) != TCP_SYN) {
            conn_touch(c, cn);                        /* a late packet of a closed connection */
            st->overlap_bytes += L->payload_len;      /* its data can only be a retransmission */
            return;
        }
        table_remove(c, cn);                          /* a new connection on the same ports */
        conn_release_if_idle(c, cn);
        cn = NULL;
    }
    if (!cn) {
        if (flags & TCP_RST)
            return;                                   /* nothing to reset */
        cn = conn_create(c, &key, client_of(sender, flags, layers_be16(th), layers_be16(th + 2)));
    } else {
        conn_touch(c, cn);
    }
    half_t *snd = &cn->half[sender], *rcv = &cn->half[!sender];
    int collecting = snd->collect && !snd->done;
    int headers = collecting && half_keep_headers(snd, pkt, hdr, L);

    uint32_t data_seq = seq + ((flags & TCP_SYN) ? 1 : 0);
    if (flags & TCP_SYN) {
        if (!snd->init || (snd->contig == 0 && snd->high == 0 && !snd->fin))
            half_anchor(snd, data_seq);
    } else if (!snd->init) {
        half_anchor(snd, seq);
    }
    if (flags & TCP_RST) {
        conn_close(c, cn, CLOSE_RESET);
        return;
    }

    /* the peer acknowledges bytes this capture never showed: they will not come */
    if ((flags & TCP_ACK) && rcv->init && rcv->collect && !rcv->done) {
        int64_t acked = seq_offset(rcv, ack);
        if (rcv->fin && acked > (int64_t)rcv->fin_off)
            acked = (int64_t)rcv->fin_off;
        if (acked > (int64_t)rcv->contig && (uint64_t)acked <= rcv->base + COOKING_WINDOW) {
            half_skip_to(c, rcv, (uint64_t)acked);
            if (rcv->fin && rcv->contig >= rcv->fin_off)
                rcv->final = 1;
        }
    }

    uint32_t len = L->payload ? L->payload_len : 0;
    if (len) {
        if (!collecting)
            st->ignored_bytes += len;
        else if (!headers)
            st->dropped_header_packets++;
        else
            half_store(c, snd, data_seq, L->payload, L->payload_caplen, len);
    }
    if ((flags & TCP_FIN) && !snd->fin) {
        int64_t fin_off = seq_offset(snd, data_seq + len);
        if (fin_off >= (int64_t)snd->base || !collecting) {  /* a FIN before delivered bytes is bogus */
            snd->fin = 1;
            snd->fin_off = fin_off > 0 ? (uint64_t)fin_off : 0;
        }
    }
    if (collecting)
        half_advance(snd);
    else if (snd->fin)
        snd->final = 1;

    if (snd->final && rcv->final) {
        conn_close(c, cn, CLOSE_FIN);
        return;
    }
    enqueue(c, snd);
    enqueue(c, rcv);
}

/* ---- cooked packets ------------------------------------------------------------------------------ */

/* Writes the next ready chunk over the packet: 1 if one was written (the packet passes), else 0. */
static int emit(cooking_t *c, unsigned char *pkt, mapi_pkthdr_t *hdr, uint32_t room)
{
    while (!clist_empty(&c->ready)) {
        half_t *h = COOKING_CONTAINER(c->ready.next, half_t, ready);
        conn_t *cn = half_conn(h);
        dequeue(c, h);
        if (!deliverable(c, h)) {
            conn_release_if_idle(c, cn);
            continue;
        }
        uint32_t ip_headers = h->hdr_len - h->l2_len;
        uint64_t want = h->ready_bytes;                       /* all of it, as MAPI did */
        uint64_t ip_room = 65535 - (h->ip_version == 4 ? ip_headers : ip_headers - 40);
        uint64_t buffer_room = room > h->hdr_len ? room - h->hdr_len : 0;
        if (want > ip_room)
            want = ip_room;
        if (want > buffer_room)
            want = buffer_room;
        if (want == 0) {                                      /* headers too long for this packet */
            enqueue(c, h);
            return 0;
        }

        memcpy(pkt, h->hdr, h->hdr_len);
        uint64_t next;
        uint64_t n = sbuf_read(&h->buf, h->base, h->contig, pkt + h->hdr_len, want, &next);
        h->base = next;
        h->ready_bytes -= n;
        sbuf_release_below(&h->buf, &c->pool, h->base);
        c->stats->buffered_bytes -= n;

        unsigned char *ip = pkt + h->l2_len, *th = pkt + h->l4_off;
        uint32_t segment = h->hdr_len - h->l4_off + (uint32_t)n;
        uint64_t sum = 0;
        if (h->ip_version == 4) {
            put16(ip + 2, ip_headers + (uint32_t)n);
            put16(ip + 6, layers_be16(ip + 6) & 0xc000);
            put16(ip + 10, 0);
            put16(ip + 10, csum_fold(csum_add(0, ip, (size_t)(ip[0] & 0x0f) * 4)));
            sum = csum_add(sum, ip + 12, 8);
        } else {
            put16(ip + 4, ip_headers - 40 + (uint32_t)n);
            sum = csum_add(sum, ip + 8, 32);
        }
        sum += 6 + segment;                                   /* pseudo-header: protocol, length */
        memset(th + 4, 0, 4);                                 /* sequence number 0, as MAPI */
        th[13] &= (uint8_t)~(TCP_SYN | TCP_FIN | TCP_RST);    /* data, not a handshake or an end */
        put16(th + 16, 0);
        put16(th + 16, csum_fold(csum_add(sum, th, segment)));
        hdr->caplen = hdr->wlen = h->hdr_len + (uint32_t)n;
        hdr->linktype = h->linktype;

        c->stats->chunks++;
        c->stats->bytes_delivered += n;
        if (c->ret_once) {
            h->done = 1;
            c->stats->ignored_bytes += half_discard(c, h);
        }
        enqueue(c, h);                                        /* more ready: back in the queue */
        conn_release_if_idle(c, cn);
        return 1;
    }
    return 0;
}

/* ---- the function ----------------------------------------------------------------------------- */

int cooking_process(void *state, unsigned char *pkt, mapi_pkthdr_t *hdr)
{
    cooking_t *c = state;
    uint32_t room = hdr->caplen + MAPI_MODIFY_HEADROOM;
    if (hdr->ts > c->now)
        c->now = hdr->ts;
    conn_expire(c);
    defrag_expire(c);

    layers_t L;
    if (!layers_parse(pkt, hdr, &L) || !L.ip_version)
        return 1;
    if (L.fragment) {
        if (defrag_input(c, pkt, hdr, &L, room) == DEFRAG_CONSUMED)
            return emit(c, pkt, hdr, room);
        layers_parse(pkt, hdr, &L);                   /* the whole datagram */
    }
    if (L.l4_proto != 6)
        return 1;
    if (!L.l4 || L.l4_hdr_len < 20 || L.l4_caplen < L.l4_hdr_len || !L.payload) {
        c->stats->malformed_packets++;
        return emit(c, pkt, hdr, room);
    }
    tcp_input(c, pkt, hdr, &L);
    return emit(c, pkt, hdr, room);
}

cooking_t *cooking_new(uint32_t threshold, uint32_t timeout, int ret_once, int direction, cooking_stats_t *stats)
{
    cooking_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->stats = stats;
    c->threshold = threshold;
    c->timeout = (uint64_t)timeout << 32;
    c->ret_once = ret_once;
    c->direction = direction;
    c->seed = cooking_mix((uint64_t)(uintptr_t)c ^ (uint64_t)time(NULL) ^ 0x9e3779b97f4a7c15ULL);
    /* large zeroed reservations: the OS maps their pages on first use */
    c->pool.blocks = calloc(COOKING_MAX_BLOCKS, sizeof *c->pool.blocks);
    c->conns = calloc(COOKING_MAX_CONNECTIONS, sizeof *c->conns);
    c->bucket_mask = 2 * COOKING_MAX_CONNECTIONS - 1;
    c->buckets = calloc((size_t)c->bucket_mask + 1, sizeof *c->buckets);
    c->dgrams = calloc(COOKING_MAX_DATAGRAMS, sizeof *c->dgrams);
    c->dbucket_mask = 2 * COOKING_MAX_DATAGRAMS - 1;
    c->dbuckets = calloc((size_t)c->dbucket_mask + 1, sizeof *c->dbuckets);
    if (!c->pool.blocks || !c->conns || !c->buckets || !c->dgrams || !c->dbuckets) {
        cooking_free(c);
        return NULL;
    }
    clink_init(&c->open_lru);
    clink_init(&c->closed_lru);
    clink_init(&c->ready);
    clink_init(&c->dgram_lru[0]);
    clink_init(&c->dgram_lru[1]);
    return c;
}

void cooking_free(cooking_t *c)
{
    if (!c)
        return;
    free(c->pool.blocks);
    free(c->conns);
    free(c->buckets);
    free(c->dgrams);
    free(c->dbuckets);
    free(c);
}
