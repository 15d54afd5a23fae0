#!/usr/bin/env bash
# The performance harness: builds dps and dps-bench (release), then runs every measure and prints
# the table. Arguments go to dps-bench, e.g.:
#   Sources/dps-bench/run.sh                       # full run (about a minute; root for the datapath)
#   Sources/dps-bench/run.sh --json bench.json     # also write the figures as JSON
#   Sources/dps-bench/run.sh --tiny                # every measure at a tiny size, well under a minute
#   Sources/dps-bench/run.sh --only pipeline,kronos --rounds 3 --seconds 2
#   Sources/dps-bench/run.sh --only datapath --attach tc   # the datapath with TC instead of tcx
#   Sources/dps-bench/run.sh --only datapath --dps-arg=--metrics-listen=127.0.0.1:7470  # with metrics on
# Environment:
#   DPS_BENCH_CONFIGURATION  release (default) or debug. CI uses debug with --tiny, reusing the
#                            debug build it already has: the figures are then not meaningful,
#                            the run only proves the harness works.
#   DPS_BENCH_SCRATCH        the build directory (default .build-bench-release for release,
#                            .build for debug).
set -euo pipefail
cd "$(dirname "$0")/../.."
configuration="${DPS_BENCH_CONFIGURATION:-release}"
case "$configuration" in
  release) scratch="${DPS_BENCH_SCRATCH:-.build-bench-release}" ;;
  debug) scratch="${DPS_BENCH_SCRATCH:-.build}" ;;
  *) echo "DPS_BENCH_CONFIGURATION must be release or debug" >&2; exit 2 ;;
esac
# The harness removes its namespaces itself (and any left by an interrupted run when it starts);
# this is the net under it.
trap 'ip netns del dpsb-a 2>/dev/null || true; ip netns del dpsb-b 2>/dev/null || true' EXIT
swift build -c "$configuration" --scratch-path "$scratch" --product dps >&2
swift build -c "$configuration" --scratch-path "$scratch" --product dps-bench >&2
bin="$(swift build -c "$configuration" --scratch-path "$scratch" --show-bin-path)"
"$bin/dps-bench" --dps "$bin/dps" "$@"
