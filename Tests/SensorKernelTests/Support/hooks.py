#!/usr/bin/env python3
"""hooks.py IFACE: the BPF programs on IFACE's tcx hooks, one line each ("tcx ingress <prog id>").

The iproute2 and bpftool of Debian 12 predate tcx (Linux 6.6), so the tests ask the kernel
themselves: bpf(BPF_PROG_QUERY) with the tcx attach types. Run it inside the interface's network
namespace. Prints nothing when there are none, or when the kernel has no tcx.
"""
import ctypes
import os
import platform
import socket
import sys

BPF_PROG_QUERY = 16
TCX = {"ingress": 46, "egress": 47}  # enum bpf_attach_type: BPF_TCX_INGRESS, BPF_TCX_EGRESS
SYS_BPF = {"x86_64": 321, "aarch64": 280}[platform.machine()]


class Query(ctypes.Structure):  # union bpf_attr, the BPF_PROG_QUERY member
    _fields_ = [
        ("target_ifindex", ctypes.c_uint32),
        ("attach_type", ctypes.c_uint32),
        ("query_flags", ctypes.c_uint32),
        ("attach_flags", ctypes.c_uint32),
        ("prog_ids", ctypes.c_uint64),
        ("count", ctypes.c_uint32),
        ("_pad", ctypes.c_uint32),
        ("prog_attach_flags", ctypes.c_uint64),
        ("link_ids", ctypes.c_uint64),
        ("link_attach_flags", ctypes.c_uint64),
        ("revision", ctypes.c_uint64),
    ]


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    ifindex = socket.if_nametoindex(sys.argv[1])
    for hook, attach_type in TCX.items():
        ids = (ctypes.c_uint32 * 64)()
        query = Query(target_ifindex=ifindex, attach_type=attach_type, count=64)
        query.prog_ids = ctypes.addressof(ids)
        if libc.syscall(SYS_BPF, BPF_PROG_QUERY, ctypes.byref(query), ctypes.sizeof(query)) < 0:
            err = ctypes.get_errno()
            if err == 22:  # EINVAL: no tcx in this kernel
                return
            sys.exit(f"hooks.py: BPF_PROG_QUERY: {os.strerror(err)}")
        for i in range(query.count):
            print(f"tcx {hook} {ids[i]}")


main()
