#!/bin/sh
# kernel-files.sh MAKE CC
#
# What `make kernel-files` prints is enough to build ksock's freestanding
# part outside ksock's tree: the listed sources and headers, copied alone
# into an empty directory, pass tools/check-freestanding there (with the
# printed flags, which are the ones it compiles with), and the symbols
# left undefined are the printed ones at most. Ends with the runner line.
set -u
make=$1 cc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 failn=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
fail() { echo "FAIL $*"; failn=$((failn + 1)); }

if $make -s --no-print-directory kernel-files >"$tmp/kernel.mk" 2>"$tmp/err"; then
	ok "make kernel-files"
else
	fail "make kernel-files"; sed 's/^/  /' "$tmp/err"
fi
var() { sed -n "s/^$1 = //p" "$tmp/kernel.mk"; }
srcs=$(var KSOCK_SRCS) hdrs=$(var KSOCK_HDRS) flags=$(var KSOCK_CFLAGS) needs=$(var KSOCK_NEEDS)
if [ -n "$srcs" ] && [ -n "$hdrs" ] && [ -n "$flags" ]; then
	ok "it lists $(echo "$srcs" | wc -w) sources, $(echo "$hdrs" | wc -w) headers, flags: $flags"
else
	fail "it lists no sources, headers or flags"; sed 's/^/  /' "$tmp/kernel.mk"
fi
mkdir "$tmp/tree"
for f in $srcs $hdrs; do
	mkdir -p "$tmp/tree/$(dirname "$f")" && cp "$f" "$tmp/tree/$f" ||
		fail "copy $f"
done
# shellcheck disable=SC2086
(cd "$tmp/tree" && sh "$OLDPWD/tools/check-freestanding" "$cc" "$tmp/inc" $srcs) >"$tmp/check.log" 2>&1
if [ $? -eq 0 ]; then
	ok "the listed files alone pass check-freestanding: $(tail -1 "$tmp/check.log")"
else
	fail "the listed files alone fail check-freestanding:"; sed 's/^/  /' "$tmp/check.log" | tail -20
fi
# The printed flags alone build the copy with any compiler's headers.
# shellcheck disable=SC2086
(cd "$tmp/tree" && for s in $srcs; do
	$cc $flags -c "$s" -o "$tmp/$(echo "$s" | tr / _).o" || exit 1
done && $cc -nostdlib -r -o "$tmp/all.o" "$tmp"/*.o) >"$tmp/cc.log" 2>&1
if [ $? -eq 0 ]; then
	ok "the printed flags build the copy"
else
	fail "the printed flags do not build the copy:"; sed 's/^/  /' "$tmp/cc.log" | tail -20
fi
undef=$(nm -u "$tmp/all.o" 2>/dev/null | awk '{print $2}' | sort -u)
extra=$(for s in $undef; do case " $needs " in *" $s "*) ;; *) echo "$s" ;; esac; done)
if [ -z "$extra" ]; then
	ok "it needs nothing beyond KSOCK_NEEDS ($needs)"
else
	fail "undefined beyond KSOCK_NEEDS: $extra"
fi
echo "$pass passed, $failn failed, 0 skipped"
[ $failn -eq 0 ]
