#!/bin/sh
# run-diag.sh KSOCK_RUN KSOCKSTAT
#
# ksockstat -p reads a program run under ksock-run with KSOCK_DIAG=1: a
# Python program with a listener, a pending connection and a socketpair
# waits on its standard input while ksockstat reads it in each format;
# without KSOCK_DIAG nothing serves it. Ends with the runner line
# "N passed, N failed, N skipped".
set -u
run=$1
stat=$2
tmp=$(mktemp -d)
trap 'exec 3>&-; rm -rf "$tmp"' EXIT
pass=0 failn=0

check() {	# NAME CONDITION-STATUS
	if [ "$2" -eq 0 ]; then
		echo "ok   $1"
		pass=$((pass + 1))
	else
		echo "FAIL $1"
		sed 's/^/  /' "$tmp/out" 2>/dev/null | head -20
		failn=$((failn + 1))
	fi
}

# Starts the program (environment in $1) and sets $pid.
start() {
	rm -f "$tmp/go" "$tmp/pid" "$tmp/listener"
	mkfifo "$tmp/go"
	env $1 timeout 60 "$run" --in-process /usr/bin/python3 -c '
import os, socket, sys
d = sys.argv[1]
l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
l.bind(d + "/listener")
l.listen(4)
a, b = socket.socketpair()
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(d + "/listener")
print(os.getpid(), flush=True)
sys.stdin.read()
' "$tmp" <"$tmp/go" >"$tmp/pid" &
	exec 3>"$tmp/go"
	pid=
	for _ in $(seq 100); do
		pid=$(cat "$tmp/pid" 2>/dev/null)
		[ -n "$pid" ] && break
		sleep 0.1
	done
}

stop() {
	exec 3>&-
	wait
}

start KSOCK_DIAG=1
"$stat" -p "$pid" >"$tmp/out" 2>&1
grep -q "^u_str LISTEN .*$tmp/listener" "$tmp/out" &&
	[ "$(grep -c '^u_str ESTAB' "$tmp/out")" -eq 3 ] &&
	grep -q "^u_str SYN-RECV .*$tmp/listener" "$tmp/out"
check "ss format lists the listener, the pair, the client and the embryo" $?
"$stat" -p "$pid" -r >"$tmp/out" 2>&1
[ "$(grep -c " $tmp/listener\$" "$tmp/out")" -eq 2 ] &&
	grep -q "00010000 0001 01 .* $tmp/listener\$" "$tmp/out"
check "/proc/net/unix format" $?
"$stat" -p "$pid" -j >"$tmp/out" 2>&1
python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["pid"] == int(sys.argv[2]), j["pid"]
assert len(j["sockets"]) == 5, j["sockets"]
' "$tmp/out" "$pid" >>"$tmp/out" 2>&1
check "JSON: the program's pid and its five sockets" $?
stop

start KSOCK_DIAG=0
"$stat" -p "$pid" >"$tmp/out" 2>&1
[ $? -ne 0 ]
check "without KSOCK_DIAG=1 nothing answers" $?
stop

echo "$pass passed, $failn failed, 0 skipped"
[ $failn -eq 0 ]
