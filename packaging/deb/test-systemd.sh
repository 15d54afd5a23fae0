#!/bin/sh
# Proves the Debian package under a real systemd (as root, on Debian 12 with systemd-container):
#   packaging/deb/test-systemd.sh DEB RESULTS_DIR
# Installs DEB on this machine, boots systemd as PID 1 in a container that sees this machine's
# /usr read-only (so it runs the packaged binary and unit, and no Swift toolchain) inside a network
# namespace joined by veth to a peer namespace, sends 20 UDP flows from the peer while the
# container's oneshot unit (nspawn/drive.sh) drives dps.service, then purges the package and lists
# whatever of it is left. Everything seen lands in RESULTS_DIR; the DeploymentTests suite asserts
# on it. Namespaces and the package are removed on exit, also on failure.
set -eu
deb=$(realpath "$1")
results=$(realpath -m "$2")
here=$(cd "$(dirname "$0")" && pwd)
sensor=dpsn-s-$$
peer=dpsn-p-$$
say() { printf 'test-systemd.sh: %s\n' "$*" >&2; }

cleanup() {
    [ -n "${container:-}" ] && kill "$container" 2>/dev/null || true
    ip netns del "$sensor" 2>/dev/null || true
    ip netns del "$peer" 2>/dev/null || true
    dpkg-query -W dps >/dev/null 2>&1 && dpkg --purge dps >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

rm -rf "$results"
mkdir -p "$results/control"
dpkg-deb -e "$deb" "$results/control"

say "installing $deb"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb" \
    >"$results/install.txt" 2>&1
dpkg-query -L dps >"$results/files.txt"
systemctl is-enabled dps.service >"$results/enabled.txt" 2>&1 || true
cp /etc/dps/dps.yaml "$results/example.yaml"
cp "$here/nspawn/drive.sh" "$results/drive.sh"

ip netns add "$sensor"
ip netns add "$peer"
ip link add dps0 netns "$sensor" type veth peer name peer0 netns "$peer"
ip -n "$sensor" addr add 198.51.100.1/24 dev dps0
ip -n "$peer" addr add 198.51.100.2/24 dev peer0
for ns in "$sensor" "$peer"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
done
ip -n "$sensor" link set dps0 up
ip -n "$peer" link set peer0 up

# A policy-rc.d that forbids starting services (as build images have) would stop the maintainer
# scripts' deb-systemd-invoke inside the container; a sensor host has none, so the container gets
# one that allows everything.
policy=
if [ -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 0\n' >"$results/policy-rc.d"
    chmod 0755 "$results/policy-rc.d"
    policy="--bind-ro=$results/policy-rc.d:/usr/sbin/policy-rc.d"
fi

say "booting systemd in a container (network namespace $sensor)"
# shellcheck disable=SC2086 # $policy is one option or none
systemd-nspawn $policy -D / --volatile=yes --register=no --keep-unit --quiet \
    --network-namespace-path="/run/netns/$sensor" \
    --capability=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN --system-call-filter=bpf \
    --bind="$results:/dps-test" \
    --bind-ro="$here/nspawn/dps-test.service:/etc/systemd/system/dps-test.service" \
    --console=pipe -b -- systemd.firstboot=off systemd.unit=dps-test.service \
    >"$results/console.txt" 2>&1 </dev/null &
container=$!

n=0
while [ ! -e "$results/ready" ] && [ "$n" -lt 900 ] && kill -0 "$container" 2>/dev/null; do
    sleep 0.1; n=$((n + 1))
done
if [ -e "$results/ready" ]; then
    say "dps is up: 20 UDP flows from the peer"
    ip netns exec "$peer" python3 - <<'PY'
import socket
for i in range(20):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.51.100.2", 41000 + i))
    s.sendto(b"dps packaging test flow %02d" % i, ("198.51.100.1", 5000 + i))
    s.close()
PY
    touch "$results/traffic-sent"
else
    say "the container never became ready"
fi

n=0
while kill -0 "$container" 2>/dev/null && [ "$n" -lt 1800 ]; do sleep 0.1; n=$((n + 1)); done
if kill -0 "$container" 2>/dev/null; then
    say "the container did not power off in time"
    kill "$container"
fi
wait "$container"; echo $? >"$results/container-status.txt"
container=

say "purging the package"
dpkg --purge dps >"$results/purge.txt" 2>&1
: >"$results/left-after-purge.txt"
while IFS= read -r path; do
    [ -e "$path" ] && [ ! -d "$path" ] && echo "$path" >>"$results/left-after-purge.txt"
done <"$results/files.txt"
[ -e /etc/dps ] && echo /etc/dps >>"$results/left-after-purge.txt"
say "done: $results"
