#!/bin/sh
# cli.sh BUILD CC
#
# The command lines of BUILD/ksock-run and BUILD/ksockstat: --help and
# --version, usage errors (exit 2 with a message), ksock-run's exit
# statuses (125 no library or --strict, 126, 127), and ksock-run telling
# the programs it cannot serve (static, setuid, setgid, another
# architecture, through "#!" and "#!/usr/bin/env") apart from those it
# serves, each checked against what really happened: whether the preload
# library's exit summary (KSOCK_RUN_STATS) appeared. Ends with the runner
# line.
set -u
build=$1 cc=$2
run=$build/ksock-run stat=$build/ksockstat
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 failn=0 skipn=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
fail() { echo "FAIL $*"; failn=$((failn + 1)); }
skip() { echo "skip $*"; skipn=$((skipn + 1)); }
# The programs below run in the in-process mode (whether the library's
# exit summary appeared tells whether it was loaded), without a server;
# the modes themselves are checked at the end.
export KSOCK_RUN_IN_PROCESS=1

part() { sed -n "s/^#define KS_VERSION_$1[[:space:]]*\([0-9]*\).*/\1/p" include/ksock/version.h; }
version=$(part MAJOR).$(part MINOR).$(part PATCH)

# expect NAME STATUS STDOUT-PATTERN STDERR-PATTERN COMMAND...
# Runs COMMAND; passes when it exits STATUS and its outputs match the
# extended regular expressions (an empty pattern: that output is empty).
expect() {
	name=$1 want=$2 outpat=$3 errpat=$4
	shift 4
	rm -f "$tmp/stats"
	KSOCK_RUN_STATS="$tmp/stats" "$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	why=
	[ "$got" -eq "$want" ] || why="exit $got, not $want"
	if [ -z "$outpat" ]; then
		[ -s "$tmp/out" ] && why="$why; stdout not empty"
	elif ! grep -qE "$outpat" "$tmp/out"; then
		why="$why; stdout lacks /$outpat/"
	fi
	if [ -z "$errpat" ]; then
		[ -s "$tmp/err" ] && why="$why; stderr not empty"
	elif ! grep -qE "$errpat" "$tmp/err"; then
		why="$why; stderr lacks /$errpat/"
	fi
	if [ -z "$why" ]; then
		ok "$name"
	else
		fail "$name: $why"
		sed 's/^/  out: /' "$tmp/out" | head -5
		sed 's/^/  err: /' "$tmp/err" | head -5
	fi
}
# served YES|NO NAME: whether the last run loaded the preload library.
served() {
	if [ -s "$tmp/stats" ]; then s=YES; else s=NO; fi
	if [ "$s" = "$1" ]; then
		ok "$2: served by ksock: $s"
	else
		fail "$2: served by ksock: $s, not $1"
	fi
}
# one_line NAME: the last run wrote exactly one line to stderr.
one_line() {
	n=$(wc -l <"$tmp/err")
	if [ "$n" -eq 1 ]; then ok "$1: one line"; else fail "$1: $n lines on stderr"; fi
}

# -- ksock-run: usage --
expect "ksock-run with no program: usage error" 2 "" "no PROGRAM.*|Try 'ksock-run --help'" "$run"
expect "ksock-run -- with no program: usage error" 2 "" "Try 'ksock-run --help'" "$run" --
expect "ksock-run --bogus: usage error naming it" 2 "" "unknown option '--bogus'" "$run" --bogus true
for h in --help -h; do
	expect "ksock-run $h" 0 "^Usage: ksock-run " "" "$run" $h
	for s in "^Options:" "^Environment:" "^Exit status:" "--strict" "KSOCK_PRELOAD"; do
		grep -qE -- "$s" "$tmp/out" || fail "ksock-run $h lacks $s"
	done
done
expect "ksock-run --version" 0 "^ksock-run \(ksock\) $version\$" "" "$run" --version
# Every KSOCK_* variable the preload library and the hosted port read is
# in --help and in the manual page.
"$run" --help >"$tmp/help"
readers=
for f in port/preload/*.c port/hosted/*.c tools/ksock-run.c; do
	case $f in */dns_*) ;; *) readers="$readers $f" ;; esac
done
# shellcheck disable=SC2086
for v in $(grep -ohE 'getenv\("KSOCK_[A-Z_]+"\)' $readers |
		sed -E 's/getenv\("([A-Z_]+)"\)/\1/' | sort -u); do
	if grep -q "$v" "$tmp/help" && grep -q "$v" docs/man/ksock-run.1; then
		ok "$v is documented in --help and ksock-run(1)"
	else
		fail "$v is missing from ksock-run --help or ksock-run(1)"
	fi
done

# -- ksock-run: finding the program and the library --
expect "a program that does not exist: 127" 127 "" "no-such-program: No such file" \
	"$run" no-such-program
printf 'data\n' >"$tmp/plain"
expect "a file that is not executable: 126" 126 "" "Permission denied" "$run" "$tmp/plain"
expect "KSOCK_PRELOAD naming no file: 125" 125 "" "cannot read $tmp/none \(KSOCK_PRELOAD\)" \
	env KSOCK_PRELOAD="$tmp/none" "$run" true
mkdir "$tmp/bin"
cp "$run" "$tmp/bin/ksock-run"
expect "ksock-run with no library beside it: 125" 125 "" "cannot find libksock-preload.so.*KSOCK_PRELOAD" \
	"$tmp/bin/ksock-run" true
mkdir "$tmp/a dir"
cp "$run" "$build/libksock-preload.so" "$tmp/a dir/"
expect "a library path LD_PRELOAD cannot hold: 125" 125 "" "LD_PRELOAD cannot hold a space or a colon" \
	"$tmp/a dir/ksock-run" true

# -- ksock-run: programs it serves and programs it cannot --
$cc -o "$tmp/pair" tests/install/pair.c || fail "build pair.c"
served_ok() {	# NAME COMMAND...: served, silent, KSOCK_RUN=1
	so_name=$1
	shift
	expect "$so_name: runs silently" 0 "^pair ok \(KSOCK_RUN=1\)\$" "" "$@"
	served YES "$so_name"
}
served_ok "a dynamic program" "$run" "$tmp/pair"
cp "$tmp/pair" "$tmp/bin/pair-on-path"
served_ok "a dynamic program found along PATH" env PATH="$tmp/bin:$PATH" "$run" pair-on-path
printf '#!/bin/sh\nexec %s\n' "$tmp/pair" >"$tmp/script.sh"
chmod +x "$tmp/script.sh"
served_ok "a #!/bin/sh script" "$run" "$tmp/script.sh"
loader=$(readelf -l "$tmp/pair" | sed -n 's/.*interpreter: \(.*\)]/\1/p')
served_ok "the dynamic loader run by hand ($loader)" "$run" "$loader" "$tmp/pair"

# not_served NAME WHAT-PATTERN PROGRAM...: warned in one line, run on
# the kernel with KSOCK_RUN unset; refused under --strict.
not_served() {
	ns_name=$1 what=$2
	shift 2
	expect "$ns_name: warned" 0 "^pair ok \(KSOCK_RUN=unset\)\$" \
		"^ksock-run: .*$what; its sockets stay on the Linux kernel\$" \
		env KSOCK_RUN=1 "$run" "$@"
	one_line "$ns_name"
	served NO "$ns_name"
	expect "$ns_name: --strict refuses with 125" 125 "" \
		"^ksock-run: .*$what; its sockets would stay on the Linux kernel, so --strict refuses to run it\$" \
		"$run" --strict "$@"
	one_line "$ns_name --strict"
}
if $cc -static -o "$tmp/pair-static" tests/install/pair.c 2>/dev/null; then
	not_served "a static program" "$tmp/pair-static is statically linked" "$tmp/pair-static"
	printf '#!%s\n' "$tmp/pair-static" >"$tmp/static.sh"
	chmod +x "$tmp/static.sh"
	not_served "a script whose interpreter is static" \
		"$tmp/static.sh runs $tmp/pair-static, which is statically linked" "$tmp/static.sh"
	cp "$tmp/pair-static" "$tmp/bin/pair-static"
	printf '#!/usr/bin/env pair-static\n' >"$tmp/env.sh"
	chmod +x "$tmp/env.sh"
	oldpath=$PATH PATH=$tmp/bin:$PATH
	not_served "a #!/usr/bin/env script running a static program" \
		"$tmp/env.sh runs $tmp/bin/pair-static, which is statically linked" "$tmp/env.sh"
	PATH=$oldpath
else
	skip "static programs: no static libc to build one"
fi
if [ "$(id -u)" -eq 0 ]; then
	# Root running a program set-user-ID to another user: a secure
	# execution, where the loader ignores LD_PRELOAD.
	cp "$tmp/pair" "$tmp/pair-setuid"
	chown 65534 "$tmp/pair-setuid" && chmod 4755 "$tmp/pair-setuid"
	not_served "a setuid program" "pair-setuid is setuid, and the loader ignores LD_PRELOAD for it" \
		"$tmp/pair-setuid"
	cp "$tmp/pair" "$tmp/pair-setgid"
	chown 0:65534 "$tmp/pair-setgid" && chmod 2755 "$tmp/pair-setgid"
	not_served "a setgid program" "pair-setgid is setgid, and the loader ignores LD_PRELOAD for it" \
		"$tmp/pair-setgid"
	# Set-user-ID to ourselves changes nothing: it is served.
	cp "$tmp/pair" "$tmp/pair-setuid-self"
	chmod 4755 "$tmp/pair-setuid-self"
	served_ok "a program setuid to the caller" "$run" "$tmp/pair-setuid-self"
else
	skip "setuid and setgid programs: not root, cannot make one for another user"
fi
# An ELF header for 32-bit x86: the 64-bit library cannot be loaded.
{
	printf '\177ELF\001\001\001\000\000\000\000\000\000\000\000\000'
	printf '\002\000\003\000\001\000\000\000'
	head -c 200 /dev/zero
} >"$tmp/elf32"
chmod +x "$tmp/elf32"
expect "a program for another architecture: --strict refuses with 125" 125 "" \
	"^ksock-run: $tmp/elf32 is built for another architecture than ksock's preload library; its sockets would stay" \
	"$run" --strict "$tmp/elf32"

# -- ksockstat --
for h in --help -h; do
	expect "ksockstat $h" 0 "^Usage: ksockstat " "" "$stat" $h
	for s in "^Options:" "^Environment:" "^Exit status:" "KSOCK_DIAG=1"; do
		grep -qE -- "$s" "$tmp/out" || fail "ksockstat $h lacks $s"
	done
done
expect "ksockstat --version" 0 "^ksockstat \(ksock\) $version\$" "" "$stat" --version
for bad in "-p x" "-p 0" "-p 12a" "-p -3"; do
	# shellcheck disable=SC2086
	expect "ksockstat $bad: bad pid, 2" 2 "" "bad pid.*|Try 'ksockstat --help'" "$stat" $bad
done
expect "ksockstat -t foo: 2" 2 "" "unknown type 'foo'" "$stat" -t foo
expect "ksockstat -s bar: 2" 2 "" "unknown state 'bar'" "$stat" -s bar
expect "ksockstat -Z: 2" 2 "" "Try 'ksockstat --help'" "$stat" -Z
expect "ksockstat --bogus: 2" 2 "" "Try 'ksockstat --help'" "$stat" --bogus
expect "ksockstat with an operand: 2" 2 "" "unexpected argument 'extra'" "$stat" extra
expect "ksockstat -p with no argument: 2" 2 "" "Try 'ksockstat --help'" "$stat" -p
expect "ksockstat -p of a process serving nothing: 1" 1 "" "cannot read pid $$" "$stat" -p $$

# -- ksock-run: the mode (ksockd by default, or --in-process) --
# A library that cannot be preloaded (the loader says so and goes on)
# shows the environment ksock-run gives PROGRAM, with no server started.
lderr="/dev/null.*cannot be preloaded"
nolib() { env -u KSOCK_RUN_IN_PROCESS -u KSOCK_RUN_KSOCKD KSOCK_PRELOAD=/dev/null "$@"; }
expect "ksock-run: ksockd at @ksockd.UID by default" 0 "^@ksockd\.$(id -u) unset\$" "$lderr" \
	nolib "$run" sh -c 'echo "$KSOCK_RUN_KSOCKD ${KSOCK_RUN_IN_PROCESS-unset}"'
expect "ksock-run --in-process wins over KSOCK_RUN_KSOCKD" 0 "^unset 1\$" "$lderr" \
	nolib env KSOCK_RUN_KSOCKD=@x "$run" --in-process sh -c 'echo "${KSOCK_RUN_KSOCKD-unset} $KSOCK_RUN_IN_PROCESS"'
expect "KSOCK_RUN_IN_PROCESS=1 wins over KSOCK_RUN_KSOCKD" 0 "^unset 1\$" "$lderr" \
	nolib env KSOCK_RUN_KSOCKD=@x KSOCK_RUN_IN_PROCESS=1 "$run" sh -c 'echo "${KSOCK_RUN_KSOCKD-unset} $KSOCK_RUN_IN_PROCESS"'
expect "ksock-run --ksockd=ADDRESS wins over KSOCK_RUN_IN_PROCESS=1" 0 "^@x unset\$" "$lderr" \
	nolib env KSOCK_RUN_IN_PROCESS=1 "$run" --ksockd=@x sh -c 'echo "$KSOCK_RUN_KSOCKD ${KSOCK_RUN_IN_PROCESS-unset}"'
expect "KSOCK_RUN_IN_PROCESS=0 is the default mode" 0 "^@x\$" "$lderr" \
	nolib env KSOCK_RUN_KSOCKD=@x KSOCK_RUN_IN_PROCESS=0 "$run" sh -c 'echo "$KSOCK_RUN_KSOCKD"'
# With the library: the default mode starts a server (here at an address
# of this run's), which serves the program and stops by itself 2 s after.
addr=ksock-cli.$$
expect "ksock-run PROGRAM: served by a ksockd it starts" 0 "^pair ok \(KSOCK_RUN=1\)\$" "" \
	env -u KSOCK_RUN_IN_PROCESS KSOCK_RUN_KSOCKD=@$addr "$run" "$tmp/pair"
served YES "ksock-run PROGRAM (ksockd)"
waited=0
while grep -q " @$addr\$" /proc/net/unix && [ $waited -lt 100 ]; do
	sleep 0.1
	waited=$((waited + 1))
done
if [ $waited -lt 100 ]; then ok "the ksockd it started is gone"; else fail "the ksockd at @$addr is still there"; fi

echo "$pass passed, $failn failed, $skipn skipped"
[ $failn -eq 0 ]
