/* dps_record.h — the one ring-buffer record layout shared by bpf/dps.bpf.c and Swift.
 *
 * The BPF program writes these records; SensorKernel reads them. Both sides assert the size and
 * the offsets below, so a change here that is not made on both sides fails to build. Plain
 * fixed-width fields, explicit padding, no bitfields.
 */
#ifndef DPS_RECORD_H
#define DPS_RECORD_H

#ifdef __bpf__
#include <linux/types.h>
typedef __u8 dps_u8;
typedef __u16 dps_u16;
typedef __u32 dps_u32;
typedef __u64 dps_u64;
#else
#include <stdint.h>
typedef uint8_t dps_u8;
typedef uint16_t dps_u16;
typedef uint32_t dps_u32;
typedef uint64_t dps_u64;
#endif

#define DPS_SNAPSHOT_MAX 128

/* dps_packet_record.direction */
#define DPS_DIR_INGRESS 0
#define DPS_DIR_EGRESS 1

/* dps_packet_record.flags */
#define DPS_F_FRAGMENT 0x01 /* IPv4/IPv6 non-first fragment: no L4 header, ports 0 */
#define DPS_F_TRUNCATED 0x02 /* L4 header did not fit in the packet: ports/flags 0 */
#define DPS_F_TUNNEL_OUTER 0x04 /* a tunnel packet that could not be decapsulated: the record is its
                                 * outer packet (its tunnel header or inner IP header cut short or
                                 * invalid). A tunnel carrying no IP (ARP...) counts as not IP. */

/* dps_packet_record.tunnel_type: the encapsulation the record's packet was taken out of. */
#define DPS_TUNNEL_NONE 0
#define DPS_TUNNEL_IPIP 1   /* IP protocol 4: IPv4 in IPv4 or IPv6 */
#define DPS_TUNNEL_SIT 2    /* IP protocol 41: IPv6 in IPv4 (6in4) or IPv6 */
#define DPS_TUNNEL_GRE 3    /* GRE version 0: IPv4, IPv6, MPLS or Ethernet (gretap) inside */
#define DPS_TUNNEL_ERSPAN 4 /* ERSPAN type I/II (GRE 0x88BE) or III (GRE 0x22EB): Ethernet inside */
#define DPS_TUNNEL_VXLAN 5  /* UDP destination port 4789: Ethernet inside */
#define DPS_TUNNEL_GENEVE 6 /* UDP destination port 6081: Ethernet or IP inside */
#define DPS_TUNNEL_GTPU 7   /* UDP destination port 2152, G-PDU: IP inside */
#define DPS_TUNNEL_CAPWAP 8 /* UDP port 5247 (either end), data: 802.3 or 802.11 inside */

/* dps_packet_record.tunnel_flags */
#define DPS_TUNNEL_F_ID 0x01 /* tunnel_id holds the VNI, GRE key, ERSPAN session or TEID */

/* The BPF program's `dps_path` (set before load by tests and benchmarks only): which path it reads
 * packets by. */
#define DPS_PATH_ATTACHED 0 /* as attached: the fast path, the general path for other packets */
#define DPS_PATH_GENERAL 1  /* the general path for every packet, headers read in place */
#define DPS_PATH_COPY 2     /* the general path, every header copied with bpf_skb_load_bytes */
/* The datapath benchmark's floors (dps-bench --only datapath): the fast path stopped early,
 * recording nothing, to measure what any per-packet sensor pays before it writes a record. */
#define DPS_PATH_FLOOR_HOOK 3  /* return at once: the hook's own cost */
#define DPS_PATH_FLOOR_PARSE 4 /* the fast path's parse (and filter check), then return */
#define DPS_PATH_FLOOR_CLOCK 5 /* the parse and one bpf_ktime_get_ns, then return */

/* Indices of the per-CPU counter array `counters`. */
#define DPS_CTR_RINGBUF_FULL 0 /* bpf_ringbuf_reserve failed: the packet has no record */
#define DPS_CTR_PACKETS 1      /* packets that produced a record on the general path */
#define DPS_CTR_NOT_IP 2       /* frames that are not IPv4/IPv6 (ARP, LLDP...): no record */
#define DPS_CTR_MALFORMED 3    /* IP header cut short or invalid, or IP length beyond the packet: no record */
#define DPS_CTR_FILTER_EXCLUDED 4     /* an exclude rule matched: no record */
#define DPS_CTR_FILTER_NOT_INCLUDED 5 /* include rules exist and none matched: no record */
#define DPS_CTR_TUNNEL_OUTER 6 /* tunnel packets recorded as their outer packet (DPS_F_TUNNEL_OUTER) */
#define DPS_CTR_FAST_PATH 7    /* packets that produced a record on the fast path */
#define DPS_CTR_MAX 8

/* The record's fields before the payload snapshot: the BPF program parses a packet into a
 * struct dps_packet_header on its stack, and copies it into the ring buffer only when the packet
 * is kept. Listed once, for both structs. */
#define DPS_PACKET_HEADER_FIELDS                                                                \
    dps_u64 timestamp_ns;  /*  0: bpf_ktime_get_ns(), CLOCK_MONOTONIC */                        \
    dps_u32 ifindex;       /*  8 */                                                             \
    dps_u32 payload_len;   /* 12: full L4 payload length, from skb->len */                      \
    dps_u8 src_addr[16];   /* 16: IPv4 in the first 4 bytes, the rest zero */                   \
    dps_u8 dst_addr[16];   /* 32 */                                                             \
    dps_u16 src_port;      /* 48: host byte order; 0 when the protocol has none */              \
    dps_u16 dst_port;      /* 50 */                                                             \
    dps_u8 direction;      /* 52: DPS_DIR_* */                                                  \
    dps_u8 ip_version;     /* 53: 4 or 6 */                                                     \
    dps_u8 l4_proto;       /* 54: IPPROTO_* */                                                  \
    dps_u8 tcp_flags;      /* 55: FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 ECE 0x40 CWR 0x80 */ \
    dps_u16 snap_len;      /* 56: valid bytes in payload[] (<= DPS_SNAPSHOT_MAX) */             \
    dps_u8 flags;          /* 58: DPS_F_* */                                                    \
    dps_u8 tunnel_type;    /* 59: DPS_TUNNEL_*: the fields above describe the inner packet */   \
    dps_u16 vlan_id;       /* 60: the outermost 802.1Q/802.1ad tag's VLAN ID (12 bits); 0 untagged */ \
    dps_u8 outer_version;  /* 62: the outer IP version (4 or 6) of a tunnel; else 0 */          \
    dps_u8 tunnel_flags;   /* 63: DPS_TUNNEL_F_* */                                             \
    dps_u32 tunnel_id;     /* 64: host byte order */                                            \
    dps_u8 _pad[4];        /* 68: zero */                                                       \
    dps_u8 outer_src[16];  /* 72: the tunnel's outer addresses, as src_addr */                  \
    dps_u8 outer_dst[16];  /* 88 */

struct dps_packet_header {
    DPS_PACKET_HEADER_FIELDS
};

struct dps_packet_record {
    DPS_PACKET_HEADER_FIELDS
    dps_u8 payload[DPS_SNAPSHOT_MAX]; /* 104: first bytes of the L4 payload */
};

#define DPS_RECORD_SIZE 232

/* The filter's maps (see PacketFilter.Tables in SensorCore): one bit per rule, include and
 * exclude apart. Two generations of every table, so user space fills the idle one and then
 * switches `filter_state` to it: a packet sees the old rules or the new, never a mix. */
#define DPS_FILTER_MAX_RULES 32

struct dps_filter_masks {
    dps_u32 include;
    dps_u32 exclude;
};

/* filter_config[generation] */
struct dps_filter_config {
    struct dps_filter_masks rules;        /* every rule's bit */
    struct dps_filter_masks any_network;  /* rules without an address condition */
    struct dps_filter_masks any_port;     /* rules without a port condition */
    struct dps_filter_masks any_protocol; /* rules without a protocol condition */
};

/* LPM trie keys: the generation (0 or 1) in the first data byte, then the address; prefixlen
 * counts the generation's 8 bits. */
struct dps_filter_v4_key {
    dps_u32 prefixlen;
    dps_u8 data[8]; /* generation, 4 address bytes, 3 zero */
};

struct dps_filter_v6_key {
    dps_u32 prefixlen;
    dps_u8 data[20]; /* generation, 16 address bytes, 3 zero */
};

#define DPS_ASSERT_LAYOUT                                                                      \
    _Static_assert(sizeof(struct dps_packet_record) == DPS_RECORD_SIZE, "record size");       \
    _Static_assert(__builtin_offsetof(struct dps_packet_record, ifindex) == 8, "ifindex");    \
    _Static_assert(__builtin_offsetof(struct dps_packet_record, payload_len) == 12, "len");   \
    _Static_assert(__builtin_offsetof(struct dps_packet_record, src_addr) == 16, "src");      \
    _Static_assert(__builtin_offsetof(struct dps_packet_record, dst_addr) == 32, "dst");      \
    _Static_assert(__builtin_offsetof(struct dps_packet_record, src_port) == 48, "sport");    \
    _Static_assert(__builtin_offsetof(struct dps_packet_record, direction) == 52, "dir");     \
    _Static_assert(__builtin_offsetof(struct dps_packet_record, snap_len) == 56, "snap");     \
    _Static_assert(__builtin_offsetof(struct dps_packet_record, tunnel_type) == 59, "tunnel");\
    _Static_assert(__builtin_offsetof(struct dps_packet_record, vlan_id) == 60, "vlan");      \
    _Static_assert(__builtin_offsetof(struct dps_packet_record, tunnel_id) == 64, "tun id");  \
    _Static_assert(__builtin_offsetof(struct dps_packet_record, outer_src) == 72, "outer");   \
    _Static_assert(__builtin_offsetof(struct dps_packet_record, outer_dst) == 88, "outer d"); \
    _Static_assert(__builtin_offsetof(struct dps_packet_record, payload) == 104, "payload"); \
    _Static_assert(sizeof(struct dps_packet_header) == 104, "header");                       \
    _Static_assert(sizeof(struct dps_filter_config) == 32, "filter config");                 \
    _Static_assert(sizeof(struct dps_filter_v4_key) == 12, "filter v4 key");                 \
    _Static_assert(sizeof(struct dps_filter_v6_key) == 24, "filter v6 key");

#endif
