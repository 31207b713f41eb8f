#!/bin/sh
# run-fuzz.sh FUZZER SECONDS: runs the DNS parser fuzzer for a bounded
# time from the seeds in tests/dns/fuzz-seeds, in a temporary corpus it
# removes afterwards, and prints one runner line. A crash input is kept
# in build/dns/ for reproduction.
set -u
bin=$1 secs=$2
seeds=$(dirname "$0")/fuzz-seeds
tmp=$(mktemp -d /tmp/ksock-dns-fuzz.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/corpus"
cp "$seeds"/* "$tmp/corpus/" 2>/dev/null
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix="$tmp/" -print_final_stats=1 "$tmp/corpus" \
	>"$tmp/log" 2>&1
status=$?
tail -n 15 "$tmp/log"
crash=$(ls "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-* 2>/dev/null | head -n 1)
if [ -n "$crash" ] || [ $status -ne 0 ]; then
	if [ -n "$crash" ]; then
		mkdir -p build/dns && cp "$crash" build/dns/
		echo "fuzz: kept $(basename "$crash") in build/dns/"
	fi
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
echo "1 passed, 0 failed, 0 skipped"
