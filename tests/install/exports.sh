#!/bin/sh
# exports.sh LIBKSOCK.SO HEADER...
#
# The shared library exports exactly the functions the public headers
# declare: no internal ks__* name, nothing without the ks_/ksp_ prefix,
# no declared function missing. Also checks that the internal names do
# exist in the library (so their absence from the exports is the version
# script's work, not an accident). Ends with the runner line.
set -u
lib=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 failn=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
fail() { echo "FAIL $*"; failn=$((failn + 1)); }

nm -D --defined-only "$lib" | awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' |
	sort -u >"$tmp/exported"
# What the headers declare: the ks_/ksp_ names called like functions
# once the headers are preprocessed together.
# (They include each other as <ksock/NAME.h>.)
incdir=$(dirname "$(dirname "$1")")
for h in "$@"; do echo "#include \"$PWD/$h\""; done >"$tmp/all.c"
if cc -E -P -I"$incdir" "$tmp/all.c" >"$tmp/all.i"; then
	tr -s ' \t\n' ' ' <"$tmp/all.i" | grep -oE '\b(ks|ksp)_[A-Za-z0-9_]+ *\(' |
		tr -d ' (' | sort -u >"$tmp/declared"
else
	fail "the public headers do not preprocess together"
	: >"$tmp/declared"
fi

n=$(wc -l <"$tmp/exported")
if [ "$n" -gt 0 ]; then ok "$lib exports $n symbols"; else fail "$lib exports nothing"; fi
internal=$(grep -E '^ks__' "$tmp/exported")
if [ -z "$internal" ]; then
	ok "no internal ks__* symbol is exported"
else
	fail "internal symbols exported:"; echo "$internal" | sed 's/^/  /'
fi
other=$(grep -vE '^(ks|ksp)_[A-Za-z0-9]' "$tmp/exported")
if [ -z "$other" ]; then
	ok "every exported symbol has the ks_ or ksp_ prefix"
else
	fail "exported without the public prefix:"; echo "$other" | sed 's/^/  /'
fi
extra=$(comm -23 "$tmp/exported" "$tmp/declared")
if [ -z "$extra" ]; then
	ok "every exported symbol is declared in a public header"
else
	fail "exported but declared in no public header:"; echo "$extra" | sed 's/^/  /'
fi
missing=$(comm -13 "$tmp/exported" "$tmp/declared")
if [ ! -s "$tmp/declared" ]; then
	fail "no function found declared in the public headers"
elif [ -z "$missing" ]; then
	ok "every function the public headers declare is exported ($(wc -l <"$tmp/declared"))"
else
	fail "declared in a public header but not exported:"; echo "$missing" | sed 's/^/  /'
fi
hidden=$(nm --defined-only "$lib" | awk '$3 ~ /^ks__/' | wc -l)
if [ "$hidden" -gt 0 ]; then
	ok "the library holds $hidden internal ks__* symbols (so hiding them is real)"
else
	fail "no internal ks__* symbol in the library's symbol table"
fi
echo "$pass passed, $failn failed, 0 skipped"
[ $failn -eq 0 ]
