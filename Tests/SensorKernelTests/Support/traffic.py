#!/usr/bin/env python3
"""Deterministic test traffic for the kernel tests, run inside a network namespace.

Servers print "ready" once listening, then serve exactly one exchange and exit.
  tcp-server ADDR PORT REQUEST_BYTES RESPONSE_HEX   read REQUEST_BYTES, send RESPONSE, close
  tcp-client ADDR PORT REQUEST_HEX                  send REQUEST, read until EOF, close
  tcp-sink ADDR PORT                                read until EOF, reply b"ok", close
  tcp-bulk ADDR PORT BYTES                          send BYTES of a pattern, read the reply
  udp-server ADDR PORT RESPONSE_HEX                 receive one datagram, reply RESPONSE
  udp-client ADDR PORT REQUEST_HEX                  send REQUEST, wait for one reply
"""
import socket
import sys


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def read_exactly(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def read_to_eof(conn):
    total = 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return total
        total += len(chunk)


def listen(addr, port):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(1)
    s.settimeout(20)
    print("ready", flush=True)
    conn, _ = s.accept()
    conn.settimeout(20)
    return s, conn


def main():
    mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "tcp-server":
        s, conn = listen(addr, port)
        read_exactly(conn, int(sys.argv[4]))
        conn.sendall(bytes.fromhex(sys.argv[5]))
        conn.shutdown(socket.SHUT_WR)
        read_to_eof(conn)
        conn.close()
    elif mode == "tcp-sink":
        s, conn = listen(addr, port)
        print(read_to_eof(conn), flush=True)
        conn.sendall(b"ok")
        conn.close()
    elif mode == "tcp-client":
        c = socket.create_connection((addr, port), timeout=20)
        c.sendall(bytes.fromhex(sys.argv[4]))
        read_to_eof(c)
        c.close()
    elif mode == "tcp-bulk":
        c = socket.create_connection((addr, port), timeout=20)
        size = int(sys.argv[4])
        block = bytes(range(256)) * 256
        sent = 0
        while sent < size:
            n = min(len(block), size - sent)
            c.sendall(block[:n])
            sent += n
        c.shutdown(socket.SHUT_WR)
        read_to_eof(c)
        c.close()
    elif mode == "udp-server":
        s = socket.socket(family(addr), socket.SOCK_DGRAM)
        s.bind((addr, port))
        s.settimeout(20)
        print("ready", flush=True)
        _, peer = s.recvfrom(65536)
        s.sendto(bytes.fromhex(sys.argv[4]), peer)
    elif mode == "udp-client":
        c = socket.socket(family(addr), socket.SOCK_DGRAM)
        c.settimeout(20)
        c.sendto(bytes.fromhex(sys.argv[4]), (addr, port))
        c.recvfrom(65536)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
