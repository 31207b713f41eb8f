#!/bin/sh
# man.sh PAGE...
#
# Each manual page renders with man -l, as make install puts it in place,
# with no warning from man or groff, and has the sections a reader looks
# for. Ends with the runner line.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 failn=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
fail() { echo "FAIL $*"; failn=$((failn + 1)); }

for page in "$@"; do
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" >"$tmp/out" 2>"$tmp/err"
	status=$?
	if [ $status -eq 0 ] && [ ! -s "$tmp/err" ] && [ -s "$tmp/out" ]; then
		ok "$page renders without warnings ($(wc -l <"$tmp/out") lines)"
	else
		fail "$page: man exited $status, or warned:"
		sed 's/^/  /' "$tmp/err"
	fi
	for s in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
		grep -q "^$s\$" "$tmp/out" || fail "$page has no $s section"
	done
	case $page in
	*.1|*.8)
		for s in OPTIONS ENVIRONMENT "EXIT STATUS"; do
			grep -q "^$s\$" "$tmp/out" || fail "$page has no $s section"
		done ;;
	*.3)
		for s in "RETURN VALUE" ERRORS; do
			grep -q "^$s\$" "$tmp/out" || fail "$page has no $s section"
		done ;;
	esac
	# The page's name and section are the file's.
	base=$(basename "$page")
	name=${base%.*} sect=${base##*.}
	upper=$(echo "$name" | tr a-z A-Z)
	if head -1 "$tmp/out" | grep -q "^$upper($sect) "; then
		ok "$page is $name($sect)"
	else
		fail "$page's title is not $upper($sect): $(head -1 "$tmp/out")"
	fi
done
echo "$pass passed, $failn failed, 0 skipped"
[ $failn -eq 0 ]
