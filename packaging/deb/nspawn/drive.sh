#!/bin/sh
# Runs inside the container, as PID 1's oneshot unit. The host's /usr (with the installed package)
# is mounted read-only; /dps-test is the host's results folder. Each step writes a file there; the
# host-side test reads them. The host sends the traffic when it sees /dps-test/ready.
set -u
out=/dps-test
log() { echo "drive: $*"; echo "$*" >>"$out/steps.txt"; }
show() { systemctl show dps.service -p ActiveState -p SubState -p MainPID -p NRestarts -p Result \
    -p ExecMainStatus -p ExecMainCode -p StatusText >"$out/$1.txt"; }
prop() { systemctl show dps.service -p "$1" --value; }
wait_for() { # seconds, command...
    n=$(($1 * 10)); shift
    while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done
    return 1
}
frames() { cat "$out/frames.ndjson" 2>/dev/null | grep -c '"protocol":"UDP"'; }

# The packaged example config, with the settings this test needs appended.
mkdir -p /etc/dps
cp "$out/example.yaml" /etc/dps/dps.yaml
cat >>/etc/dps/dps.yaml <<CONF
interfaces: [dps0]
kronos_socket: /run/kronos/dps.sock
idle_timeout: 1
stats_interval: 1
metrics_listen: 127.0.0.1:7470
dataset_dir: /var/lib/dps/datasets
CONF
log "config written"

# A Kronos-compatible listener; its socket connectable by dps's transient user.
mkdir -p /run/kronos
systemd-run --unit=kronos -p UMask=0000 -p StandardOutput=file:$out/frames.ndjson -p StandardError=journal \
    /usr/bin/dps listen --socket /run/kronos/dps.sock --raw
wait_for 10 test -S /run/kronos/dps.sock || log "the listener did not bind"

systemctl start dps.service; echo $? >"$out/start-status.txt"
show started
cat "/proc/$(prop MainPID)/limits" >"$out/limits.txt" 2>/dev/null
log "started"
touch "$out/ready"
wait_for 60 test -e "$out/traffic-sent" || log "no traffic-sent from the host"
wait_for 20 test "$(frames)" -ge 20
log "frames after traffic: $(frames)"
sleep 1.5
show after-traffic
# Scraped as Prometheus would, through the unit's IPAddressAllow=localhost and its address families.
python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen("http://127.0.0.1:7470/metrics", timeout=5).read().decode())' \
    >"$out/metrics.txt" 2>"$out/metrics-error.txt"
log "scraped"

pid=$(prop MainPID)
systemctl reload dps.service; echo $? >"$out/reload-status.txt"
sleep 1
show reloaded
echo "$pid" >"$out/pid-before-reload.txt"
log "reloaded"

systemctl kill -s KILL --kill-who=main dps.service
wait_for 30 test "$(prop NRestarts)" = 1 -a "$(prop ActiveState)" = active -a "$(prop SubState)" = running
show restarted
log "restarted after SIGKILL"

# The package's own maintainer scripts, run as dpkg runs them: an upgrade restarts a running
# service, a removal stops it.
export DPKG_MAINTSCRIPT_PACKAGE=dps DPKG_MAINTSCRIPT_ARCH=amd64
pid=$(prop MainPID)
DPKG_MAINTSCRIPT_NAME=postinst sh "$out/control/postinst" configure 0.0.1 >"$out/postinst-upgrade.txt" 2>&1
echo $? >>"$out/postinst-upgrade.txt"
wait_for 20 test "$(prop ActiveState)" = active -a "$(prop MainPID)" != "$pid" -a "$(prop MainPID)" != 0
echo "$pid" >"$out/pid-before-upgrade.txt"
show upgraded
log "upgrade restart"

systemctl stop dps.service; echo $? >"$out/stop-status.txt"
show stopped
log "stopped"
# The dataset files the service wrote through its StateDirectory= (a SIGKILL and an upgrade on the
# way): finished files only, every frame in them.
ls -la /var/lib/dps/datasets/ >"$out/datasets.txt" 2>&1
for f in /var/lib/dps/datasets/dps-*.ndjson.gz; do gzip -dc "$f"; done >"$out/dataset-lines.ndjson" 2>>"$out/datasets.txt"
log "dataset listed"

systemctl start dps.service
DPKG_MAINTSCRIPT_NAME=prerm sh "$out/control/prerm" remove >"$out/prerm-remove.txt" 2>&1
echo $? >>"$out/prerm-remove.txt"
show removed
log "prerm remove"

systemctl stop kronos.service
journalctl -u dps.service -o json --no-pager >"$out/journal-dps.json"
journalctl -u dps.service --no-pager >"$out/journal-dps.txt"
journalctl -u kronos.service --no-pager >"$out/journal-kronos.txt"
journalctl -b -p err --no-pager -o short >"$out/journal-errors.txt"
log "done"
touch "$out/done"
