#!/usr/bin/env python3
"""Runs a command with the bpf() system call refused (EPERM) by a seccomp filter, as systemd's
SystemCallFilter= or a container's profile would: deny_bpf.py PROGRAM ARGS...  x86_64 only."""
import ctypes
import os
import platform
import sys

if platform.machine() != "x86_64":
    sys.exit("deny_bpf.py: x86_64 only")

AUDIT_ARCH_X86_64 = 0xC000003E
NR_BPF = 321
RET_ALLOW, RET_ERRNO, EPERM = 0x7FFF0000, 0x00050000, 1
LD_ABS_W, JEQ_K, RET_K = 0x20, 0x15, 0x06


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


program = [
    (LD_ABS_W, 0, 0, 4),  # seccomp_data.arch
    (JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
    (RET_K, 0, 0, RET_ALLOW),
    (LD_ABS_W, 0, 0, 0),  # seccomp_data.nr
    (JEQ_K, 0, 1, NR_BPF),
    (RET_K, 0, 0, RET_ERRNO | EPERM),
    (RET_K, 0, 0, RET_ALLOW),
]
filters = (SockFilter * len(program))(*[SockFilter(*insn) for insn in program])
fprog = SockFprog(len(program), filters)
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
    sys.exit(f"deny_bpf.py: prctl: {os.strerror(ctypes.get_errno())}")
os.execv(sys.argv[1], sys.argv[1:])
