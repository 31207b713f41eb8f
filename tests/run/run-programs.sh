#!/bin/sh
# run-programs.sh KSOCK_RUN [--in-process] PROGRAM...
#
# Runs each program (tests/run/programs/*.py with Debian's python3, *.pl
# with perl, *.js with node) natively and under ksock-run, and passes it
# when both runs exit 0 with the same output and ksock's exit summary
# (KSOCK_RUN_STATS) shows that ksock served its sockets, not the kernel.
# A program names the options it runs with under ksock-run in a comment
# line "# ksock-run: OPTIONS" (py_http.py: --inet=loopback).
# --in-process runs ksock-run in that mode; without it, ksock-run's
# default (ksockd, at the server KSOCK_RUN_KSOCKD names if set).
# Ends with the runner line "N passed, N failed, N skipped".
set -u
run=$1
shift
mode=
if [ "${1-}" = --in-process ]; then
	mode=$1
	shift
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 failn=0
for prog in "$@"; do
	name=$(basename "$prog")
	case $prog in
	*.py) interp=/usr/bin/python3 ;;
	*.pl) interp=/usr/bin/perl ;;
	*.js) interp=/usr/bin/node ;;
	*) echo "FAIL $name: unknown kind"; failn=$((failn + 1)); continue ;;
	esac
	opts=$(sed -nE 's@^(#|//) ksock-run: @@p' "$prog" | head -1)
	timeout 60 "$interp" "$prog" >"$tmp/native" 2>&1
	ns=$?
	rm -f "$tmp/stats"
	KSOCK_RUN_STATS="$tmp/stats" timeout 60 "$run" $mode $opts "$interp" "$prog" \
		>"$tmp/ksock" 2>&1
	ks=$?
	# The summary of the program's own process (not of a child).
	served=$(sed -nE 's/^ksock-run: pid [0-9]+: ([0-9]+) sockets, ([0-9]+) pairs.*/\1 \2/p' \
		"$tmp/stats" 2>/dev/null | awk '{ n += $1 + $2 } END { print n + 0 }')
	if [ $ns -ne 0 ]; then
		echo "FAIL $name: native run exited $ns"
		sed 's/^/  native: /' "$tmp/native" | head -20
		failn=$((failn + 1))
	elif [ $ks -ne 0 ] || ! cmp -s "$tmp/native" "$tmp/ksock"; then
		echo "FAIL $name: under ksock-run exited $ks, output differs"
		diff "$tmp/native" "$tmp/ksock" | head -20 | sed 's/^/  /'
		failn=$((failn + 1))
	elif [ "$served" -eq 0 ]; then
		echo "FAIL $name: ksock served no socket"
		failn=$((failn + 1))
	else
		echo "ok   $name ($(cut -d: -f3- "$tmp/stats" | head -1))"
		pass=$((pass + 1))
	fi
done
echo "$pass passed, $failn failed, 0 skipped"
[ $failn -eq 0 ]
