// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* dps.bpf.c — tcx/TC (SCHED_CLS, direct-action) programs that snapshot every packet into a ring
 * buffer. The same program attaches as a tcx link (Linux 6.6+) or a clsact filter.
 *
 * One dps_packet_record per IPv4/IPv6 packet: addresses, ports, L4 protocol, TCP flags, the full L4
 * payload length, and the first DPS_SNAPSHOT_MAX bytes of L4 payload. The programs never change a
 * packet's fate: every path returns TC_ACT_UNSPEC (tcx: TCX_NEXT), so the next program or filter
 * decides, as if dps were not there. Nothing is dropped uncounted: see DPS_CTR_*.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "dps_record.h"

DPS_ASSERT_LAYOUT

#define MAX_VLAN_TAGS 2
#define MAX_MPLS_LABELS 6
#define PPP_IPV4 0x0021
#define PPP_IPV6 0x0057
#define MAX_IPV6_EXT_HEADERS 6
#define MAX_GTP_EXTENSIONS 4
/* What a tunnel header is followed by (tunnel_header's *next) */
#define DPS_NEXT_ETHERTYPE 0 /* what *type names (ETH_P_TEB: an Ethernet frame) */
#define DPS_NEXT_IP 1        /* IP, its version in the first nibble */
#define DPS_NEXT_80211 2     /* an 802.11 frame */
#define VXLAN_PORT 4789
#define GENEVE_PORT 6081
#define GTPU_PORT 2152
#define CAPWAP_DATA_PORT 5247

/* Set by user space before load (bpf_map__set_max_entries); 8 MiB by default. */
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, DPS_CTR_MAX);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

/* Batched wakeups. Waking the consumer for every record costs the sender an irq_work and the
 * consumer an epoll round trip per packet or two. Records are submitted with BPF_RB_NO_WAKEUP, and
 * the consumer is woken only when the ring's fill level crosses 1/2^DPS_WAKEUP_SHIFT of its size
 * (and on every check once it is a quarter full, so a missed crossing cannot cost records; on a
 * ring of a megabyte or more the fast path checks on every DPS_WAKEUP_EVERYth record of a CPU,
 * otherwise every record is checked).
 * Below that level the consumer still reads at every poll timeout (100 ms): no record waits
 * longer than that. */
#define DPS_WAKEUP_SHIFT 3
#define DPS_RECORD_SPACE (DPS_RECORD_SIZE + 8) /* record + ring-buffer header */

#define DPS_WAKEUP_EVERY 16 /* the fast path checks the level on every 16th record of a CPU */
/* ...on a ring this large or larger. The level is 1/8 of the ring and the forced wakeups start at
 * 1/4: on a megabyte, 546 records apart, and another 3,276 to full. The records written between
 * checks, at most 15 per CPU, stay far below both (so a check crosses the level, or the next
 * check past a quarter wakes the consumer) for any likely number of CPUs. On a smaller ring the
 * fast path checks every record, as the general path does. */
#define DPS_WAKEUP_SPACED_MIN (1 << 20)

/* The ring's size, kept by the first check (bpf_ringbuf_query); 0 before it, which counts as a
 * small ring. A global in .bss: one load instead of a helper call. */
__u64 dps_ring_size = 0;

/* The flags for a record submitted by a path that checks the level on every `every`th record of
 * a CPU (the general path: every record). */
static __always_inline __u64 wakeup_flags(__u32 every)
{
    __u64 size = bpf_ringbuf_query(&events, BPF_RB_RING_SIZE);
    __u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
    if (dps_ring_size != size) /* written once: a store on every check would bounce its line */
        dps_ring_size = size;
    __u64 level = size >> DPS_WAKEUP_SHIFT;
    if (avail >= size >> 2)
        return BPF_RB_FORCE_WAKEUP;
    /* Only the checks that cross the level (the records between two checks, twice, for records
     * reserved on other CPUs). */
    if (avail >= level && avail < level + 2 * every * DPS_RECORD_SPACE)
        return BPF_RB_FORCE_WAKEUP;
    return BPF_RB_NO_WAKEUP;
}

/* Which path the program takes, DPS_PATH_* (dps_record.h): set before load by tests only
 * (ProgramTestRun), so the fast path, the general path and the general path's header copies are
 * each checked on the same frames; and by the datapath benchmark's floors (DatapathFloor). The
 * verifier sees the loaded value as a constant and drops the branches not taken. */
const volatile __u32 dps_path = DPS_PATH_ATTACHED;

/* Headers sit in the skb's linear part almost always: read them straight from the packet, and
 * through bpf_skb_load_bytes only when they are not there (paged data, or a header beyond
 * DPS_DIRECT_MAX_OFF). A helper call per header was a measured part of the per-packet cost. */
#define DPS_DIRECT_MAX_OFF 1024

static __always_inline int load(struct __sk_buff *skb, __u32 off, void *to, __u32 len)
{
    void *data = (void *)(long)skb->data;
    void *end = (void *)(long)skb->data_end;
    if (dps_path != DPS_PATH_COPY && off <= DPS_DIRECT_MAX_OFF && data + off + len <= end) {
        __builtin_memcpy(to, data + off, len);
        return 0;
    }
    return bpf_skb_load_bytes(skb, off, to, len);
}

static __always_inline void count(__u32 index)
{
    __u64 *value = bpf_map_lookup_elem(&counters, &index);
    if (value)
        *value += 1;
}

struct parsed {
    __u32 l4_off;       /* offset of the L4 header */
    __u32 ip_end;       /* offset one past the IP datagram (skb->len, less link padding) */
    __u8 proto;
    __u8 version;
    __u8 fragment;      /* non-first fragment: no L4 header */
};

/* The parsers below that the program calls from several places, or after many paths, are
 * global functions: the verifier checks each once, for any arguments, and their callers see
 * what they return as unknown values, so the paths before a call do not multiply the paths
 * after it. (Inlined, the program no longer fit the verifier's limit of a million
 * instructions once tunnels were read.) Their pointer arguments are checked for NULL, as the
 * verifier asks of global functions. */

/* The link layer's outcome: in, whether a VLAN ID was already taken (skb->vlan_tci) and that ID;
 * out, the EtherType of what follows (network order) and the outermost VLAN ID. */
struct link {
    __u32 tagged;
    __u16 vlan;
    __be16 proto;
};

/* What follows an EtherType at `off`: up to MAX_VLAN_TAGS 802.1Q/802.1ad tags (the first one
 * sets link->vlan unless link->tagged), then a PPPoE session header or an MPLS label stack before
 * IP. Returns the L3 offset and sets link->proto, or -1. */
__attribute__((noinline)) int dps_parse_ethertype(struct __sk_buff *skb, __u32 off, __u32 ethertype,
                                                  struct link *link)
{
    if (!skb || !link)
        return -1;
    __be16 type = ethertype;
    int tagged = link->tagged;
#pragma unroll
    for (int i = 0; i < MAX_VLAN_TAGS; i++) {
        if (type != bpf_htons(ETH_P_8021Q) && type != bpf_htons(ETH_P_8021AD))
            break;
        __be16 tag[2]; /* TCI, encapsulated type */
        if (load(skb, off, tag, sizeof(tag)) < 0)
            return -1;
        if (!tagged) { /* the outermost tag, even with ID 0 (priority only) */
            link->vlan = bpf_ntohs(tag[0]) & 0x0FFF;
            tagged = 1;
        }
        type = tag[1];
        off += sizeof(tag);
    }
    if (type == bpf_htons(ETH_P_PPP_SES)) {
        /* PPPoE session (RFC 2516): version/type, code, session id, length, then the PPP
         * protocol. IP inside is read; other PPP protocols (LCP, ...) stay not IP. */
        __u8 pppoe[8];
        if (load(skb, off, pppoe, sizeof(pppoe)) < 0)
            return -1;
        __u16 ppp = pppoe[6] << 8 | pppoe[7];
        if (ppp == PPP_IPV4 || ppp == PPP_IPV6) {
            type = bpf_htons(ppp == PPP_IPV4 ? ETH_P_IP : ETH_P_IPV6);
            off += sizeof(pppoe);
        }
    } else if (type == bpf_htons(ETH_P_MPLS_UC) || type == bpf_htons(ETH_P_MPLS_MC)) {
        /* An MPLS label stack (RFC 3032): labels up to the bottom-of-stack bit, then IP when the
         * first nibble says 4 or 6 (MPLS names no payload type). */
        int bottom = 0;
#pragma unroll
        for (int i = 0; i < MAX_MPLS_LABELS; i++) {
            __u8 label[4];
            if (load(skb, off, label, sizeof(label)) < 0)
                return -1;
            off += sizeof(label);
            if (label[2] & 1) {
                bottom = 1;
                break;
            }
        }
        __u8 first;
        if (!bottom || load(skb, off, &first, 1) < 0)
            return -1;
        if (first >> 4 == 4)
            type = bpf_htons(ETH_P_IP);
        else if (first >> 4 == 6)
            type = bpf_htons(ETH_P_IPV6);
    }
    link->proto = type;
    return off;
}

/* The Ethernet frame at the start of the packet; returns the L3 offset and fills *link (the
 * outermost tag's VLAN ID, 0 untagged), or -1. On TC hooks the kernel has usually taken the outer
 * tag out of the bytes into skb->vlan_tci (hardware or software offload): that one is the
 * outermost; a tag still in the bytes comes after it. */
static __always_inline int parse_ethernet(struct __sk_buff *skb, struct link *link)
{
    link->tagged = skb->vlan_present != 0;
    link->vlan = link->tagged ? skb->vlan_tci & 0x0FFF : 0;
    struct ethhdr eth;
    if (load(skb, 0, &eth, sizeof(eth)) < 0)
        return -1;
    return dps_parse_ethertype(skb, sizeof(eth), eth.h_proto, link);
}

/* The IP parsers read the datagram at `off` of a packet that ends at `limit` (skb->len, or the
 * end of the outer datagram for a tunnel's inner one). */
static __always_inline int parse_ipv4(struct __sk_buff *skb, __u32 off, __u32 limit, struct parsed *p,
                                      struct dps_packet_header *rec)
{
    struct iphdr ip;
    if (load(skb, off, &ip, sizeof(ip)) < 0)
        return -1;
    __u32 hlen = ip.ihl * 4;
    __u32 total = bpf_ntohs(ip.tot_len);
    if (ip.version != 4 || hlen < sizeof(ip) || (total != 0 && total < hlen))
        return -1;
    /* tot_len trims Ethernet padding; 0 (TSO/big packets) means "the rest of the skb"; beyond the
     * skb it is a corrupt header (ip_rcv drops such packets too). */
    if (total != 0 && off + total > limit)
        return -1;
    __builtin_memcpy(rec->src_addr, &ip.saddr, 4);
    __builtin_memcpy(rec->dst_addr, &ip.daddr, 4);
    p->version = 4;
    p->proto = ip.protocol;
    p->l4_off = off + hlen;
    p->ip_end = total != 0 ? off + total : limit;
    p->fragment = (bpf_ntohs(ip.frag_off) & 0x1FFF) != 0;
    return 0;
}

static __always_inline int parse_ipv6(struct __sk_buff *skb, __u32 off, __u32 limit, struct parsed *p,
                                      struct dps_packet_header *rec)
{
    struct ipv6hdr ip6;
    if (load(skb, off, &ip6, sizeof(ip6)) < 0)
        return -1;
    if (ip6.version != 6)
        return -1;
    __builtin_memcpy(rec->src_addr, &ip6.saddr, 16);
    __builtin_memcpy(rec->dst_addr, &ip6.daddr, 16);
    __u32 plen = bpf_ntohs(ip6.payload_len);
    __u32 end = off + sizeof(ip6) + plen;
    /* As tot_len: 0 (jumbograms, big packets) is "the rest of the skb", beyond it corrupt. */
    if (plen != 0 && end > limit)
        return -1;
    p->version = 6;
    p->ip_end = plen != 0 ? end : limit;
    p->fragment = 0;
    __u8 next = ip6.nexthdr;
    off += sizeof(ip6);
#pragma unroll
    for (int i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
        if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS) {
            __u8 ext[2]; /* next header, length in 8-octet units beyond the first */
            if (load(skb, off, ext, sizeof(ext)) < 0)
                return -1;
            next = ext[0];
            off += (ext[1] + 1) * 8;
        } else if (next == IPPROTO_AH) {
            __u8 ext[2]; /* length in 4-octet units, minus 2 */
            if (load(skb, off, ext, sizeof(ext)) < 0)
                return -1;
            next = ext[0];
            off += (ext[1] + 2) * 4;
        } else if (next == IPPROTO_FRAGMENT) {
            __u8 frag[4];
            if (load(skb, off, frag, sizeof(frag)) < 0)
                return -1;
            next = frag[0];
            off += 8;
            if (((frag[2] << 8 | frag[3]) & 0xFFF8) != 0)
                p->fragment = 1;
        } else {
            break;
        }
    }
    p->proto = next;
    p->l4_off = off;
    return 0;
}

/* The IP datagram at `off`, ending by `limit`, of the version p->version says (4 or 6; the BPF
 * calling convention has no room for a sixth argument): 0, or -1 when its header is cut short or
 * invalid. */
__attribute__((noinline)) int dps_parse_ip(struct __sk_buff *skb, __u32 off, __u32 limit, struct parsed *p,
                                           struct dps_packet_header *h)
{
    if (!skb || !p || !h)
        return -1;
    return p->version == 4 ? parse_ipv4(skb, off, limit, p, h) : parse_ipv6(skb, off, limit, p, h);
}

static __always_inline __u8 ip_version(__be16 proto)
{
    return proto == bpf_htons(ETH_P_IP) ? 4 : 6;
}

/* Reads ports, flags and the payload offset of TCP/UDP; other protocols keep ports 0 and their
 * whole L4 part counts as payload. */
static __always_inline __u32 parse_l4(struct __sk_buff *skb, struct parsed *p,
                                      struct dps_packet_header *rec)
{
    __u32 off = p->l4_off;
    if (p->fragment) {
        rec->flags |= DPS_F_FRAGMENT;
        return off;
    }
    if (p->proto == IPPROTO_TCP) {
        __u8 tcp[14]; /* ports, seq, ack, data offset, flags */
        if (off + 20 > p->ip_end || load(skb, off, tcp, sizeof(tcp)) < 0) {
            rec->flags |= DPS_F_TRUNCATED;
            return p->ip_end;
        }
        rec->src_port = tcp[0] << 8 | tcp[1];
        rec->dst_port = tcp[2] << 8 | tcp[3];
        rec->tcp_flags = tcp[13];
        __u32 doff = (tcp[12] >> 4) * 4;
        return off + (doff < 20 ? 20 : doff);
    }
    if (p->proto == IPPROTO_UDP) {
        __u8 udp[4];
        if (off + 8 > p->ip_end || load(skb, off, udp, sizeof(udp)) < 0) {
            rec->flags |= DPS_F_TRUNCATED;
            return p->ip_end;
        }
        rec->src_port = udp[0] << 8 | udp[1];
        rec->dst_port = udp[2] << 8 | udp[3];
        return off + 8;
    }
    return off;
}

/* Tunnels, one level deep: the outer packet's protocol or UDP port names the tunnel; its
 * header is read, then the inner frame or packet, which the record describes (the outer
 * addresses go to outer_src/outer_dst). A tunnel header or inner IP header that cannot be read
 * leaves the record describing the outer packet, flagged DPS_F_TUNNEL_OUTER and counted; a tunnel
 * carrying no IP counts as not IP (decapsulate). */
/* The tunnel a UDP datagram's ports name (both paths ask this). */
static __always_inline __u8 udp_tunnel(__u16 src_port, __u16 dst_port)
{
    if (dst_port == VXLAN_PORT)
        return DPS_TUNNEL_VXLAN;
    if (dst_port == GENEVE_PORT)
        return DPS_TUNNEL_GENEVE;
    if (dst_port == GTPU_PORT)
        return DPS_TUNNEL_GTPU;
    if (dst_port == CAPWAP_DATA_PORT || src_port == CAPWAP_DATA_PORT)
        return DPS_TUNNEL_CAPWAP;
    return DPS_TUNNEL_NONE;
}

static __always_inline __u8 tunnel_of(const struct parsed *p, const struct dps_packet_header *h)
{
    if (p->fragment)
        return DPS_TUNNEL_NONE;
    if (p->proto == IPPROTO_IPIP)
        return DPS_TUNNEL_IPIP;
    if (p->proto == IPPROTO_IPV6)
        return DPS_TUNNEL_SIT;
    if (p->proto == IPPROTO_GRE)
        return DPS_TUNNEL_GRE;
    if (p->proto != IPPROTO_UDP || (h->flags & DPS_F_TRUNCATED))
        return DPS_TUNNEL_NONE;
    return udp_tunnel(h->src_port, h->dst_port);
}

static __always_inline __u32 be24(const __u8 *b)
{
    return b[0] << 16 | b[1] << 8 | b[2];
}

/* The tunnel header at `off` (ending by `limit`): returns the offset of what it carries and sets
 * *next to its kind (DPS_NEXT_*) and *type to its EtherType (network order); sets
 * in->tunnel_type (GRE may turn out ERSPAN) and the tunnel ID; -1 when it cannot be read. */
static __always_inline int tunnel_header(struct __sk_buff *skb, __u32 off, __u32 limit, __u8 tunnel,
                                         struct dps_packet_header *in, int *next, __be16 *type)
{
    in->tunnel_type = tunnel;
    *next = DPS_NEXT_ETHERTYPE;
    if (tunnel == DPS_TUNNEL_IPIP || tunnel == DPS_TUNNEL_SIT) {
        *type = bpf_htons(tunnel == DPS_TUNNEL_IPIP ? ETH_P_IP : ETH_P_IPV6);
        return off;
    }
    if (tunnel == DPS_TUNNEL_GRE) {
        /* RFC 2784/2890: C R K S flags, version 0; then checksum, key, sequence as flagged. */
        __u8 gre[8];
        if (off + 4 > limit || load(skb, off, gre, 4) < 0)
            return -1;
        if ((gre[0] & 0x40) || (gre[1] & 0x07)) /* routing present (RFC 1701), version != 0 */
            return -1;
        __u32 key_off = off + 4 + ((gre[0] & 0x80) ? 4 : 0);
        __u32 end = key_off + ((gre[0] & 0x20) ? 4 : 0) + ((gre[0] & 0x10) ? 4 : 0);
        if (end > limit)
            return -1;
        if (gre[0] & 0x20) {
            if (load(skb, key_off, &gre[4], 4) < 0)
                return -1;
            in->tunnel_id = (__u32)gre[4] << 24 | be24(&gre[5]);
            in->tunnel_flags = DPS_TUNNEL_F_ID;
        }
        __be16 protocol;
        __builtin_memcpy(&protocol, &gre[2], 2);
        if (protocol == bpf_htons(ETH_P_ERSPAN) && !(gre[0] & 0x10)) {
            /* ERSPAN type I: no header, the mirrored frame. */
            in->tunnel_type = DPS_TUNNEL_ERSPAN;
            in->tunnel_id = 0;
            in->tunnel_flags = 0;
            *type = bpf_htons(ETH_P_TEB);
            return end;
        }
        if (protocol == bpf_htons(ETH_P_ERSPAN) || protocol == bpf_htons(ETH_P_ERSPAN2)) {
            /* Type II: 8 bytes, version 1; type III: 12 bytes, version 2, frame type 0 (Ethernet)
             * and an 8-byte platform subheader when O is set. The 10-bit session ID is the ID. */
            int three = protocol == bpf_htons(ETH_P_ERSPAN2);
            __u8 erspan[12];
            if (end + 12 > limit || load(skb, end, erspan, 12) < 0)
                return -1;
            if (erspan[0] >> 4 != (three ? 2 : 1))
                return -1;
            __u32 header = 8;
            if (three) {
                if ((erspan[10] >> 2) & 0x1F) /* frame type */
                    return -1;
                header = (erspan[11] & 1) ? 20 : 12;
            }
            in->tunnel_type = DPS_TUNNEL_ERSPAN;
            in->tunnel_id = (erspan[2] & 0x03) << 8 | erspan[3];
            in->tunnel_flags = DPS_TUNNEL_F_ID;
            *type = bpf_htons(ETH_P_TEB);
            return end + header;
        }
        *type = protocol;
        return end;
    }
    /* The UDP tunnels: the shortest header is 8 bytes. */
    __u8 h[12];
    if (off + 8 > limit || load(skb, off, h, 8) < 0)
        return -1;
    if (tunnel == DPS_TUNNEL_VXLAN) {
        /* RFC 7348: flags (I set), reserved, VNI, reserved; an Ethernet frame. */
        if (!(h[0] & 0x08))
            return -1;
        in->tunnel_id = be24(&h[4]);
        in->tunnel_flags = DPS_TUNNEL_F_ID;
        *type = bpf_htons(ETH_P_TEB);
        return off + 8;
    }
    if (tunnel == DPS_TUNNEL_GENEVE) {
        /* RFC 8926: version 0, options length (4-byte units), protocol type, VNI. */
        __u32 end = off + 8 + (h[0] & 0x3F) * 4;
        if (h[0] >> 6 || end > limit)
            return -1;
        in->tunnel_id = be24(&h[4]);
        in->tunnel_flags = DPS_TUNNEL_F_ID;
        __builtin_memcpy(type, &h[2], 2);
        return end;
    }
    if (tunnel == DPS_TUNNEL_GTPU) {
        /* 3GPP TS 29.281: version 1, PT 1, message G-PDU (255), TEID; 4 more bytes when E, S or
         * PN is set, then extension headers while E says so (length in 4-byte units, the next
         * type in their last byte). */
        if (h[0] >> 5 != 1 || !(h[0] & 0x10) || h[1] != 0xFF)
            return -1;
        in->tunnel_id = (__u32)h[4] << 24 | be24(&h[5]);
        in->tunnel_flags = DPS_TUNNEL_F_ID;
        __u32 end = off + 8;
        if (h[0] & 0x07) {
            if (end + 4 > limit || load(skb, end, &h[8], 4) < 0)
                return -1;
            end += 4;
            __u8 next = (h[0] & 0x04) ? h[11] : 0;
#pragma unroll
            for (int i = 0; i < MAX_GTP_EXTENSIONS; i++) {
                if (next == 0)
                    break;
                __u8 units;
                if (end + 1 > limit || load(skb, end, &units, 1) < 0 || units == 0)
                    return -1;
                end += units * 4;
                if (end > limit || load(skb, end - 1, &next, 1) < 0)
                    return -1;
            }
            if (next != 0)
                return -1;
        }
        *next = DPS_NEXT_IP;
        return end;
    }
    /* CAPWAP data (RFC 5415): preamble 0 (version 0, type 0), HLEN (4-byte units), RID, WBID,
     * T F L W M K flags. An 802.3 frame (T 0) or a native 802.11 one (T 1, WBID 1); not a
     * fragment (F) or keep-alive (K). */
    __u32 word = (__u32)h[0] << 24 | be24(&h[1]);
    __u32 hlen = ((word >> 19) & 0x1F) * 4;
    int native = (word >> 8) & 1;
    if (h[0] != 0 || hlen < 8 || (word & 0x88) || off + hlen > limit)
        return -1;
    if (native && ((word >> 9) & 0x1F) != 1)
        return -1;
    *next = native ? DPS_NEXT_80211 : DPS_NEXT_ETHERTYPE;
    *type = bpf_htons(ETH_P_TEB);
    return off + hlen;
}

/* An 802.11 data frame at `off`, as PacketParser.parse80211: the EtherType of its LLC/SNAP
 * header into *type; returns where the packet starts, or -1 for what carries no readable IP. */
static __always_inline int parse_80211(struct __sk_buff *skb, __u32 off, __be16 *type)
{
    __u8 hdr[24];
    if (load(skb, off, hdr, sizeof(hdr)) < 0)
        return -1;
    __u8 control = hdr[0], flags = hdr[1];
    /* Data, with a body, not protected, the first fragment. */
    if ((control & 0x0F) != 0x08 || (control & 0x40) || (flags & 0x40) || (hdr[22] & 0x0F))
        return -1;
    off += 24;
    if ((flags & 0x03) == 0x03) /* a fourth address */
        off += 6;
    if (control & 0x80) { /* QoS control (not an A-MSDU), then HT control when Order is set */
        __u8 qos;
        if (load(skb, off, &qos, 1) < 0 || (qos & 0x80))
            return -1;
        off += 2;
        if (flags & 0x80)
            off += 4;
    }
    __u8 snap[8]; /* AA AA 03, OUI 00 00 00 or 00 00 F8, EtherType */
    if (load(skb, off, snap, sizeof(snap)) < 0)
        return -1;
    if (snap[0] != 0xAA || snap[1] != 0xAA || snap[2] != 0x03 || snap[3] != 0 || snap[4] != 0 ||
        (snap[5] != 0 && snap[5] != 0xF8))
        return -1;
    __builtin_memcpy(type, &snap[6], 2);
    return off + sizeof(snap);
}

#define DPS_DECAP_UNREADABLE -1 /* the tunnel header or the inner IP header cannot be read */
#define DPS_DECAP_NOT_IP -2     /* what the tunnel carries is not IP (ARP, ...), or its link header is cut */

/* The inner packet of `tunnel`, whose header starts at `off` of the outer datagram that ends at
 * `limit`, parsed into `in` and `q` as the outer one was; 0, or DPS_DECAP_*. What follows the
 * tunnel header is judged as a frame on the wire would be: a link layer that holds no IP is not
 * IP; but an inner IP header that cannot be read (a tunnel packet fragmented, cut) leaves the
 * outer packet to be recorded. */
static __always_inline int decapsulate(struct __sk_buff *skb, __u8 tunnel, __u32 off, __u32 limit,
                                       struct parsed *q, struct dps_packet_header *in)
{
    int next;
    __be16 type;
    int inner = tunnel_header(skb, off, limit, tunnel, in, &next, &type);
    if (inner < 0)
        return DPS_DECAP_UNREADABLE;
    __u32 at = inner;
    if (next == DPS_NEXT_80211) {
        int l3 = parse_80211(skb, at, &type);
        if (l3 < 0)
            return DPS_DECAP_NOT_IP;
        at = l3;
    } else if (next == DPS_NEXT_IP) {
        __u8 first;
        if (load(skb, at, &first, 1) < 0)
            return DPS_DECAP_NOT_IP;
        type = first >> 4 == 4 ? bpf_htons(ETH_P_IP) : first >> 4 == 6 ? bpf_htons(ETH_P_IPV6) : 0;
    } else if (type == bpf_htons(ETH_P_TEB)) {
        struct ethhdr eth;
        if (load(skb, at, &eth, sizeof(eth)) < 0)
            return DPS_DECAP_NOT_IP;
        type = eth.h_proto;
        at += sizeof(eth);
    }
    struct link link = {.tagged = 1}; /* inner tags are skipped: the record keeps the outer one */
    int l3 = dps_parse_ethertype(skb, at, type, &link);
    if (l3 < 0 || (link.proto != bpf_htons(ETH_P_IP) && link.proto != bpf_htons(ETH_P_IPV6)))
        return DPS_DECAP_NOT_IP;
    q->version = ip_version(link.proto);
    return dps_parse_ip(skb, l3, limit, q, in) < 0 ? DPS_DECAP_UNREADABLE : 0;
}

/* The tunnel's inner packet, in place of the outer one in *head and *p: returns where its payload
 * starts, or DPS_DECAP_* (head and p as they were). A global function, so the
 * verifier checks it once, not once for every path through the outer headers before it. The
 * inner packet is parsed into *head itself (the stack has no room for a second header): what
 * the parse may change is kept to be put back. */
__attribute__((noinline)) int dps_decapsulate(struct __sk_buff *skb, __u32 tunnel, __u32 off, struct parsed *p,
                                              struct dps_packet_header *head)
{
    if (!skb || !p || !head)
        return DPS_DECAP_UNREADABLE;
    __u16 src_port = head->src_port, dst_port = head->dst_port;
    __u8 flags = head->flags, tcp_flags = head->tcp_flags;
    __builtin_memcpy(head->outer_src, head->src_addr, 16);
    __builtin_memcpy(head->outer_dst, head->dst_addr, 16);
    __builtin_memset(head->src_addr, 0, 16);
    __builtin_memset(head->dst_addr, 0, 16);
    head->src_port = 0;
    head->dst_port = 0;
    head->flags = 0;
    head->tcp_flags = 0;
    struct parsed q = {};
    int err = decapsulate(skb, tunnel, off, p->ip_end, &q, head);
    if (err < 0) {
        __builtin_memcpy(head->src_addr, head->outer_src, 16);
        __builtin_memcpy(head->dst_addr, head->outer_dst, 16);
        __builtin_memset(head->outer_src, 0, 16);
        __builtin_memset(head->outer_dst, 0, 16);
        head->src_port = src_port;
        head->dst_port = dst_port;
        head->flags = flags;
        head->tcp_flags = tcp_flags;
        head->tunnel_type = DPS_TUNNEL_NONE;
        head->tunnel_flags = 0;
        head->tunnel_id = 0;
        return err;
    }
    __u32 payload_off = parse_l4(skb, &q, head);
    head->outer_version = p->version;
    head->ip_version = q.version;
    head->l4_proto = q.proto;
    *p = q;
    return payload_off;
}

/* The filter (user space fills the maps from PacketFilter.Tables; see dps_record.h). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} filter_state SEC(".maps"); /* 0: no rules; 1 + the generation in use */

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, struct dps_filter_config);
} filter_config SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 4 * DPS_FILTER_MAX_RULES); /* 2 lists, 2 generations */
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct dps_filter_v4_key);
    __type(value, struct dps_filter_masks);
} filter_v4 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 4 * DPS_FILTER_MAX_RULES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct dps_filter_v6_key);
    __type(value, struct dps_filter_masks);
} filter_v6 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2 * 65536); /* generation * 65536 + port */
    __type(key, __u32);
    __type(value, struct dps_filter_masks);
} filter_ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2 * 256); /* generation * 256 + protocol */
    __type(key, __u32);
    __type(value, struct dps_filter_masks);
} filter_protocols SEC(".maps");

static __always_inline void add_masks(struct dps_filter_masks *to, const struct dps_filter_masks *m)
{
    if (m) {
        to->include |= m->include;
        to->exclude |= m->exclude;
    }
}

static __always_inline void add_address(struct dps_filter_masks *to, __u32 gen, const __u8 *addr, __u8 version)
{
    if (version == 4) {
        /* Set field by field: an initializer would be a constant in .rodata, which holds
         * dps_path alone (ProgramTestRun and DatapathFloor set it there). */
        struct dps_filter_v4_key key;
        __builtin_memset(&key, 0, sizeof(key));
        key.prefixlen = 8 + 32;
        key.data[0] = gen;
        __builtin_memcpy(&key.data[1], addr, 4);
        add_masks(to, bpf_map_lookup_elem(&filter_v4, &key));
    } else {
        struct dps_filter_v6_key key;
        __builtin_memset(&key, 0, sizeof(key));
        key.prefixlen = 8 + 128;
        key.data[0] = gen;
        __builtin_memcpy(&key.data[1], addr, 16);
        add_masks(to, bpf_map_lookup_elem(&filter_v6, &key));
    }
}

static __always_inline void add_port(struct dps_filter_masks *to, __u32 gen, __u16 port)
{
    __u32 key = gen * 65536 + port;
    add_masks(to, bpf_map_lookup_elem(&filter_ports, &key));
}

/* 0 when the packet is observed, else the counter of why not: the rules' matches in a few map
 * lookups, matched = rules & (network | any) & (port | any) & (protocol | any) per list. */
static __always_inline __u32 filter(const struct dps_packet_header *h)
{
    __u32 zero = 0;
    __u32 *state = bpf_map_lookup_elem(&filter_state, &zero);
    if (!state || *state == 0)
        return 0;
    __u32 gen = *state - 1;
    struct dps_filter_config *cfg = bpf_map_lookup_elem(&filter_config, &gen);
    if (!cfg)
        return 0;
    struct dps_filter_masks network = cfg->any_network, port = cfg->any_port, protocol = cfg->any_protocol;
    add_address(&network, gen, h->src_addr, h->ip_version);
    add_address(&network, gen, h->dst_addr, h->ip_version);
    if (h->l4_proto == IPPROTO_TCP || h->l4_proto == IPPROTO_UDP) {
        add_port(&port, gen, h->src_port);
        add_port(&port, gen, h->dst_port);
    }
    __u32 key = gen * 256 + h->l4_proto;
    add_masks(&protocol, bpf_map_lookup_elem(&filter_protocols, &key));
    if (cfg->rules.exclude & network.exclude & port.exclude & protocol.exclude)
        return DPS_CTR_FILTER_EXCLUDED;
    if (cfg->rules.include && !(cfg->rules.include & network.include & port.include & protocol.include))
        return DPS_CTR_FILTER_NOT_INCLUDED;
    return 0;
}

/* The packet almost every packet is, in one pass and straight into the ring: an untagged
 * Ethernet frame carrying IPv4 without options or IPv6 without extension headers, not a later
 * fragment, with its whole TCP or UDP header in the skb's linear part, on ports that name no
 * tunnel, and no filter rules. Returns 1 when it recorded (or counted) the packet, 0 for any
 * other packet, which the general path below then reads from the start; both write the same
 * record (DifferentialTests run every capture through each). A measured gain: the general path
 * builds its header on the stack and copies it, and calls a function per layer; this one is a
 * few hundred instructions with one branch per check. A global function, as the general path
 * is: inlined into the hook with it, its frame would count in the general path's deepest chain
 * of calls, over the verifier's 512 bytes. */
__attribute__((noinline)) int dps_fast_path(struct __sk_buff *skb, __u32 direction)
{
    if (!skb)
        return 0;
    void *data = (void *)(long)skb->data;
    void *end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    if (skb->vlan_present || (void *)(eth + 1) > end)
        return 0;
    __u32 l4, ip_end;
    __u8 proto, version;
    __be32 src4 = 0, dst4 = 0;
    struct ipv6hdr *ip6 = NULL; /* its addresses are copied straight into the record */
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl != 5 || (ip->frag_off & bpf_htons(0x1FFF)))
            return 0;
        __u32 total = bpf_ntohs(ip->tot_len);
        if (total < sizeof(*ip) || sizeof(*eth) + total > skb->len)
            return 0;
        src4 = ip->saddr;
        dst4 = ip->daddr;
        proto = ip->protocol;
        version = 4;
        l4 = sizeof(*eth) + sizeof(*ip);
        ip_end = sizeof(*eth) + total;
    } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        ip6 = (void *)(eth + 1);
        if ((void *)(ip6 + 1) > end || ip6->version != 6)
            return 0;
        __u32 plen = bpf_ntohs(ip6->payload_len);
        l4 = sizeof(*eth) + sizeof(*ip6);
        if (plen == 0 || l4 + plen > skb->len)
            return 0;
        proto = ip6->nexthdr;
        version = 6;
        ip_end = l4 + plen;
    } else {
        return 0;
    }
    __u8 *l4h = data + l4;
    __u16 src_port, dst_port;
    __u8 tcp_flags = 0;
    __u32 payload_off;
    if (proto == IPPROTO_TCP) {
        if (l4 + 20 > ip_end || (void *)(l4h + 20) > end)
            return 0;
        tcp_flags = l4h[13];
        __u32 doff = (l4h[12] >> 4) * 4;
        payload_off = l4 + (doff < 20 ? 20 : doff);
    } else if (proto == IPPROTO_UDP) {
        if (l4 + 8 > ip_end || (void *)(l4h + 8) > end)
            return 0;
        payload_off = l4 + 8;
    } else {
        return 0;
    }
    src_port = l4h[0] << 8 | l4h[1];
    dst_port = l4h[2] << 8 | l4h[3];
    if (proto == IPPROTO_UDP && udp_tunnel(src_port, dst_port) != DPS_TUNNEL_NONE)
        return 0;
    __u32 key = 0;
    __u32 *state = bpf_map_lookup_elem(&filter_state, &key);
    if (!state || *state != 0)
        return 0;
    if (dps_path == DPS_PATH_FLOOR_PARSE || dps_path == DPS_PATH_FLOOR_CLOCK) {
        if (dps_path == DPS_PATH_FLOOR_CLOCK) {
            __u64 now = bpf_ktime_get_ns();
            asm volatile("" : : "r"(now)); /* kept, as a record would keep it */
        }
        count(DPS_CTR_FAST_PATH);
        return 1;
    }

    struct dps_packet_record *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
    if (!rec) {
        count(DPS_CTR_RINGBUF_FULL);
        return 1;
    }
    /* The header zeroed, then what this packet sets (tunnel, VLAN, flags and snap_len stay 0). */
    __builtin_memset(rec, 0, sizeof(struct dps_packet_header));
    __u32 payload_len = payload_off < ip_end ? ip_end - payload_off : 0;
    rec->timestamp_ns = bpf_ktime_get_ns();
    rec->ifindex = skb->ifindex;
    rec->payload_len = payload_len;
    if (ip6) {
        __builtin_memcpy(rec->src_addr, &ip6->saddr, 16);
        __builtin_memcpy(rec->dst_addr, &ip6->daddr, 16);
    } else {
        __builtin_memcpy(rec->src_addr, &src4, 4);
        __builtin_memcpy(rec->dst_addr, &dst4, 4);
    }
    rec->src_port = src_port;
    rec->dst_port = dst_port;
    rec->direction = direction;
    rec->ip_version = version;
    rec->l4_proto = proto;
    rec->tcp_flags = tcp_flags;
    __u32 snap = payload_len < DPS_SNAPSHOT_MAX ? payload_len : DPS_SNAPSHOT_MAX;
    asm volatile("" : "+r"(snap));
    if (snap >= 1 && snap <= DPS_SNAPSHOT_MAX) {
#ifdef DPS_UNALIGNED_OK
        /* A whole snapshot's worth in the linear part (the rest of a shorter payload is copied
         * too, and never read: snap_len says how much is the payload): eight-byte moves, no
         * helper call. The source is as aligned as the headers before it, which is not eight;
         * the hint only makes clang move eight bytes at a time, which the hosts this is built
         * for (DPS_UNALIGNED_OK, set by BPFEmbed: x86-64, arm64) do at any alignment, and
         * their verifier allows. */
        __u8 *from = data + payload_off;
        if ((void *)(from + DPS_SNAPSHOT_MAX) <= end) {
            __builtin_memcpy(rec->payload, __builtin_assume_aligned(from, 8), DPS_SNAPSHOT_MAX);
            rec->snap_len = snap;
        } else
#endif
        if (bpf_skb_load_bytes(skb, payload_off, rec->payload, snap) == 0) {
            rec->snap_len = snap;
        }
    }
    /* On a ring of DPS_WAKEUP_SPACED_MIN or more, the fill level is checked on every 16th
     * record this path writes on a CPU: two helper calls less per packet, and the wakeup window
     * is as wide as the records between checks. */
    key = DPS_CTR_FAST_PATH;
    __u64 *packets = bpf_map_lookup_elem(&counters, &key);
    __u64 seen = packets ? *packets : 0;
    __u64 flags = BPF_RB_NO_WAKEUP;
    if (dps_ring_size < DPS_WAKEUP_SPACED_MIN)
        flags = wakeup_flags(1);
    else if ((seen & (DPS_WAKEUP_EVERY - 1)) == 0)
        flags = wakeup_flags(DPS_WAKEUP_EVERY);
    bpf_ringbuf_submit(rec, flags);
    if (packets)
        *packets = seen + 1;
    return 1;
}

/* Every packet the fast path leaves (and every packet, on the paths tests pick): a global
 * function too, so the hooks themselves are a few instructions and a call. */
__attribute__((noinline)) int dps_observe(struct __sk_buff *skb, __u32 direction)
{
    if (!skb)
        return TC_ACT_UNSPEC;
    struct link link;
    int l3 = parse_ethernet(skb, &link);
    if (l3 < 0 || (link.proto != bpf_htons(ETH_P_IP) && link.proto != bpf_htons(ETH_P_IPV6))) {
        count(DPS_CTR_NOT_IP);
        return TC_ACT_UNSPEC;
    }

    /* The record's header is parsed on the stack, so a filtered packet costs no ring space. */
    struct dps_packet_header head;
    __builtin_memset(&head, 0, sizeof(head));
    struct parsed p = {.version = ip_version(link.proto)};
    if (dps_parse_ip(skb, l3, skb->len, &p, &head) < 0) {
        count(DPS_CTR_MALFORMED);
        return TC_ACT_UNSPEC;
    }
    __u32 payload_off = parse_l4(skb, &p, &head);
    head.ip_version = p.version;
    head.l4_proto = p.proto;
    head.vlan_id = link.vlan;

    __u8 tunnel = tunnel_of(&p, &head);
    if (tunnel != DPS_TUNNEL_NONE) {
        int inner = dps_decapsulate(skb, tunnel, payload_off, &p, &head);
        if (inner >= 0) {
            payload_off = inner;
        } else if (inner == DPS_DECAP_NOT_IP) {
            count(DPS_CTR_NOT_IP);
            return TC_ACT_UNSPEC;
        } else {
            head.flags |= DPS_F_TUNNEL_OUTER;
            count(DPS_CTR_TUNNEL_OUTER);
        }
    }
    __u32 why = filter(&head);
    if (why) {
        count(why);
        return TC_ACT_UNSPEC;
    }

    struct dps_packet_record *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
    if (!rec) {
        count(DPS_CTR_RINGBUF_FULL);
        return TC_ACT_UNSPEC;
    }
    __builtin_memcpy(rec, &head, sizeof(head));
    __u32 payload_len = payload_off < p.ip_end ? p.ip_end - payload_off : 0;
    rec->timestamp_ns = bpf_ktime_get_ns();
    rec->ifindex = skb->ifindex;
    rec->direction = direction;
    rec->payload_len = payload_len;

    __u32 snap = payload_len < DPS_SNAPSHOT_MAX ? payload_len : DPS_SNAPSHOT_MAX;
    /* Hide what clang knows of snap, so the bounds the verifier needs are tested here. */
    asm volatile("" : "+r"(snap));
    if (snap >= 1 && snap <= DPS_SNAPSHOT_MAX &&
        bpf_skb_load_bytes(skb, payload_off, rec->payload, snap) == 0)
        rec->snap_len = snap;

    bpf_ringbuf_submit(rec, wakeup_flags(1));
    count(DPS_CTR_PACKETS);
    return TC_ACT_UNSPEC;
}

static __always_inline int observe(struct __sk_buff *skb, __u8 direction)
{
    if (dps_path == DPS_PATH_FLOOR_HOOK)
        return TC_ACT_UNSPEC;
    if (dps_path != DPS_PATH_GENERAL && dps_path != DPS_PATH_COPY && dps_fast_path(skb, direction))
        return TC_ACT_UNSPEC;
    return dps_observe(skb, direction);
}

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
    return observe(skb, DPS_DIR_INGRESS);
}

SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
    return observe(skb, DPS_DIR_EGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
