#!/usr/bin/env bash
# Fuzzes dps's parsers of outside input with libFuzzer and AddressSanitizer (Swift's
# -sanitize=fuzzer,address), each target for a bounded time:
#   Tests/Fuzz/run.sh                 # 60 s per target (6 targets): the longer run, for anyone
#   Tests/Fuzz/run.sh 15              # CI: 15 s per target
#   Tests/Fuzz/run.sh 600 pcap rules  # chosen targets, 10 minutes each
# Targets: packet (the packet parser), pcap (libpcap + the pcap source), ndjson (a FlowFrame
# line), rules (a rules file), config (a dps.yaml), compressed (a gzip/zstd/plain NDJSON file
# through the decompressing reader). Seed corpora come from ../shared (captures,
# sample frames) and the repository's own files, written under .build-fuzz/corpus/TARGET, where
# the corpus grows between runs. A crash, a sanitizer report, a timeout (5 s per input) or an
# input that needs more than 2 GB fails the run; libFuzzer saves the input in .build-fuzz/findings.
# Prints one line per target and "N passed, N failed" at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(packet pcap ndjson rules config compressed)
shared=${DPS_SHARED:-../shared}
scratch=.build-fuzz

DPS_FUZZ=1 swift build --scratch-path "$scratch" --product dps-fuzz >&2
fuzz="$(DPS_FUZZ=1 swift build --scratch-path "$scratch" --show-bin-path)/dps-fuzz"

python3 Tests/Fuzz/seeds.py "$scratch/corpus" "$shared" "${targets[@]}"
mkdir -p "$scratch/findings"
# The pcap target writes each input to a file: in a folder of this run's, removed at the end.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
for target in "${targets[@]}"; do
    log="$scratch/findings/$target.log"
    if TMPDIR=$tmp DPS_FUZZ_TARGET=$target "$fuzz" "$scratch/corpus/$target" -max_total_time="$seconds" -timeout=5 \
        -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$scratch/findings/$target-" \
        >"$log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
        corpus=$(find "$scratch/corpus/$target" -type f | wc -l)
        echo "fuzz $target: ${seconds}s, $runs inputs, no finding (corpus $corpus files)"
        passed=$((passed + 1))
    else
        echo "fuzz $target: FINDING after $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?') inputs; see $log"
        grep -E 'ERROR|SUMMARY|Fatal error|panic' "$log" | head -5 || true
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
