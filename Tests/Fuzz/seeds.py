#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora: seeds.py CORPUS_DIR SHARED_DIR TARGET...

packet: single frames from the shared captures, and one frame of each tunnel kind, each prefixed
        by one byte that picks the link type (its index in PacketParser.LinkType.allCases); pcap: the first 16 KiB of the small shared
        captures; ndjson: lines of the shared sample frames; rules and config: the repository's own
        example files and the documented rules. Existing corpus files are kept."""
import os
import re
import struct
import sys

corpus, shared, targets = sys.argv[1], sys.argv[2], sys.argv[3:]
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pcaps = os.path.join(shared, "pcaps")
# PacketParser.LinkType.allCases, in order: null, ethernet, raw (12), raw (14), raw (101), loop, SLL, SLL2,
# PPP, Cisco HDLC, 802.11, PPI, IPv4, IPv6
LINK_INDEX = {0: 0, 1: 1, 12: 2, 14: 3, 101: 4, 108: 5, 113: 6, 276: 7, 9: 8, 104: 9, 105: 10, 192: 11, 228: 12, 229: 13}


def put(target, name, data):
    directory = os.path.join(corpus, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def frames(path, limit):
    """(link type, frame) of the first records of a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = data[:4]
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    if endian is None:
        return
    link = struct.unpack(endian + "I", data[20:24])[0] & 0xFFFF
    offset, count = 24, 0
    while offset + 16 <= len(data) and count < limit:
        caplen = struct.unpack(endian + "I", data[offset + 8:offset + 12])[0]
        yield link, data[offset + 16:offset + 16 + caplen]
        offset += 16 + caplen
        count += 1


def tunnel_frames():
    """(name, Ethernet frame) of each tunnel both parsers open (the shared captures hold only
    6in4): one inner UDP packet inside each."""
    def ip4(proto, l4, src=b"\xc6\x33\x64\x01", dst=b"\xcb\x00\x71\x02"):
        return struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0) + src + dst + l4

    def udp(sport, dport, payload):
        return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload

    def eth(packet, ethertype=0x0800):
        return b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02" + struct.pack("!H", ethertype) + packet

    inner = ip4(17, udp(5555, 6666, b"A" * 20), b"\xcb\x00\x71\x0a", b"\xcb\x00\x71\x14")
    gtp_body = b"\0\x01\0\x85" + b"\x01\x10\x09\0" + inner  # sequence word, a PDU session extension
    return [
        ("ipip", eth(ip4(4, inner))),
        ("gre-key-seq", eth(ip4(47, b"\x30\0\x08\0" + b"\0\0\0\x07" + b"\0\0\0\x01" + inner))),
        ("gretap", eth(ip4(47, b"\0\0\x65\x58" + eth(inner)))),
        ("erspan2", eth(ip4(47, b"\x10\0\x88\xbe" + b"\0\0\0\x01" + b"\x10\x64\0\x05" + b"\0" * 4 + eth(inner)))),
        ("erspan3", eth(ip4(47, b"\x10\0\x22\xeb" + b"\0\0\0\x01" + b"\x20\x64\x02\xbc" + b"\0" * 6 + b"\0\x01"
                            + b"\x08" + b"\0" * 7 + eth(inner)))),
        ("vxlan", eth(ip4(17, udp(49152, 4789, b"\x08\0\0\0\0\0\x2a\0" + eth(inner))))),
        ("geneve", eth(ip4(17, udp(49152, 6081, b"\x01\0\x65\x58\0\0\x63\0" + b"\0" * 4 + eth(inner))))),
        ("gtpu", eth(ip4(17, udp(2152, 2152, b"\x36\xff" + struct.pack("!H", len(gtp_body)) + b"\0\0\x12\x34" + gtp_body)))),
        ("capwap", eth(ip4(17, udp(49152, 5247, struct.pack("!I", 2 << 19 | 1 << 9) + b"\0" * 4 + eth(inner))))),
    ]


captures = sorted(n for n in os.listdir(pcaps) if n.endswith((".pcap", ".pcapng"))) if os.path.isdir(pcaps) else []
for target in targets:
    if target == "packet":
        for name in captures:
            for i, (link, frame) in enumerate(frames(os.path.join(pcaps, name), 40)):
                if link in LINK_INDEX:
                    put("packet", f"{name}-{i}", bytes([LINK_INDEX[link]]) + frame)
        for name, frame in tunnel_frames():
            put("packet", f"tunnel-{name}", bytes([LINK_INDEX[1]]) + frame)
    elif target == "pcap":
        for name in captures:
            with open(os.path.join(pcaps, name), "rb") as f:
                put("pcap", name, f.read(16384))
    elif target == "ndjson":
        sample = os.path.join(shared, "data", "sample_flows.ndjson")
        if os.path.exists(sample):
            with open(sample, "rb") as f:
                for i, line in enumerate(f.read().splitlines()[:60]):
                    put("ndjson", f"sample-{i}", line)
    elif target == "rules":
        with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
            readme = f.read()
        for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", readme, re.S)):
            put("rules", f"readme-{i}.yaml", block.encode())
        put("rules", "rules.json", b'{"rules": [{"label": "web", "match": [{"any_port": [80, 443]}, '
            b'{"protocol": "UDP", "port_range": [53, 53]}]}, {"label": "rest", "match": {}}]}')
    elif target == "config":
        with open(os.path.join(root, "systemd", "dps.yaml"), encoding="utf-8") as f:
            example = f.read()
        put("config", "example.yaml", example.encode())
        uncommented = re.sub(r"^#([a-z_]+: )", r"\1", example, flags=re.M)
        put("config", "every-key.yaml", uncommented.encode())
    elif target == "compressed":
        import gzip, struct, zlib
        sample = os.path.join(shared, "data", "sample_flows.ndjson")
        text = b""
        if os.path.exists(sample):
            with open(sample, "rb") as f:
                text = b"".join(f.read().splitlines(True)[:20])
        put("compressed", "plain.ndjson", text)
        put("compressed", "plain.ndjson.gz", gzip.compress(text))
        put("compressed", "two-members.gz", gzip.compress(text[:500]) + gzip.compress(text[500:]))
        # A gzip member with a header comment (FCOMMENT), as the dataset files have.
        comment = b'{"format":"dps-dataset/1","host":"h","started":"2026-11-30T15:00:00Z","unmatched":"no label",' \
            b'"rules":{"source":"built-in","sha256":"00","labels":["benign"],"text":"rules: []"}}'
        raw = zlib.compressobj(1, zlib.DEFLATED, -15)
        body = raw.compress(text) + raw.flush()
        put("compressed", "comment.gz", b"\x1f\x8b\x08\x10" + b"\0" * 4 + b"\x00\x03" + comment + b"\0" + body
            + struct.pack("<II", zlib.crc32(text), len(text) & 0xFFFFFFFF))
        put("compressed", "cut.gz", gzip.compress(text)[:-30])
        try:
            import zstandard
            frame = zstandard.ZstdCompressor(level=1).compress(text)
            put("compressed", "plain.zst", frame)
            put("compressed", "header.zst", struct.pack("<II", 0x184D2A50, len(comment)) + comment + frame)
            put("compressed", "cut.zst", frame[:-20])
        except ImportError:
            pass  # python3-zstandard (.ci/setup) gives the zstd seeds
    else:
        sys.exit(f"seeds.py: unknown target {target}")
for target in targets:
    directory = os.path.join(corpus, target)
    os.makedirs(directory, exist_ok=True)
    print(f"seeds: {target}: {len(os.listdir(directory))} files in {directory}", file=sys.stderr)
