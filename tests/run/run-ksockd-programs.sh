#!/bin/sh
# run-ksockd-programs.sh KSOCK_RUN KSOCKD KSD_STATUS PROGRAM...
#
# Multi-process programs natively and under `ksock-run --ksockd`, with
# the same results (docs/ksock-run.md, docs/ksockd.md):
#
#   PROGRAM...     Python programs (tests/run/programs/ksockd/*.py) whose
#                  processes meet over sockets: the outputs must be equal
#   socat_file     socat UNIX-LISTEN to socat UNIX-CONNECT over a path,
#                  two unrelated programs: the file arrives, same hash
#   nc_file        the same with nc -lU and nc -N -U (netcat-openbsd)
#   killed_sender  a sender killed with SIGKILL in the middle of an
#                  endless transfer to a socat: the receiver's view (its
#                  exit status, a byte-exact prefix) equals Linux's
#   killed_blocked_sender  the same with a Python receiver that stops
#                  reading, so the send waits for room (on ksockd: parked
#                  in the server) when it is killed, and data of the
#                  receiver's left unread: prefix, ECONNRESET, end of file
#   killed_acceptor, killed_fd_sender  pairs of kill_roles.py: a process
#                  killed in accept while holding an unread connection
#                  (its peer: ECONNRESET, end of file, EPIPE, a new
#                  connect refused), and one killed after passing a
#                  socket with SCM_RIGHTS (the message outlives it; the
#                  socket's dead end reads as end of file)
#
# The ksockd runs use a server of their own (KSOCKD on a fresh path,
# named to ksock-run by KSOCK_RUN_KSOCKD). That it carried the sockets
# is shown by the processes' summary lines (KSOCK_RUN_STATS: sockets
# served), and for socat and nc by the server's STATUS (KSD_STATUS) holding the
# listener's parked accept; after every case the server must be back to
# its baseline (nothing of the programs' processes left), and at the end
# it must stop clean (exit 0: nothing left allocated).
#
# While ksock-run has no --ksockd option, the native runs are still
# checked and the ksockd runs skip with that reason.
# Ends with the runner line "N passed, N failed, N skipped".
set -u
run=$1 ksockd=$2 ksdstat=$3
shift 3
py=/usr/bin/python3
tmp=$(mktemp -d)
addr=$tmp/ksockd
srv=
cleanup() {
	[ -n "$srv" ] && kill -KILL "$srv" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
pass=0 failn=0 skipn=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
fail() { echo "FAIL $*"; failn=$((failn + 1)); }
skip() { echo "skip $*"; skipn=$((skipn + 1)); }

if "$run" --help 2>/dev/null | grep -q -- '--ksockd'; then
	mode=ksockd
else
	mode=none
	why="this ksock-run has no --ksockd"
fi

# The prefix of a command run under ksock-run --ksockd, served by our
# server; every process appends its summary line to $tmp/stats. (The
# paths are mktemp's and the build's: no spaces to split on.)
served="env KSOCK_RUN_KSOCKD=$addr KSOCK_RUN_STATS=$tmp/stats $run --ksockd"

# Sockets, pairs and accepted connections the library served, summed
# over every process's summary line.
stats_served() {
	sed -nE 's/^ksock-run: pid [0-9]+: ([0-9]+) sockets, ([0-9]+) pairs, ([0-9]+) accepted.*/\1 \2 \3/p' \
		"$tmp/stats" 2>/dev/null | awk '{ n += $1 + $2 + $3 } END { print n + 0 }'
}

status() { "$ksdstat" "$addr" 2>/dev/null; }
field() { status | awk -v f="$1" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }'; }

# Waits up to 60 s for COMMAND to succeed.
wait_for() {
	i=0
	while ! "$@"; do
		i=$((i + 1))
		[ $i -ge 600 ] && return 1
		sleep 0.1
	done
}
at_baseline() { [ "$(status)" = "$baseline" ]; }
parked_one_more() { [ "$(field parked)" = $((base_parked + 1)) ]; }
node_exists() { [ -S "$1" ]; }
size_at_least() { [ -f "$1" ] && [ "$(stat -c %s "$1")" -ge "$2" ]; }

# Ends a ksockd case: the programs served sockets, and the server has
# nothing of them left.
check_served() {
	name=$1 n=$(stats_served)
	if [ "$n" -eq 0 ]; then
		fail "$name: the summary lines show no socket served"
	elif ! wait_for at_baseline; then
		fail "$name: the server kept something"
		echo "  baseline: $baseline"
		echo "  now:      $(status)"
	else
		ok "$name ($(grep -c . "$tmp/stats") processes, $n sockets served)"
	fi
}

# compare_case NAME WANT: runs the function NAME natively, where it must
# print WANT, then (on ksockd) served by the server, where it must print
# the same; then check_served.
compare_case() {
	"$1" native >"$tmp/native"
	if [ "$(cat "$tmp/native")" != "$2" ]; then
		fail "$1: native run"
		sed 's/^/  native: /' "$tmp/native" "$tmp"/*.err 2>/dev/null
	elif [ $mode = none ]; then
		skip "$1: $why (native run ok)"
	else
		rm -f "$tmp/stats" "$tmp"/*.err
		base_parked=$(field parked)
		"$1" served >"$tmp/ksock"
		if ! cmp -s "$tmp/native" "$tmp/ksock"; then
			fail "$1: under ksock-run --ksockd"
			diff "$tmp/native" "$tmp/ksock" | sed 's/^/  /'
			cat "$tmp"/*.err 2>/dev/null | head -10 | sed 's/^/  /'
		else
			check_served "$1"
		fi
	fi
}

if [ $mode = ksockd ]; then
	"$ksockd" "$addr" &
	srv=$!
	if ! wait_for status >/dev/null; then
		echo "run-ksockd-programs: $ksockd does not answer at $addr"
		exit 1
	fi
	baseline=$(status)
fi

# -- the Python programs --
for prog in "$@"; do
	name=$(basename "$prog")
	timeout 120 $py "$prog" >"$tmp/native" 2>&1
	ns=$?
	if [ $ns -ne 0 ]; then
		fail "$name: native run exited $ns"
		sed 's/^/  native: /' "$tmp/native" | head -20
		continue
	fi
	if [ $mode = none ]; then
		skip "$name: $why (native run ok)"
		continue
	fi
	rm -f "$tmp/stats"
	timeout 120 $served $py "$prog" >"$tmp/ksock" 2>&1
	ks=$?
	if [ $ks -ne 0 ] || ! cmp -s "$tmp/native" "$tmp/ksock"; then
		fail "$name: under ksock-run --ksockd exited $ks, output differs"
		diff "$tmp/native" "$tmp/ksock" | head -20 | sed 's/^/  /'
		continue
	fi
	check_served "$name"
done

# listener TOOL SOCK OUT (with $how and $pre set): socat or nc listening
# on SOCK, writing what it receives to OUT, in the background ($lp); back
# once it is ready: natively its node exists, on ksockd its accept (or
# poll) is parked in the server, which shows the server holds its socket.
listener() {
	rm -f "$2" "$3"
	case $1 in
	socat)	timeout 120 $pre socat -u "UNIX-LISTEN:$2" "OPEN:$3,creat,trunc" \
			2>"$tmp/l.err" & ;;
	nc)	timeout 120 $pre nc -lU "$2" >"$3" 2>"$tmp/l.err" & ;;
	esac
	lp=$!
	if [ "$how" = served ]; then
		wait_for parked_one_more || echo "listener never parked in ksockd"
	else
		wait_for node_exists "$2" || echo "no listener node"
	fi
}

# -- two unrelated programs over a path name: socat to socat, nc to nc --
head -c 3000000 /dev/urandom >"$tmp/in"
# file_transfer TOOL native|served: prints the listener's and the
# connector's exit status and the hash of what arrived.
file_transfer() {
	how=$2 pre=
	[ "$how" = served ] && pre=$served
	listener "$1" "$tmp/s.sock" "$tmp/out"
	case $1 in
	socat)	timeout 120 $pre socat -u "OPEN:$tmp/in" \
			"UNIX-CONNECT:$tmp/s.sock" 2>"$tmp/c.err" ;;
	nc)	timeout 120 $pre nc -N -U "$tmp/s.sock" <"$tmp/in" \
			2>"$tmp/c.err" ;;
	esac
	cs=$?
	wait $lp
	echo "listener $? connector $cs"
	sha256sum <"$tmp/out" 2>/dev/null
	rm -f "$tmp/s.sock"
}
socat_file() { file_transfer socat "$1"; }
nc_file() { file_transfer nc "$1"; }
want=$(sha256sum <"$tmp/in")
compare_case socat_file "$(printf 'listener 0 connector 0\n%s' "$want")"
compare_case nc_file "$(printf 'listener 0 connector 0\n%s' "$want")"

# -- a sender killed with SIGKILL in the middle of a transfer --
head -c 1048576 /dev/urandom >"$tmp/pat"
# The sender: connects to $1 (once it is there) and sends the pattern
# $2 over and over, for ever.
sender='
import socket, sys, time
blk = open(sys.argv[2], "rb").read()
s = socket.socket(socket.AF_UNIX)
for _ in range(600):
    try:
        s.connect(sys.argv[1])
        break
    except (FileNotFoundError, ConnectionRefusedError):
        time.sleep(0.1)
while True:
    s.sendall(blk)
'
# Whether file $1 is a prefix of $tmp/pat repeated for ever.
prefix_check='
import sys
pat = open(sys.argv[2], "rb").read()
with open(sys.argv[1], "rb") as f:
    data = f.read()
ok = len(data) > 0 and all(data[i:i + len(pat)] == pat[:len(data) - i]
                           for i in range(0, len(data), len(pat)))
print("prefix", ok)
'
# killed_sender native|served: the receiving socat's exit status, and whether what
# it wrote is a byte-exact prefix of what was sent.
killed_sender() {
	how=$1 pre=
	[ "$how" = served ] && pre=$served
	listener socat "$tmp/k.sock" "$tmp/kout"
	$pre $py -c "$sender" "$tmp/k.sock" "$tmp/pat" 2>/dev/null &
	sp=$!
	# Mid-transfer: 2 MiB arrived, and the sender never ends by itself.
	wait_for size_at_least "$tmp/kout" 2097152 || echo "transfer stalled"
	kill -KILL $sp
	wait $sp 2>/dev/null
	echo "sender $?"
	wait $lp
	echo "receiver $?"
	$py -c "$prefix_check" "$tmp/kout" "$tmp/pat"
	rm -f "$tmp/k.sock"
}
# The killed process writes no summary line; the receiver's counts, and
# the server back to baseline, remain.
compare_case killed_sender "$(printf 'sender 137\nreceiver 0\nprefix True')"

# The receiver of killed_blocked_sender: listens on $1, sends bytes the
# sender never reads, reads 2 MiB, makes the file $2 and stops reading
# until the file $3 exists; then reads to the end, writes what it
# received to $4 and prints what ended the stream (errno names, EOF).
receiver='
import errno, os, socket, sys, time
path, mark, go, out = sys.argv[1:5]
lst = socket.socket(socket.AF_UNIX)
lst.bind(path)
lst.listen(1)
c, _ = lst.accept()
c.sendall(b"left unread")
data = bytearray()
while len(data) < 2 << 20:
    data += c.recv(65536)
open(mark, "w").close()
while not os.path.exists(go):
    time.sleep(0.05)
seen = []
while len(seen) < 4:
    try:
        b = c.recv(65536)
    except OSError as e:
        seen.append(errno.errorcode[e.errno])
        continue
    if not b:
        seen.append("EOF")
        break
    data += b
open(out, "wb").write(data)
print(*seen)
c.close()
lst.close()
os.unlink(path)
'
sleeping() { [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)" = S ]; }
# kill_blocked PID NAME GO (with $how set): waits until PID blocks in its
# call (natively asleep in the kernel, on ksockd parked in the server),
# kills it with SIGKILL, prints "NAME STATUS" and makes the file GO.
kill_blocked() {
	if [ "$how" = served ]; then
		wait_for parked_one_more || echo "$2 never parked in ksockd"
	else
		wait_for sleeping $1 || echo "$2 never slept"
	fi
	kill -KILL $1
	wait $1 2>/dev/null
	echo "$2 $?"
	touch "$3"
}
# killed_blocked_sender native|served: a sender killed while its send
# waits for room (natively asleep in the kernel; on ksockd parked in the
# server), with data of the receiver's left unread: the receiver reads a
# byte-exact prefix, then ECONNRESET once, then end of file, as on Linux.
killed_blocked_sender() {
	how=$1 pre=
	[ "$how" = served ] && pre=$served
	rm -f "$tmp/b.sock" "$tmp/bout" "$tmp/mark" "$tmp/go"
	timeout 120 $pre $py -c "$receiver" "$tmp/b.sock" "$tmp/mark" \
		"$tmp/go" "$tmp/bout" >"$tmp/recv.out" 2>&1 &
	rp=$!
	$pre $py -c "$sender" "$tmp/b.sock" "$tmp/pat" 2>/dev/null &
	sp=$!
	wait_for test -f "$tmp/mark" || echo "transfer stalled"
	kill_blocked $sp sender "$tmp/go"
	wait $rp
	echo "receiver $?"
	cat "$tmp/recv.out"
	$py -c "$prefix_check" "$tmp/bout" "$tmp/pat"
}
compare_case killed_blocked_sender \
	"$(printf 'sender 137\nreceiver 0\nECONNRESET EOF\nprefix True')"

# killed_roles LISTENER OTHER VICTIM native|served: two processes of
# kill_roles.py, LISTENER first, then OTHER once it listens; VICTIM (one
# of the two) is killed in its blocking call (natively asleep in the
# kernel, on ksockd parked in the server), then the peer's view.
roles=${0%/*}/programs/ksockd/kill_roles.py
killed_roles() {
	how=$4 pre=
	[ "$how" = served ] && pre=$served
	rm -rf "$tmp/r" && mkdir "$tmp/r"
	role_start "$1" "$3" 1
	p1=$!
	wait_for test -f "$tmp/r/ready" || echo "no listener"
	role_start "$2" "$3" 2
	p2=$!
	if [ "$3" = "$1" ]; then vp=$p1 pp=$p2; else vp=$p2 pp=$p1; fi
	wait_for test -f "$tmp/r/mid" || echo "the peer never got there"
	kill_blocked $vp victim "$tmp/r/go"
	wait $pp
	echo "peer $?"
	cat "$tmp/r/1.out" "$tmp/r/2.out"
}
# role_start ROLE VICTIM N: ROLE in the background, its output in
# $tmp/r/N.out; the victim without timeout, so that $! is its own pid.
role_start() {
	if [ "$1" = "$2" ]; then
		$pre $py "$roles" "$1" "$tmp/r/r.sock" "$tmp/r" >"$tmp/r/$3.out" 2>&1 &
	else
		timeout 120 $pre $py "$roles" "$1" "$tmp/r/r.sock" "$tmp/r" \
			>"$tmp/r/$3.out" 2>&1 &
	fi
}
killed_acceptor() { killed_roles acceptor connector acceptor "$1"; }
killed_fd_sender() { killed_roles fd-receiver fd-sender fd-sender "$1"; }
compare_case killed_acceptor "$(printf '%s\n' 'victim 137' 'peer 0' \
	"from acceptor: b'r'" 'recv: ECONNRESET' 'recv: EOF' 'send: EPIPE' \
	'new connect: ECONNREFUSED')"
compare_case killed_fd_sender "$(printf '%s\n' 'victim 137' 'peer 0' \
	"message b'f' descriptors 1 flags 0" 'passed socket: EOF' \
	'connection: EOF')"

# The server stops clean: SIGTERM, exit 0 only when nothing is left
# allocated in it.
if [ $mode = ksockd ]; then
	kill -TERM "$srv"
	wait "$srv"
	st=$?
	srv=
	if [ $st -eq 0 ]; then
		ok "server_stops_clean"
	else
		fail "server_stops_clean (status $st)"
	fi
fi
echo "$pass passed, $failn failed, $skipn skipped"
[ $failn -eq 0 ]
