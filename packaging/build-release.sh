#!/bin/sh
# Builds the release dps that ships: the Swift runtime linked statically (--static-swift-stdlib),
# so the binary needs only Debian's own shared libraries (libbpf1, libpcap0.8, libc, ...), not a
# Swift toolchain. Prints the binary's path on stdout; the build's own output goes to stderr.
# Used by packaging/deb/build.sh and systemd/install.sh.
#   DPS_SCRATCH  the build folder (default .build-static, beside the debug .build)
set -eu
cd "$(dirname "$0")/.."
scratch=${DPS_SCRATCH:-.build-static}
# -z now: the dynamic linker resolves every symbol at start, so the GOT can be made read-only
# (full RELRO), as Debian builds its own packages. --disable-local-rpath: no RUNPATH ($ORIGIN),
# libraries come from the system's folders only.
flags="-c release --static-swift-stdlib --disable-local-rpath -Xlinker -z -Xlinker now --scratch-path $scratch"
swift build $flags --product dps >&2
echo "$(swift build $flags --show-bin-path)/dps"
