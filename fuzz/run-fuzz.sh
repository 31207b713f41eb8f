#!/bin/sh
# run-fuzz.sh FUZZER SECONDS SEED_DIR: runs a libFuzzer target for a
# bounded time from the seeds in SEED_DIR, in a temporary corpus (and
# working directory) it removes afterwards, and prints one runner line. A
# crashing input is kept in build/fuzz/ for reproduction.
set -u
bin=$(realpath "$1") secs=$2 seeds=$(realpath "$3")
tmp=$(mktemp -d /tmp/ksock-fuzz.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/corpus"
cp "$seeds"/* "$tmp/corpus/" 2>/dev/null
(cd "$tmp" && "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix="$tmp/" -print_final_stats=1 "$tmp/corpus" \
	>"$tmp/log" 2>&1)
status=$?
tail -n 15 "$tmp/log"
crash=$(ls "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-* 2>/dev/null | head -n 1)
if [ -n "$crash" ] || [ $status -ne 0 ]; then
	if [ -n "$crash" ]; then
		mkdir -p build/fuzz && cp "$crash" build/fuzz/
		echo "fuzz: kept $(basename "$crash") in build/fuzz/"
	fi
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
echo "1 passed, 0 failed, 0 skipped"
