#!/bin/sh
# run-inet.sh SUITE KSOCK_RUN [ARGS...]: ksock-run serving AF_INET and
# AF_INET6 (docs/ksock-run.md, "Internet sockets"). Each suite ends with
# the runner line "N passed, N failed, N skipped".
#
#   conform KSOCK_RUN PROGRAM   a conformance program's libc build under
#                               ksock-run --inet=loopback
#   loopback KSOCK_RUN PY_HTTP  tests/run/programs/py_http.py under
#                               ksock-run --inet=loopback: its output must
#                               be the native run's; and which sockets
#                               are ksock's: TCP and UDP, not the others
#   tap KSOCK_RUN PY_HTTP       curl under ksock-run --inet=tap fetching
#                               from a Linux HTTP server across the TAP
#                               link, and Linux's curl fetching from an
#                               HTTP server under ksock-run, IPv4 and IPv6,
#                               files checked by hash; socat under
#                               ksock-run sending UDP datagrams to a
#                               Linux receiver, which sees ksock's
#                               address as the source; a program under
#                               ksock-run sending a file over TCP, closing
#                               and exiting at once, the file arriving whole
#                               (the exit waits for its acknowledgement);
#                               attach errors
#                               (no such device, a bad address, the
#                               device held by another process); a
#                               child forked
#                               after the attach is refused (ENETDOWN)
#                               while its parent goes on
#
# Every suite runs its ksock side in a network namespace of its own
# (unshare -n). There the kernel's loopback is down unless the suite
# brings it up, so a socket the kernel served instead of ksock could not
# reach 127.0.0.1 or ::1: passing shows ksock served them. tap brings up
# lo and kstap0 as docs/inet.md ("The test network") says. Without the privilege for unshare -n
# (or /dev/net/tun for tap) a suite skips itself, saying why.
set -u
suite=$1
run=$2
shift 2
# The servers below run in other directories.
case $run in
/*) ;;
*) run=$PWD/$run ;;
esac
# Debian's interpreter: a python3 earlier in PATH may be a wrapper script
# (pyenv) that runs several processes.
py=/usr/bin/python3
pass=0 failn=0 skipn=0

ok() { echo "ok   $1"; pass=$((pass + 1)); }
fail() { echo "FAIL $1"; failn=$((failn + 1)); }
skip() { echo "  skip $1"; skipn=$((skipn + 1)); }
summary() {
	echo "$pass passed, $failn failed, $skipn skipped"
	[ $failn -eq 0 ]
	exit
}

# Whether this process may make network namespaces (unshare -n).
can_unshare() {
	unshare -n true 2>/dev/null
}

# The count of Internet sockets in a summary file (KSOCK_RUN_STATS) of
# the program's own process.
inet_count() {
	sed -nE 's@^ksock-run: pid [0-9]+: ([0-9]+) AF_INET/AF_INET6 sockets.*@\1@p' \
		"$1" 2>/dev/null | awk '{ n += $1 } END { print n + 0 }'
}

case $suite in
conform)
	prog=$1
	if can_unshare; then
		exec unshare -n "$run" --in-process --inet=loopback "$prog"
	fi
	echo "  (no network namespace here: run beside the kernel's loopback)"
	exec "$run" --in-process --inet=loopback "$prog"
	;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Each kind of socket, and whose it is: a kernel socket's /proc/self/fd
# link names "socket:", a ksock socket's the library's placeholder file;
# or the errno socket() gave.
KINDS='
import os, socket
S = socket
kinds = [("tcp", S.AF_INET, S.SOCK_STREAM, 0),
         ("udp", S.AF_INET, S.SOCK_DGRAM, S.IPPROTO_UDP),
         ("tcp6", S.AF_INET6, S.SOCK_STREAM | S.SOCK_NONBLOCK, S.IPPROTO_TCP),
         ("udp6", S.AF_INET6, S.SOCK_DGRAM | S.SOCK_CLOEXEC, 0),
         ("raw", S.AF_INET, S.SOCK_RAW, S.IPPROTO_ICMP),
         ("ping", S.AF_INET, S.SOCK_DGRAM, S.IPPROTO_ICMP),
         ("icmp6", S.AF_INET6, S.SOCK_DGRAM, S.IPPROTO_ICMPV6),
         ("sctp", S.AF_INET, S.SOCK_STREAM, 132),
         ("mismatch", S.AF_INET, S.SOCK_STREAM, S.IPPROTO_UDP),
         ("seqpacket", S.AF_INET, S.SOCK_SEQPACKET, 0),
         ("netlink", S.AF_NETLINK, S.SOCK_RAW, 0),
         ("packet", S.AF_PACKET, S.SOCK_DGRAM, 0)]
for name, family, type, proto in kinds:
    try:
        fd = socket.socket(family, type, proto).detach()
    except OSError as e:
        print(name, "errno", e.errno)
        continue
    link = os.readlink("/proc/self/fd/%d" % fd)
    print(name, "kernel" if link.startswith("socket:") else "ksock")
    os.close(fd)
'

case $suite in
loopback)
	prog=$1
	# Who has each kind of socket: natively every one is the kernel's
	# (or the kernel's error); under --inet=loopback the TCP and UDP ones
	# become ksock's and everything else stays as it was.
	$py -c "$KINDS" >"$tmp/kinds.native" 2>&1
	"$run" --in-process --inet=loopback $py -c "$KINDS" >"$tmp/kinds.ksock" 2>&1
	sed -E 's/^((tcp|udp)6? )kernel$/\1ksock/' "$tmp/kinds.native" \
		>"$tmp/kinds.want"
	if cmp -s "$tmp/kinds.want" "$tmp/kinds.ksock"; then
		ok "ksock serves TCP and UDP sockets, the kernel the rest ($(grep -c ksock "$tmp/kinds.ksock") of $(wc -l <"$tmp/kinds.ksock"))"
	else
		fail "which sockets are ksock's"
		diff "$tmp/kinds.want" "$tmp/kinds.ksock" | sed 's/^/  /'
	fi
	if ! can_unshare; then
		skip "py_http.py in a network namespace: unshare -n not permitted"
		summary
	fi
	if ! timeout 60 $py "$prog" >"$tmp/native" 2>&1; then
		fail "py_http.py: native run failed"
		sed 's/^/  native: /' "$tmp/native" | head -20
		summary
	fi
	KSOCK_RUN_STATS="$tmp/stats" timeout 60 unshare -n \
		"$run" --in-process --inet=loopback $py "$prog" >"$tmp/ksock" 2>&1
	ks=$?
	n=$(inet_count "$tmp/stats")
	if [ $ks -ne 0 ] || ! cmp -s "$tmp/native" "$tmp/ksock"; then
		fail "py_http.py beside a kernel loopback that is down: exited $ks, output differs"
		diff "$tmp/native" "$tmp/ksock" | head -20 | sed 's/^/  /'
	elif [ "$n" -eq 0 ]; then
		fail "py_http.py: no AF_INET/AF_INET6 socket was ksock's"
	else
		ok "py_http.py beside a kernel loopback that is down ($n Internet sockets on ksock)"
	fi
	summary
	;;
tap)
	if ! can_unshare; then
		skip "tap: unshare -n not permitted"
		summary
	fi
	if [ ! -c /dev/net/tun ]; then
		skip "tap: no /dev/net/tun"
		summary
	fi
	# The rest runs inside the namespace.
	unshare -n sh "$0" tap-inside "$run" "$tmp"
	exit
	;;
tap-inside)
	# Called by the tap suite inside its namespace; $1 is the directory
	# to work in (the caller removes it), instead of the one made above.
	trap - EXIT
	rmdir "$tmp"
	tmp=$1
	;;
*)
	echo "run-inet.sh: unknown suite $suite" >&2
	exit 2
	;;
esac

# -- tap, inside the namespace: the test network of docs/inet.md --
if ! { ip tuntap add dev kstap0 mode tap &&
	ip link set lo up &&
	ip link set kstap0 up &&
	ip addr add 10.77.0.1/24 dev kstap0 &&
	ip -6 addr add fd77::1/64 dev kstap0 nodad; }; then
	skip "tap: cannot make kstap0 in the namespace"
	summary
fi

# A file of several MB to move; its hash is what must arrive.
mkdir -p "$tmp/www"
head -c 6000000 /dev/urandom >"$tmp/www/file"
want=$(sha256sum <"$tmp/www/file" | cut -d' ' -f1)
srv=

stop_server() {
	if [ -n "$srv" ]; then
		kill "$srv" 2>/dev/null
		wait "$srv" 2>/dev/null
		srv=
	fi
}
trap stop_server EXIT

# Waits until the HTTP server $srv answers at URL, by Linux's curl;
# false when it has ended, or after 60 s.
wait_http() {
	end=$(($(date +%s) + 60))
	while [ "$(date +%s)" -lt $end ] && kill -0 "$srv" 2>/dev/null; do
		curl -s -m 5 -o /dev/null "$1" && return 0
		sleep 0.2
	done
	return 1
}

# python3 -m http.server on port 8080 of the address argv[1], which
# leaves by sys.exit() on SIGTERM, so that the library's exit summary is
# written when it runs under ksock-run. (A background job of a script
# ignores SIGINT, so the module's own way out, KeyboardInterrupt, cannot
# be used.)
SERVER='
import http.server, signal, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
http.server.test(HandlerClass=http.server.SimpleHTTPRequestHandler,
                 ServerClass=http.server.ThreadingHTTPServer,
                 port=8080, bind=sys.argv[1])
'

# start_server NAME BIND URL [PREFIX...]: the HTTP server on BIND serving
# $tmp/www, run by PREFIX (ksock-run and its options) or on Linux, as
# $srv, answering at URL. False (the case failed) when it did not start.
start_server() {
	name=$1 bind=$2 url=$3
	shift 3
	(cd "$tmp/www" && KSOCK_RUN_STATS="$tmp/stats" exec "$@" $py -c \
		"$SERVER" "$bind") >"$tmp/server.log" 2>&1 &
	srv=$!
	wait_http "$url/file" && return 0
	fail "$name: the server did not start"
	sed 's/^/  /' "$tmp/server.log" | head -10
	stop_server
	return 1
}

# transfer NAME SIDE BIND URL: the file fetched by curl from the HTTP
# server on BIND, across the link; SIDE (client or server) runs under
# ksock-run --inet=tap, the other on Linux. The file must arrive whole,
# and the exit summary of the ksock side must count Internet sockets
# (the client's one, or the server's listener and accepted connections).
transfer() {
	name=$1 side=$2 bind=$3 url=$4
	rm -f "$tmp/stats" "$tmp/got"
	if [ "$side" = server ]; then
		start_server "$name" "$bind" "$url" "$run" --in-process --inet=tap || return
		timeout 120 curl -sS -o "$tmp/got" "$url/file" \
			>"$tmp/client.log" 2>&1
		st=$? min=2
	else
		start_server "$name" "$bind" "$url" || return
		KSOCK_RUN_STATS="$tmp/stats" timeout 120 "$run" --in-process --inet=tap \
			curl -sS -o "$tmp/got" "$url/file" >"$tmp/client.log" 2>&1
		st=$? min=1
	fi
	stop_server
	got=$(sha256sum <"$tmp/got" 2>/dev/null | cut -d' ' -f1)
	n=$(inet_count "$tmp/stats")
	if [ $st -ne 0 ] || [ "$got" != "$want" ]; then
		fail "$name: curl exited $st, hash ${got:-none}"
		sed 's/^/  /' "$tmp/client.log" | head -10
	elif [ "$n" -lt $min ]; then
		fail "$name: the $side's sockets were not ksock's ($n)"
	else
		ok "$name ($(wc -c <"$tmp/got") bytes, $n Internet sockets on ksock)"
	fi
}

# A UDP receiver on Linux: binds argv[1] port 9000, creates the file
# argv[2] when it is ready, and prints the one datagram it gets with its
# source address (ksock's side of the link, when ksock sent it).
UDPRECV='
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET,
                  socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9000))
s.settimeout(60)
open(sys.argv[2], "w").close()
data, addr = s.recvfrom(65536)
print(data.decode().strip(), "from", addr[0], flush=True)
'

# wait_ready FILE PID: waits until the receiver PID created FILE (it is
# ready), ended, or 60 s passed.
wait_ready() {
	end=$(($(date +%s) + 60))
	while [ ! -e "$1" ] && [ "$(date +%s)" -lt $end ] &&
	      kill -0 "$2" 2>/dev/null; do
		sleep 0.1
	done
}

# udp NAME DEST SOCAT_ADDR SOURCE: socat under ksock-run --inet=tap sends
# one datagram to SOCAT_ADDR; the Linux receiver on DEST must get it
# from SOURCE.
udp() {
	name=$1 dest=$2 to=$3 source=$4
	rm -f "$tmp/udp.ready"
	$py -c "$UDPRECV" "$dest" "$tmp/udp.ready" >"$tmp/udp.out" 2>&1 &
	rx=$!
	wait_ready "$tmp/udp.ready" $rx
	# socat's input stays open until the datagram arrived: a process
	# under ksock-run that ends loses what its stack still holds (here
	# the datagram, while the first neighbour resolution runs), which
	# Linux's kernel would send after the process ended.
	{
		echo "datagram over the link"
		while [ ! -s "$tmp/udp.out" ] && kill -0 $rx 2>/dev/null; do
			sleep 0.1
		done
	} | timeout 60 "$run" --in-process --inet=tap socat -u - "$to" >"$tmp/udp.log" 2>&1
	st=$?
	wait $rx
	if [ $st -eq 0 ] && [ "$(cat "$tmp/udp.out")" = \
	     "datagram over the link from $source" ]; then
		ok "$name (from $source)"
	else
		fail "$name: socat exited $st"
		sed 's/^/  /' "$tmp/udp.out" "$tmp/udp.log" | head -10
	fi
}

# A TCP receiver on Linux: listens on argv[1] port 9001, creates the
# file argv[2] when it is ready, reads one connection to its end (or
# until 60 s pass without a byte), pausing 32 KiB before the end of
# the argv[3] bytes it expects, and prints the SHA-256 of what came.
TCPRECV='
import hashlib, socket, sys, time
l = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
# A small window: what the sender cannot send stays in its own queue.
l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
l.bind((sys.argv[1], 9001))
l.listen(1)
l.settimeout(60)
open(sys.argv[2], "w").close()
c, _ = l.accept()
c.settimeout(60)
h = hashlib.sha256()
n = 0
# Stops reading 32 KiB before the end for two seconds: the rest fits
# in the send queue of the sender, so it closes and exits with that queue
# full (and its FIN not sent).
pause = int(sys.argv[3]) - 32768
try:
    while True:
        b = c.recv(65536 if n >= pause else min(65536, pause - n))
        if not b:
            break
        h.update(b)
        n += len(b)
        if n == pause:
            time.sleep(2)
except socket.timeout:
    pass
print(h.hexdigest(), flush=True)
'

# A TCP sender: connects to argv[1] port 9001, sends the file argv[2],
# closes and ends at once.
TCPSEND='
import socket, sys
s = socket.create_connection((sys.argv[1], 9001))
s.sendall(open(sys.argv[2], "rb").read())
s.close()
'

# sent_at_exit NAME DEST: a sender under ksock-run --inet=tap sends the
# 6 MB file to a Linux receiver on DEST, closes and exits as soon as its
# last write returned; what ksock's stack still held then (up to a send
# buffer and the FIN) must arrive all the same, as when Linux's kernel
# finishes sending after a program ended.
sent_at_exit() {
	name=$1 dest=$2
	rm -f "$tmp/tcp.ready"
	$py -c "$TCPRECV" "$dest" "$tmp/tcp.ready" \
		"$(wc -c <"$tmp/www/file")" >"$tmp/tcp.out" 2>&1 &
	rx=$!
	wait_ready "$tmp/tcp.ready" $rx
	timeout 120 "$run" --in-process --inet=tap $py -c "$TCPSEND" "$dest" \
		"$tmp/www/file" >"$tmp/tcp.log" 2>&1
	st=$?
	wait $rx
	got=$(cat "$tmp/tcp.out")
	if [ $st -eq 0 ] && [ "$got" = "$want" ]; then
		ok "$name"
	else
		fail "$name: the sender exited $st, hash ${got:-none}"
		sed 's/^/  /' "$tmp/tcp.log" | head -10
	fi
}

# Two socket() calls, each printing "socket" or the errno's name; with
# an argument the program then holds its sockets (and the link) until
# its input ends.
TWO='
import errno, socket, sys
keep = []
for i in range(2):
    try:
        keep.append(socket.socket())
        print("socket", flush=True)
    except OSError as e:
        print(errno.errorcode[e.errno], flush=True)
if len(sys.argv) > 1:
    sys.stdin.read()
'

# attach_error NAME TAP WANT [HOLD]: the two socket() calls under
# ksock-run --inet=tap with KSOCK_RUN_TAP=TAP must print WANT twice, and
# the library one line on stderr when WANT is an error.
attach_error() {
	name=$1 spec=$2 want=$3
	KSOCK_RUN_TAP=$spec timeout 60 "$run" --in-process --inet=tap $py -c "$TWO" \
		>"$tmp/two.out" 2>"$tmp/two.err" </dev/null
	st=$?
	printf '%s\n%s\n' "$want" "$want" >"$tmp/two.want"
	lines=$(wc -l <"$tmp/two.err")
	[ "$want" = socket ] && wantlines=0 || wantlines=1
	if [ $st -eq 0 ] && cmp -s "$tmp/two.want" "$tmp/two.out" &&
	   [ "$lines" -eq "$wantlines" ]; then
		ok "$name: $want"
	else
		fail "$name: exited $st, $lines lines on stderr"
		sed 's/^/  /' "$tmp/two.out" "$tmp/two.err" | head -10
	fi
}

attach_errors() {
	attach_error "attach to a device that does not exist" \
		"nosuch0 10.77.0.2/24" ENODEV
	attach_error "attach with an address without its prefix" \
		"kstap0 10.77.0.2" EINVAL
	attach_error "attach with IPv6 only" "kstap0 - fd77::2/64" socket
	# A first process holds the device; a second one cannot have it.
	rm -f "$tmp/hold.fifo"
	mkfifo "$tmp/hold.fifo"
	timeout 120 "$run" --in-process --inet=tap $py -c "$TWO" hold \
		<"$tmp/hold.fifo" >"$tmp/hold.out" 2>&1 &
	holder=$!
	exec 3>"$tmp/hold.fifo"
	end=$(($(date +%s) + 60))
	while [ "$(wc -l <"$tmp/hold.out")" -lt 2 ] &&
	      [ "$(date +%s)" -lt $end ] && kill -0 $holder 2>/dev/null; do
		sleep 0.1
	done
	if [ "$(cat "$tmp/hold.out")" != "$(printf 'socket\nsocket')" ]; then
		fail "the first process did not attach"
		sed 's/^/  /' "$tmp/hold.out" | head -5
	else
		attach_error "attach while another process holds the device" \
			"kstap0 10.77.0.2/24 fd77::2/64" EBUSY
	fi
	exec 3>&-
	wait $holder
}

# A forked child cannot use the link its parent attached: its socket()
# fails with ENETDOWN, and the parent goes on using the link.
FORK='
import errno, os, socket
def get():
    s = socket.socket()
    s.settimeout(30)
    s.connect(("10.77.0.1", 8080))
    s.sendall(b"GET /file HTTP/1.0\r\n\r\n")
    head = s.recv(12)
    s.close()
    return head
print("parent", get(), flush=True)
pid = os.fork()
if pid == 0:
    try:
        socket.socket()
        print("child: a socket", flush=True)
    except OSError as e:
        print("child", errno.errorcode[e.errno], flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print("parent", get(), flush=True)
'
fork_child() {
	name="a child forked after the attach"
	start_server "$name" 10.77.0.1 "http://10.77.0.1:8080" || return
	timeout 120 "$run" --in-process --inet=tap $py -c "$FORK" >"$tmp/fork.log" 2>&1
	st=$?
	stop_server
	printf '%s\n' "parent b'HTTP/1.0 200'" "child ENETDOWN" \
		"parent b'HTTP/1.0 200'" >"$tmp/fork.want"
	if [ $st -eq 0 ] && cmp -s "$tmp/fork.want" "$tmp/fork.log"; then
		ok "$name: its socket() is ENETDOWN, the parent goes on"
	else
		fail "$name: exited $st"
		diff "$tmp/fork.want" "$tmp/fork.log" | head -10 | sed 's/^/  /'
	fi
}

transfer "curl under ksock-run from Linux, IPv4" client 10.77.0.1 \
	"http://10.77.0.1:8080"
transfer "curl under ksock-run from Linux, IPv6" client fd77::1 \
	"http://[fd77::1]:8080"
transfer "Linux's curl from a server under ksock-run, IPv4" server 10.77.0.2 \
	"http://10.77.0.2:8080"
transfer "Linux's curl from a server under ksock-run, IPv6" server fd77::2 \
	"http://[fd77::2]:8080"
udp "socat under ksock-run sends UDP to Linux, IPv4" 10.77.0.1 \
	UDP4-SENDTO:10.77.0.1:9000 10.77.0.2
udp "socat under ksock-run sends UDP to Linux, IPv6" fd77::1 \
	"UDP6-SENDTO:[fd77::1]:9000" fd77::2
sent_at_exit "a sender under ksock-run closes and exits at once, IPv4" \
	10.77.0.1
sent_at_exit "a sender under ksock-run closes and exits at once, IPv6" \
	fd77::1
fork_child
attach_errors
summary
