#!/bin/sh
# Installs or removes dps as a systemd service.
#
#   sudo systemd/install.sh install            build the release binary (the same self-contained
#                                              binary the Debian package ships), install it, the
#                                              unit and the example config (an existing config
#                                              is kept)
#   sudo systemd/install.sh uninstall          stop and disable the service, remove the binary and
#                                              the unit; keep /etc/dps unless it is the untouched example
#   sudo systemd/install.sh uninstall --purge  also remove /etc/dps (config and kronos.key)
#
# Environment: DPS_BINARY=path installs that binary instead of building one; DESTDIR=dir installs
# under dir (staging; systemctl is not called).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
destdir=${DESTDIR:-}
bin="$destdir/usr/local/bin/dps"
unit="$destdir/etc/systemd/system/dps.service"
confdir="$destdir/etc/dps"
conf="$confdir/dps.yaml"

say() { printf '%s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

# systemctl only for the real system, and only when systemd runs it.
systemd_running() { [ -z "$destdir" ] && [ -d /run/systemd/system ]; }

install_dps() {
    if [ -n "${DPS_BINARY:-}" ]; then
        binary=$DPS_BINARY
    else
        say "building the release binary (packaging/build-release.sh) ..."
        binary=$("$root/packaging/build-release.sh")
    fi
    [ -x "$binary" ] || die "no dps binary at $binary"

    install -d -m 0755 "$destdir/usr/local/bin" "$destdir/etc/systemd/system" "$confdir"
    install -m 0755 "$binary" "$bin"
    # The unit names the packaged path, /usr/bin/dps; from source dps lives in /usr/local/bin.
    sed 's#^ExecStart=/usr/bin/dps #ExecStart=/usr/local/bin/dps #' "$here/dps.service" >"$unit"
    chmod 0644 "$unit"
    if [ -e "$conf" ]; then
        say "kept the existing $conf (the example is $here/dps.yaml)"
    else
        install -m 0644 "$here/dps.yaml" "$conf"
        say "installed the example config $conf"
    fi
    say "installed $bin ($("$bin" --version)) and $unit"
    if systemd_running; then
        systemctl daemon-reload
    fi
    cat <<NEXT

Next:
  1. set the interfaces to watch in /etc/dps/dps.yaml (interfaces: [eth0])
  2. optional, to sign lines for Kronos: put the key in /etc/dps/kronos.key (chmod 600)
  3. systemctl enable --now dps;  systemctl status dps;  journalctl -u dps
NEXT
}

uninstall_dps() {
    purge=${1:-}
    if systemd_running; then
        systemctl disable --now dps.service 2>/dev/null || true
    fi
    rm -f "$bin" "$unit"
    say "removed $bin and $unit"
    if [ "$purge" = "--purge" ]; then
        rm -rf "$confdir"
        say "removed $confdir"
    elif [ -e "$conf" ] && cmp -s "$conf" "$here/dps.yaml"; then
        rm -f "$conf"
        rmdir "$confdir" 2>/dev/null || true
        say "removed the untouched example config $conf"
    elif [ -d "$confdir" ]; then
        say "kept $confdir (your config; remove it with: $0 uninstall --purge)"
    fi
    if systemd_running; then
        systemctl daemon-reload
    fi
}

case "${1:-}" in
    install) install_dps ;;
    uninstall) uninstall_dps "${2:-}" ;;
    *) die "usage: $0 install | uninstall [--purge]" ;;
esac
