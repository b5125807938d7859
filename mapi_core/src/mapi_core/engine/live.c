/*
 * Live capture: AF_PACKET TPACKET_V3 rings (Linux, zero copy) and libpcap (portable, copied).
 * See live.h for the contract.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include <mapi/abi.h>
#include "batch.h"
#include "live.h"

#define LINKTYPE_ETHERNET 1
#define LINKTYPE_RAW 101
#define LINKTYPE_IEEE802_11 105
#define LINKTYPE_PRISM 119
#define LINKTYPE_RADIOTAP 127
#define LINKTYPE_LINUX_SLL 113

#ifndef ARPHRD_RAWIP
#define ARPHRD_RAWIP 519
#endif

#define SLL_HDR_LEN 16
#define VLAN_TAG_LEN 4
#define RING_RESERVE VLAN_TAG_LEN   /* room in front of each frame for a re-inserted VLAN tag */
#define POLL_MS 200                 /* a stop is seen at once (eventfd); this only bounds a wait */
#define MAX_SNAPLEN 262144

struct mapi_live {
    int backend;
    char ifname[256];
    mapi_live_options_t opts;
    uint32_t linktype;
    uint32_t snaplen;
    uint32_t ifindex;
    int efd;                        /* eventfd: mapi_live_wakeup */
    int started;
    char message[512];
    char warning[512];
    _Atomic uint64_t delivered;
    _Atomic uint64_t skipped;       /* our own copies of packets sent on loopback, not delivered */
    pthread_mutex_t stats_lock;
    uint64_t received, kernel_drops;   /* summed in 64 bits: the kernel's and libpcap's counters are 32-bit */
    uint64_t if_drops, if_drops_base;
    struct timespec stats_at;          /* when the counters were last brought up to date */

    /* AF_PACKET */
    int fd;
    int cooked;                     /* SOCK_DGRAM: we write a Linux SLL header in front */
    int loopback;
    uint32_t arphrd;
    unsigned char *ring;
    size_t ring_size;
    uint32_t block_size, nblocks;
    uint32_t cur;                   /* block being read */
    int cur_open;
    uint32_t cur_left;              /* its packets not read yet */
    struct tpacket3_hdr *cur_pkt;
    uint32_t release_from, held;    /* blocks read to the end, returned at the next call */

    /* libpcap */
    pcap_t *pcap;
    int pcap_fd;
    int nano;
    unsigned char *arena;
    size_t arena_size;
};

static void set_error(char *errbuf, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_error(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (!errbuf || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

static const char *permission_hint = "capturing needs root or CAP_NET_RAW";

/* "eth0: operation not permitted: capturing needs root or CAP_NET_RAW" and friends. */
static void errno_error(char *errbuf, size_t errlen, const char *ifname, const char *what, int err)
{
    if (err == EPERM || err == EACCES)
        set_error(errbuf, errlen, "%s: operation not permitted: %s", ifname, permission_hint);
    else if (err == ENODEV || err == ENXIO)
        set_error(errbuf, errlen, "%s: no such device", ifname);
    else
        set_error(errbuf, errlen, "%s: %s: %s", ifname, what, strerror(err));
}

uint32_t mapi_live_linktype_of_arphrd(uint32_t arphrd)
{
    switch (arphrd) {
    case ARPHRD_ETHER:
    case ARPHRD_LOOPBACK:
        return LINKTYPE_ETHERNET;
    case ARPHRD_NONE:
    case ARPHRD_RAWIP:
        return LINKTYPE_RAW;
    case ARPHRD_IEEE80211:
        return LINKTYPE_IEEE802_11;
    case ARPHRD_IEEE80211_PRISM:
        return LINKTYPE_PRISM;
    case ARPHRD_IEEE80211_RADIOTAP:
        return LINKTYPE_RADIOTAP;
    default:
        return LINKTYPE_LINUX_SLL;
    }
}

/* LINKTYPE_ and DLT_ values are the same except for a few historical ones (RAW is 12 on Linux). */
static int dlt_of_linktype(uint32_t linktype)
{
    return linktype == LINKTYPE_RAW ? DLT_RAW : (int)linktype;
}

static uint32_t linktype_of_dlt(int dlt)
{
    return dlt == DLT_RAW ? LINKTYPE_RAW : (uint32_t)dlt;
}

const char *mapi_live_linktype_name(uint32_t linktype)
{
    const char *name = pcap_datalink_val_to_name(dlt_of_linktype(linktype));
    return name ? name : "";
}

const char *mapi_live_pcap_version(void)
{
    return pcap_lib_version();
}

/* Interface drops as libpcap counts them: rx_missed_errors + rx_fifo_errors (0 if unknown). */
static uint64_t interface_drops(const char *ifname)
{
    static const char *const names[] = {"rx_missed_errors", "rx_fifo_errors"};
    uint64_t total = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[512];
        snprintf(path, sizeof path, "/sys/class/net/%s/statistics/%s", ifname, names[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        unsigned long long value;
        if (fscanf(f, "%llu", &value) == 1)
            total += value;
        fclose(f);
    }
    return total;
}

static mapi_live_t *live_new(const char *ifname, const mapi_live_options_t *options)
{
    mapi_live_t *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    snprintf(l->ifname, sizeof l->ifname, "%s", ifname);
    l->opts = *options;
    l->fd = -1;
    l->pcap_fd = -1;
    l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&l->stats_lock, NULL);
    if (l->efd < 0) {
        pthread_mutex_destroy(&l->stats_lock);
        free(l);
        return NULL;
    }
    return l;
}

/* ---------------------------------------------------------------------------------------------
 * AF_PACKET, TPACKET_V3
 */

static uint32_t pow2_at_least(uint64_t n)
{
    uint32_t p = 4096;
    while (p < n && p < (1u << 30))
        p <<= 1;
    return p;
}

/* Interface type and flags through an ordinary socket (works in any network namespace). */
static int query_interface(mapi_live_t *l, char *errbuf, size_t errlen)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        errno_error(errbuf, errlen, l->ifname, "socket", errno);
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", l->ifname);
    if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
        int err = errno;
        close(s);
        errno_error(errbuf, errlen, l->ifname, "SIOCGIFHWADDR", err);
        return -1;
    }
    l->arphrd = ifr.ifr_hwaddr.sa_family;
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP))
        snprintf(l->warning, sizeof l->warning, "%s is down: no packets until it is up", l->ifname);
    close(s);
    return 0;
}

/*
 * Asks the kernel to timestamp packets when they enter the network stack (SO_TIMESTAMPNS on any
 * socket turns this on system-wide) instead of when each capture socket receives its copy: more
 * accurate, and every capture of a packet (tcpdump's too) then carries the same time.
 */
static void enable_stack_timestamps(int fd)
{
    int on = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);   /* best effort */
}

static int af_open(mapi_live_t *l, char *errbuf, size_t errlen)
{
    int any = strcmp(l->ifname, "any") == 0;
    if (strlen(l->ifname) >= IFNAMSIZ) {
        set_error(errbuf, errlen, "%s: no such device (interface names have at most %d characters)",
                  l->ifname, IFNAMSIZ - 1);
        return -1;
    }
    if (any) {
        l->cooked = 1;
        l->linktype = LINKTYPE_LINUX_SLL;
    } else {
        l->ifindex = if_nametoindex(l->ifname);
        if (l->ifindex == 0) {
            errno_error(errbuf, errlen, l->ifname, "if_nametoindex", errno == 0 ? ENODEV : errno);
            return -1;
        }
        if (query_interface(l, errbuf, errlen) < 0)
            return -1;
        l->linktype = mapi_live_linktype_of_arphrd(l->arphrd);
        l->cooked = l->linktype == LINKTYPE_LINUX_SLL;
        l->loopback = l->arphrd == ARPHRD_LOOPBACK;
    }

    /* Protocol 0: the socket receives nothing until mapi_live_start binds it. */
    l->fd = socket(AF_PACKET, (l->cooked ? SOCK_DGRAM : SOCK_RAW) | SOCK_CLOEXEC, 0);
    if (l->fd < 0) {
        errno_error(errbuf, errlen, l->ifname, "socket(AF_PACKET)", errno);
        return -1;
    }
    enable_stack_timestamps(l->fd);
    int version = TPACKET_V3, reserve = RING_RESERVE;
    if (setsockopt(l->fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0) {
        errno_error(errbuf, errlen, l->ifname, "PACKET_VERSION TPACKET_V3", errno);
        return -1;
    }
    if (setsockopt(l->fd, SOL_PACKET, PACKET_RESERVE, &reserve, sizeof reserve) < 0) {
        errno_error(errbuf, errlen, l->ifname, "PACKET_RESERVE", errno);
        return -1;
    }

    /* Eight blocks when the buffer allows (the kernel fills one while we read others: with too
     * few, it soon finds none free and drops), each large enough for the longest frame we expect
     * whole: 64 KiB, the largest packet GRO builds.  A longer one is cut at the block's size by
     * the kernel (libpcap's blocks, 256 KiB, cut too). */
    uint64_t longest = l->snaplen < 65536 ? l->snaplen : 65536;
    uint64_t frame = TPACKET_ALIGN(TPACKET3_HDRLEN) + SLL_HDR_LEN + RING_RESERVE + longest + 64;
    uint32_t block = pow2_at_least(frame);
    uint32_t eighth = l->opts.buffer_size / 8;
    while (block * 2u <= eighth && block < (4u << 20))
        block <<= 1;
    uint32_t nblocks = l->opts.buffer_size / block;
    if (nblocks < 2)
        nblocks = 2;
    struct tpacket_req3 req;
    memset(&req, 0, sizeof req);
    req.tp_block_size = block;
    req.tp_block_nr = nblocks;
    req.tp_frame_size = TPACKET_ALIGNMENT << 7;       /* unused by V3 beyond a consistency check */
    req.tp_frame_nr = (block / req.tp_frame_size) * nblocks;
    req.tp_retire_blk_tov = l->opts.immediate ? 1 : (l->opts.timeout_ms > 0 ? (unsigned)l->opts.timeout_ms : 1);
    if (setsockopt(l->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) {
        errno_error(errbuf, errlen, l->ifname, "PACKET_RX_RING", errno);
        return -1;
    }
    l->block_size = block;
    l->nblocks = nblocks;
    l->ring_size = (size_t)block * nblocks;
    void *ring = mmap(NULL, l->ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, l->fd, 0);
    if (ring == MAP_FAILED) {
        l->ring = NULL;
        errno_error(errbuf, errlen, l->ifname, "mmap of the packet ring", errno);
        return -1;
    }
    l->ring = ring;

    /* The snapshot length, enforced by the kernel: a socket filter's return value is the number of
     * bytes to keep, so "ret #snaplen" truncates before the copy into the ring. */
    struct { uint16_t code; uint8_t jt, jf; uint32_t k; } insn = {0x06 /* BPF_RET|BPF_K */, 0, 0, l->snaplen};
    struct { unsigned short len; void *filter; } prog = {1, &insn};
    if (setsockopt(l->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
        errno_error(errbuf, errlen, l->ifname, "SO_ATTACH_FILTER", errno);
        return -1;
    }
    if (l->opts.promisc && !any) {
        struct packet_mreq mr;
        memset(&mr, 0, sizeof mr);
        mr.mr_ifindex = (int)l->ifindex;
        mr.mr_type = PACKET_MR_PROMISC;
        if (setsockopt(l->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
            errno_error(errbuf, errlen, l->ifname, "promiscuous mode", errno);
            return -1;
        }
    }
    return 0;
}

static int af_start(mapi_live_t *l, char *errbuf, size_t errlen)
{
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = (int)l->ifindex;
    if (bind(l->fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
        errno_error(errbuf, errlen, l->ifname, "bind", errno);
        return -1;
    }
    if (l->opts.fanout > 0) {
        /* Every socket of the group gets the packets of some flows (a hash of the addresses and
         * ports, fragments reassembled for it first), as workers=N needs. */
        int group = (l->opts.fanout & 0xffff) | ((PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16);
        if (setsockopt(l->fd, SOL_PACKET, PACKET_FANOUT, &group, sizeof group) < 0) {
            errno_error(errbuf, errlen, l->ifname, "PACKET_FANOUT", errno);
            return -1;
        }
    }
    /* Anything counted before the bind is not ours (there should be nothing). */
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof st;
    getsockopt(l->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len);
    l->if_drops_base = l->ifindex ? interface_drops(l->ifname) : 0;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &l->stats_at);
    return 0;
}

static inline struct tpacket_block_desc *block_at(mapi_live_t *l, uint32_t i)
{
    return (struct tpacket_block_desc *)(l->ring + (size_t)i * l->block_size);
}

/* Gives the blocks read by the previous batch back to the kernel. */
static void af_release(mapi_live_t *l)
{
    for (; l->held; l->held--) {
        struct tpacket_block_desc *bd = block_at(l, l->release_from);
        __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        l->release_from = (l->release_from + 1) % l->nblocks;
    }
}

/*
 * One frame of the ring as the engine's packet: the header, and the data pointer moved back when
 * a Linux SLL header (cooked sockets) or the VLAN tag that the NIC took out is put in front, as
 * libpcap does.  Returns 0 for a frame to skip.
 */
static int af_packet(mapi_live_t *l, struct tpacket3_hdr *ppd, mapi_pkthdr_t *hdr, unsigned char **data)
{
    const struct sockaddr_ll *sll =
        (const struct sockaddr_ll *)((unsigned char *)ppd + TPACKET_ALIGN(sizeof(struct tpacket3_hdr)));
    /* On loopback every packet is seen twice, going out and coming in: keep one (as libpcap). */
    if (l->loopback && sll->sll_pkttype == PACKET_OUTGOING) {
        atomic_fetch_add_explicit(&l->skipped, 1, memory_order_relaxed);
        return 0;
    }
    unsigned char *pkt = (unsigned char *)ppd + ppd->tp_mac;
    uint32_t caplen = ppd->tp_snaplen, wlen = ppd->tp_len;
    int vlan = (ppd->tp_status & TP_STATUS_VLAN_VALID) != 0;
    uint16_t tpid = (ppd->tp_status & TP_STATUS_VLAN_TPID_VALID) ? ppd->hv1.tp_vlan_tpid : ETH_P_8021Q;
    uint16_t tci = (uint16_t)ppd->hv1.tp_vlan_tci;

    if (l->cooked) {
        /* pkttype, ARPHRD type, address length, 8 address bytes, protocol (all big-endian) */
        unsigned char *h = pkt - SLL_HDR_LEN - (vlan ? VLAN_TAG_LEN : 0);
        uint16_t v;
        v = htons(sll->sll_pkttype); memcpy(h, &v, 2);
        v = htons(sll->sll_hatype); memcpy(h + 2, &v, 2);
        v = htons(sll->sll_halen); memcpy(h + 4, &v, 2);
        memset(h + 6, 0, 8);
        memcpy(h + 6, sll->sll_addr, sll->sll_halen > 8 ? 8 : sll->sll_halen);
        if (vlan) {
            v = htons(tpid); memcpy(h + 14, &v, 2);
            v = htons(tci); memcpy(h + 16, &v, 2);
            memcpy(h + 18, &sll->sll_protocol, 2);
        } else {
            memcpy(h + 14, &sll->sll_protocol, 2);
        }
        uint32_t added = (uint32_t)(pkt - h);
        pkt = h;
        caplen += added;
        wlen += added;
    } else if (vlan && l->linktype == LINKTYPE_ETHERNET && caplen >= 12) {
        memmove(pkt - VLAN_TAG_LEN, pkt, 12);
        pkt -= VLAN_TAG_LEN;
        uint16_t v = htons(tpid);
        memcpy(pkt + 12, &v, 2);
        v = htons(tci);
        memcpy(pkt + 14, &v, 2);
        caplen += VLAN_TAG_LEN;
        wlen += VLAN_TAG_LEN;
    }
    if (caplen > l->snaplen)
        caplen = l->snaplen;
    hdr->ts = mapi_ts_from_nsec(ppd->tp_sec, ppd->tp_nsec);
    hdr->caplen = caplen;
    hdr->wlen = wlen;
    hdr->ifindex = (uint32_t)sll->sll_ifindex;
    hdr->linktype = (uint16_t)l->linktype;
    hdr->flags = 0;
    *data = pkt;
    return 1;
}

/* Waits for a block or a wake-up: 1 ready, 0 woken up or timed out, -1 capture failed. */
static int af_wait(mapi_live_t *l)
{
    struct pollfd fds[2] = {{.fd = l->fd, .events = POLLIN}, {.fd = l->efd, .events = POLLIN}};
    int rc = poll(fds, 2, POLL_MS);
    if (rc < 0)
        return errno == EINTR ? 0 : (snprintf(l->message, sizeof l->message, "%s: poll: %s", l->ifname,
                                              strerror(errno)), -1);
    if (fds[1].revents & POLLIN) {
        uint64_t value;
        if (read(l->efd, &value, sizeof value) < 0) { /* nothing to read: someone else took it */ }
        return 0;
    }
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &len);   /* reading it clears it */
        char name[IF_NAMESIZE];
        if (l->ifindex && if_indextoname(l->ifindex, name) == NULL) {
            snprintf(l->message, sizeof l->message, "%s: the interface went away", l->ifname);
            return -1;
        }
        if (err == ENETDOWN) {
            /* The interface went down; the kernel resumes the capture when it comes up. */
            snprintf(l->warning, sizeof l->warning, "%s went down during the capture", l->ifname);
            return 0;
        }
        if (err != 0) {
            snprintf(l->message, sizeof l->message, "%s: %s", l->ifname, strerror(err));
            return -1;
        }
        if (fds[0].revents & POLLNVAL) {
            snprintf(l->message, sizeof l->message, "%s: the capture socket is closed", l->ifname);
            return -1;
        }
    }
    return (fds[0].revents & POLLIN) ? 1 : 0;
}

static int af_next(mapi_live_t *l, mapi_batch_t *b)
{
    af_release(l);
    uint32_t n = 0;
    for (int round = 0; round < 2 && n == 0; round++) {
        if (round == 1) {
            int ready = af_wait(l);
            if (ready <= 0) {
                b->count = 0;
                return ready;
            }
        }
        while (n < MAPI_BATCH_MAX) {
            if (!l->cur_open) {
                struct tpacket_block_desc *bd = block_at(l, l->cur);
                if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
                    break;
                l->cur_open = 1;
                l->cur_left = bd->hdr.bh1.num_pkts;
                l->cur_pkt = (struct tpacket3_hdr *)((unsigned char *)bd + bd->hdr.bh1.offset_to_first_pkt);
            }
            if (l->cur_left == 0) {
                l->cur_open = 0;
                l->held++;
                l->cur = (l->cur + 1) % l->nblocks;
                continue;
            }
            struct tpacket3_hdr *ppd = l->cur_pkt;
            l->cur_left--;
            l->cur_pkt = (struct tpacket3_hdr *)((unsigned char *)ppd + ppd->tp_next_offset);
            if (af_packet(l, ppd, &b->hdr[n], &b->data[n]))
                n++;
        }
        if (l->cur_open && l->cur_left == 0) {
            l->cur_open = 0;
            l->held++;
            l->cur = (l->cur + 1) % l->nblocks;
        }
    }
    b->count = n;
    atomic_fetch_add_explicit(&l->delivered, n, memory_order_relaxed);
    return (int)n;
}

/* Adds what the kernel counted since the last call (it resets its counters on every read, and
 * counts drops in tp_packets too). */
static void af_refresh(mapi_live_t *l)
{
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof st;
    memset(&st, 0, sizeof st);
    if (getsockopt(l->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
        l->received += st.tp_packets;
        l->kernel_drops += st.tp_drops;
    }
    uint64_t now = l->ifindex ? interface_drops(l->ifname) : 0;
    l->if_drops = now > l->if_drops_base ? now - l->if_drops_base : 0;
}

/* ---------------------------------------------------------------------------------------------
 * libpcap
 */

static pcap_t *pcap_setup(mapi_live_t *l, char *errbuf, size_t errlen)
{
    char pcap_err[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_create(l->ifname, pcap_err);
    if (!p) {
        set_error(errbuf, errlen, "%s: %s", l->ifname, pcap_err);
        return NULL;
    }
    pcap_set_snaplen(p, (int)l->snaplen);
    pcap_set_promisc(p, l->opts.promisc != 0);
    pcap_set_timeout(p, l->opts.timeout_ms > 0 ? l->opts.timeout_ms : 1);
    pcap_set_buffer_size(p, (int)l->opts.buffer_size);
    pcap_set_immediate_mode(p, l->opts.immediate != 0);
    l->nano = pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO) == 0;
    int rc = pcap_activate(p);
    if (rc < 0) {
        const char *detail = pcap_geterr(p);
        switch (rc) {
        case PCAP_ERROR_NO_SUCH_DEVICE:
            set_error(errbuf, errlen, "%s: no such device", l->ifname);
            break;
        case PCAP_ERROR_PERM_DENIED:
            set_error(errbuf, errlen, "%s: operation not permitted: %s (%s)", l->ifname, permission_hint, detail);
            break;
        case PCAP_ERROR_PROMISC_PERM_DENIED:
            set_error(errbuf, errlen, "%s: promiscuous mode not permitted (%s)", l->ifname, detail);
            break;
        case PCAP_ERROR_IFACE_NOT_UP:
            set_error(errbuf, errlen, "%s: the interface is not up", l->ifname);
            break;
        default:
            set_error(errbuf, errlen, "%s: %s", l->ifname, detail && *detail ? detail : pcap_statustostr(rc));
        }
        pcap_close(p);
        return NULL;
    }
    if (rc > 0)
        snprintf(l->warning, sizeof l->warning, "%s: %s", l->ifname, pcap_statustostr(rc));
    if (pcap_setnonblock(p, 1, pcap_err) < 0) {
        set_error(errbuf, errlen, "%s: %s", l->ifname, pcap_err);
        pcap_close(p);
        return NULL;
    }
    return p;
}

static int pc_open(mapi_live_t *l, char *errbuf, size_t errlen)
{
    /* Checked now (device, permission, link type); capturing starts with a fresh handle at start,
     * so that nothing from before the start is delivered or counted. */
    pcap_t *p = pcap_setup(l, errbuf, errlen);
    if (!p)
        return -1;
    l->linktype = linktype_of_dlt(pcap_datalink(p));
    int snap = pcap_snapshot(p);
    if (snap > 0 && (uint32_t)snap < l->snaplen)
        l->snaplen = (uint32_t)snap;
    pcap_close(p);
    l->ifindex = if_nametoindex(l->ifname);
    /* Room for a full batch of ordinary frames plus one of the largest. */
    l->arena_size = (size_t)MAPI_BATCH_MAX * 2048 + l->snaplen;
    l->arena = malloc(l->arena_size);
    if (!l->arena) {
        set_error(errbuf, errlen, "%s: out of memory", l->ifname);
        return -1;
    }
    return 0;
}

static int pc_start(mapi_live_t *l, char *errbuf, size_t errlen)
{
    l->pcap = pcap_setup(l, errbuf, errlen);
    if (!l->pcap)
        return -1;
    l->pcap_fd = pcap_get_selectable_fd(l->pcap);
    enable_stack_timestamps(l->pcap_fd);   /* on Linux, libpcap's descriptor is its AF_PACKET socket */
    clock_gettime(CLOCK_MONOTONIC_COARSE, &l->stats_at);
    return 0;
}

/* 1 readable, 0 woken up or timed out. */
static int pc_wait(mapi_live_t *l)
{
    struct pollfd fds[2] = {{.fd = l->pcap_fd, .events = POLLIN}, {.fd = l->efd, .events = POLLIN}};
    if (l->pcap_fd < 0) {
        /* No selectable descriptor on this platform: a short sleep bounds the wait instead. */
        poll(&fds[1], 1, l->opts.timeout_ms > 0 ? l->opts.timeout_ms : 1);
        return 1;
    }
    int rc = poll(fds, 2, POLL_MS);
    if (rc <= 0)
        return 0;
    if (fds[1].revents & POLLIN) {
        uint64_t value;
        if (read(l->efd, &value, sizeof value) < 0) { /* already consumed */ }
        return 0;
    }
    return 1;
}

static int pc_next(mapi_live_t *l, mapi_batch_t *b)
{
    uint32_t n = 0;
    size_t used = 0;
    for (int round = 0; round < 2 && n == 0; round++) {
        if (round == 1 && pc_wait(l) == 0)
            break;
        while (n < MAPI_BATCH_MAX && l->arena_size - used >= l->snaplen) {
            struct pcap_pkthdr *h;
            const u_char *data;
            int rc = pcap_next_ex(l->pcap, &h, &data);
            if (rc == 0 || rc == PCAP_ERROR_BREAK)
                break;
            if (rc < 0) {
                snprintf(l->message, sizeof l->message, "%s: %s", l->ifname, pcap_geterr(l->pcap));
                if (n == 0) {
                    b->count = 0;
                    return -1;
                }
                break;   /* deliver what we have; the error comes back at the next call */
            }
            uint32_t caplen = h->caplen < l->snaplen ? h->caplen : l->snaplen;
            unsigned char *dst = l->arena + used;
            memcpy(dst, data, caplen);
            used += (caplen + 15u) & ~(size_t)15;
            mapi_pkthdr_t *hdr = &b->hdr[n];
            uint64_t sec = (uint64_t)h->ts.tv_sec;
            uint32_t frac = (uint32_t)h->ts.tv_usec;
            hdr->ts = l->nano ? mapi_ts_from_nsec(sec, frac) : mapi_ts_from_usec(sec, frac);
            hdr->caplen = caplen;
            hdr->wlen = h->len;
            hdr->ifindex = l->ifindex;
            hdr->linktype = (uint16_t)l->linktype;
            hdr->flags = 0;
            b->data[n++] = dst;
        }
    }
    b->count = n;
    atomic_fetch_add_explicit(&l->delivered, n, memory_order_relaxed);
    return (int)n;
}

/* libpcap's counters are 32-bit and wrap: carry the wrap-arounds into 64 bits (this runs at
 * least once a second, long before a counter can wrap twice). */
static void pc_refresh(mapi_live_t *l)
{
    struct pcap_stat ps;
    memset(&ps, 0, sizeof ps);
    if (!l->pcap || pcap_stats(l->pcap, &ps) != 0)
        return;
    if (ps.ps_recv < (uint32_t)l->received)
        l->received += 1ull << 32;
    l->received = (l->received & ~0xFFFFFFFFull) | ps.ps_recv;
    if (ps.ps_drop < (uint32_t)l->kernel_drops)
        l->kernel_drops += 1ull << 32;
    l->kernel_drops = (l->kernel_drops & ~0xFFFFFFFFull) | ps.ps_drop;
    l->if_drops = ps.ps_ifdrop;
}

/* ---------------------------------------------------------------------------------------------
 * The common face
 */

mapi_live_t *mapi_live_open(const char *ifname, const mapi_live_options_t *options, char *errbuf, size_t errlen)
{
    if (!ifname || !*ifname) {
        set_error(errbuf, errlen, "no interface given");
        return NULL;
    }
    if (options->backend != MAPI_LIVE_AFPACKET && options->backend != MAPI_LIVE_PCAP) {
        set_error(errbuf, errlen, "%s: unknown capture backend %d", ifname, options->backend);
        return NULL;
    }
    mapi_live_t *l = live_new(ifname, options);
    if (!l) {
        set_error(errbuf, errlen, "%s: out of memory", ifname);
        return NULL;
    }
    if (options->fanout != 0 && (options->backend != MAPI_LIVE_AFPACKET || options->fanout < 0 || options->fanout > 65535)) {
        set_error(errbuf, errlen, "%s: a fanout group (1..65535) needs the afpacket backend", ifname);
        mapi_live_close(l);
        return NULL;
    }
    l->backend = options->backend;
    l->snaplen = options->snaplen == 0 || options->snaplen > MAX_SNAPLEN ? MAX_SNAPLEN : options->snaplen;
    if (l->opts.buffer_size < 65536)
        l->opts.buffer_size = 65536;
    int rc = l->backend == MAPI_LIVE_AFPACKET ? af_open(l, errbuf, errlen) : pc_open(l, errbuf, errlen);
    if (rc < 0) {
        mapi_live_close(l);
        return NULL;
    }
    return l;
}

int mapi_live_start(mapi_live_t *l, char *errbuf, size_t errlen)
{
    if (l->started)
        return 0;
    int rc = l->backend == MAPI_LIVE_AFPACKET ? af_start(l, errbuf, errlen) : pc_start(l, errbuf, errlen);
    if (rc == 0)
        l->started = 1;
    return rc;
}

/* Brings the 64-bit counters up to date; the caller holds stats_lock. */
static void refresh_stats(mapi_live_t *l)
{
    if (!l->started)
        return;
    if (l->backend == MAPI_LIVE_AFPACKET)
        af_refresh(l);
    else
        pc_refresh(l);
    clock_gettime(CLOCK_MONOTONIC_COARSE, &l->stats_at);
}

int mapi_live_next(mapi_live_t *l, mapi_batch_t *b)
{
    if (!l->started) {
        b->count = 0;
        return 0;
    }
    /* Once a second the capture thread itself reads the 32-bit counters, so they never wrap
     * unseen however long nobody asks for statistics. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    if (now.tv_sec > l->stats_at.tv_sec + 1 ||
        (now.tv_sec == l->stats_at.tv_sec + 1 && now.tv_nsec >= l->stats_at.tv_nsec)) {
        pthread_mutex_lock(&l->stats_lock);
        refresh_stats(l);
        pthread_mutex_unlock(&l->stats_lock);
    }
    return l->backend == MAPI_LIVE_AFPACKET ? af_next(l, b) : pc_next(l, b);
}

void mapi_live_wakeup(mapi_live_t *l)
{
    uint64_t one = 1;
    if (write(l->efd, &one, sizeof one) < 0) { /* the counter is already non-zero: awake anyway */ }
}

int mapi_live_stats(mapi_live_t *l, mapi_live_stats_t *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_lock(&l->stats_lock);
    refresh_stats(l);
    s->received = l->received;
    s->kernel_drops = l->kernel_drops;
    s->if_drops = l->if_drops;
    pthread_mutex_unlock(&l->stats_lock);
    if (l->backend == MAPI_LIVE_AFPACKET) {
        /* our own copies of packets sent on loopback reached the socket but are not captures */
        uint64_t skipped = atomic_load_explicit(&l->skipped, memory_order_relaxed);
        s->received = s->received > skipped ? s->received - skipped : 0;
    }
    s->delivered = atomic_load_explicit(&l->delivered, memory_order_relaxed);
    return 0;
}

int mapi_live_backend(const mapi_live_t *l) { return l->backend; }
uint32_t mapi_live_linktype(const mapi_live_t *l) { return l->linktype; }
uint32_t mapi_live_snaplen(const mapi_live_t *l) { return l->snaplen; }
uint32_t mapi_live_ifindex(const mapi_live_t *l) { return l->ifindex; }
const char *mapi_live_message(const mapi_live_t *l) { return l->message; }
const char *mapi_live_warning(const mapi_live_t *l) { return l->warning; }

uint32_t mapi_live_buffer_size(const mapi_live_t *l)
{
    return l->backend == MAPI_LIVE_AFPACKET ? (uint32_t)l->ring_size : l->opts.buffer_size;
}

void mapi_live_close(mapi_live_t *l)
{
    if (!l)
        return;
    if (l->ring)
        munmap(l->ring, l->ring_size);
    if (l->fd >= 0)
        close(l->fd);
    if (l->pcap)
        pcap_close(l->pcap);
    if (l->efd >= 0)
        close(l->efd);
    free(l->arena);
    pthread_mutex_destroy(&l->stats_lock);
    free(l);
}

/* ---------------------------------------------------------------------------------------------
 * Discovery
 */

static int prefix_length(const struct sockaddr *mask)
{
    if (!mask)
        return -1;
    const unsigned char *bytes;
    size_t len;
    if (mask->sa_family == AF_INET) {
        bytes = (const unsigned char *)&((const struct sockaddr_in *)mask)->sin_addr;
        len = 4;
    } else if (mask->sa_family == AF_INET6) {
        bytes = (const unsigned char *)&((const struct sockaddr_in6 *)mask)->sin6_addr;
        len = 16;
    } else {
        return -1;
    }
    int bits = 0;
    for (size_t i = 0; i < len; i++)
        bits += __builtin_popcount(bytes[i]);
    return bits;
}

int mapi_live_interfaces(mapi_live_if_t *out, int max, char *errbuf, size_t errlen)
{
    char pcap_err[PCAP_ERRBUF_SIZE] = "";
    pcap_if_t *all = NULL;
    if (pcap_findalldevs(&all, pcap_err) < 0) {
        set_error(errbuf, errlen, "pcap_findalldevs: %s", pcap_err);
        return -1;
    }
    int count = 0;
    for (pcap_if_t *d = all; d; d = d->next, count++) {
        if (count >= max)
            continue;
        mapi_live_if_t *e = &out[count];
        memset(e, 0, sizeof *e);
        snprintf(e->name, sizeof e->name, "%s", d->name);
        snprintf(e->description, sizeof e->description, "%s", d->description ? d->description : "");
        e->flags = d->flags;
        for (pcap_addr_t *a = d->addresses; a && e->naddresses < MAPI_LIVE_MAX_ADDRESSES; a = a->next) {
            if (!a->addr || (a->addr->sa_family != AF_INET && a->addr->sa_family != AF_INET6))
                continue;
            char text[INET6_ADDRSTRLEN] = "";
            const void *where = a->addr->sa_family == AF_INET
                                    ? (const void *)&((const struct sockaddr_in *)a->addr)->sin_addr
                                    : (const void *)&((const struct sockaddr_in6 *)a->addr)->sin6_addr;
            if (!inet_ntop(a->addr->sa_family, where, text, sizeof text))
                continue;
            int bits = prefix_length(a->netmask);
            char *slot = e->addresses[e->naddresses++];
            if (bits >= 0)
                snprintf(slot, 64, "%s/%d", text, bits);
            else
                snprintf(slot, 64, "%s", text);
        }
    }
    pcap_freealldevs(all);
    return count;
}
