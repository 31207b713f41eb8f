#!/bin/sh
# run-ksockd.sh KSOCK_RUN PROGRAM [ARGS...]
# run-ksockd.sh --env COMMAND [ARGS...]
#
# Runs PROGRAM under `ksock-run --ksockd` (or, with --env, COMMAND as it
# is with KSOCK_RUN_KSOCKD in its environment, which puts every
# ksock-run it starts in that mode) with a server of its own: a
# fresh abstract address that no server answers yet, so the preload
# library starts one (build/ksockd --idle-exit) at the program's first
# process. PROGRAM's output and exit status are passed on. Afterwards the
# server must go by itself (it stops once it has had no client for a
# while): this script waits for it and fails, with the runner line
# "0 passed, 1 failed, 0 skipped" appended, if it is still there after
# 60 s or its name is still bound.
set -u
run=$1
shift
addr="ksockd-check.$$.$(date +%s%N)"
if [ "$run" = --env ]; then
	export KSOCK_RUN_KSOCKD="@$addr"
	unset KSOCK_RUN_IN_PROCESS
	run=
fi

# The pids of processes whose command line ends in our address.
servers() {
	for d in /proc/[0-9]*; do
		cmd=$( (tr '\0' ' ' <"$d/cmdline") 2>/dev/null) || continue
		case $cmd in
		*ksockd*" @$addr ") echo "${d#/proc/}" ;;
		esac
	done
}

# Whether the abstract name is bound (a server listens, or did).
bound() {
	grep -q " @$addr\$" /proc/net/unix
}

if [ -n "$run" ]; then
	"$run" --ksockd="@$addr" "$@"
else
	"$@"
fi
status=$?

waited=0
while [ -n "$(servers)" ] && [ $waited -lt 600 ]; do
	sleep 0.1
	waited=$((waited + 1))
done
left=$(servers)
if [ -n "$left" ]; then
	echo "run-ksockd: the server ksock-run started (pid $left) is still" \
	     "running 60 s after the program"
	echo "0 passed, 1 failed, 0 skipped"
	kill $left 2>/dev/null
	exit 1
fi
if bound; then
	echo "run-ksockd: @$addr is still bound after the server exited"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
echo "run-ksockd: the server at @$addr is gone"
exit $status
