#!/bin/sh
# tree.sh MAKE BUILD CC
#
# make install into a temporary DESTDIR, twice (the default directories,
# then prefix/LIBDIR/mandir moved elsewhere), and each time: the tree
# holds exactly the expected files; a program built with nothing but
# `pkg-config --cflags --libs ksock` (tests/install/ks_pair.c) links
# against the installed shared library by its soname and runs, and so
# does its static build; the installed ksock-run serves a libc program
# with the installed preload library; make uninstall then removes exactly
# what was installed, leaving files that were there before. Ends with the
# runner line.
set -u
make=$1 build=$2 cc=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 failn=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
fail() { echo "FAIL $*"; failn=$((failn + 1)); }
check() { desc=$1; shift; if "$@"; then ok "$desc"; else fail "$desc"; fi; }

# The sub-makes see only the variables given here: drop what the calling
# make passes on its command line (make check PREFIX=...), keeping its
# flags and job server, and the directory variables from the environment.
MAKEFLAGS=$(echo "${MAKEFLAGS:-}" | sed 's/ -- .*//')
unset MAKEOVERRIDES PREFIX prefix exec_prefix BINDIR bindir LIBDIR libdir \
	INCLUDEDIR includedir DATAROOTDIR datarootdir MANDIR mandir pkgconfigdir \
	pkglibdir DESTDIR
submake() { $make -s --no-print-directory BUILD="$build" CC="$cc" "$@"; }

part() { sed -n "s/^#define KS_VERSION_$1[[:space:]]*\([0-9]*\).*/\1/p" include/ksock/version.h; }
major=$(part MAJOR)
version=$major.$(part MINOR).$(part PATCH)

# A libc program for ksock-run that tells which preload library, if any,
# is mapped into it.
cat >"$tmp/maps.c" <<'EOF'
#include <stdio.h>
#include <string.h>
int main(void);
int
main(void)
{
	char line[4096];
	FILE *f = fopen("/proc/self/maps", "r");
	const char *found = "none";
	static char path[4096];

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		char *p = strchr(line, '/');
		if (p != NULL && strstr(p, "libksock-preload.so") != NULL) {
			p[strcspn(p, "\n")] = '\0';
			snprintf(path, sizeof(path), "%s", p);
			found = path;
			break;
		}
	}
	printf("preload: %s\n", found);
	return 0;
}
EOF
$cc -o "$tmp/maps" "$tmp/maps.c" || fail "build the maps program"

# install_round NAME PREFIX LIBDIR MANDIR MAKE-VARIABLES...
install_round() {
	name=$1 prefix=$2 libdir=$3 mandir=$4
	shift 4
	dest=$tmp/$name
	mkdir -p "$dest$prefix/bin" "$dest$libdir/pkgconfig" \
		"$dest$prefix/include/ksock" "$dest$mandir/man3"
	# Files of other packages, in the directories ksock shares (and one
	# a user put in include/ksock): uninstall must leave them.
	for f in "$prefix/bin/other-tool" "$libdir/libother.so.1" \
		"$libdir/pkgconfig/other.pc" "$prefix/include/ksock/local.h" \
		"$mandir/man3/other.3"; do
		echo other >"$dest$f"
	done
	(cd "$dest" && find . \( -type f -o -type l \) | sort) >"$tmp/before"

	if submake install DESTDIR="$dest" "$@" \
		>"$tmp/install.log" 2>&1; then
		ok "$name: make install $*"
	else
		fail "$name: make install $*"
		sed 's/^/  /' "$tmp/install.log" | tail -20
		return
	fi

	# Exactly these files, besides the ones that were there before.
	{
		for h in include/ksock/*.h; do echo ".$prefix/$h"; done
		echo ".$libdir/libksock.a"
		echo ".$libdir/libksock.so"
		echo ".$libdir/libksock.so.$major"
		echo ".$libdir/libksock.so.$version"
		echo ".$libdir/pkgconfig/ksock.pc"
		echo ".$libdir/ksock/libksock-preload.so"
		echo ".$libdir/ksock/ksockd"
		echo ".$prefix/bin/ksock-run"
		echo ".$prefix/bin/ksockstat"
		echo ".$mandir/man1/ksock-run.1"
		echo ".$mandir/man3/ksock.3"
		echo ".$mandir/man8/ksockstat.8"
		cat "$tmp/before"
	} | sort >"$tmp/expect"
	(cd "$dest" && find . \( -type f -o -type l \) | sort) >"$tmp/got"
	if cmp -s "$tmp/expect" "$tmp/got"; then
		ok "$name: the tree holds exactly the expected $(wc -l <"$tmp/expect") files"
	else
		fail "$name: the installed files differ (< expected, > installed)"
		diff "$tmp/expect" "$tmp/got" | sed 's/^/  /'
	fi
	check "$name: libksock.so -> libksock.so.$major -> libksock.so.$version" \
		test "$(readlink "$dest$libdir/libksock.so")" = "libksock.so.$major" -a \
		"$(readlink "$dest$libdir/libksock.so.$major")" = "libksock.so.$version" -a \
		! -L "$dest$libdir/libksock.so.$version"
	soname=$(readelf -d "$dest$libdir/libksock.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
	check "$name: soname libksock.so.$major" test "$soname" = "libksock.so.$major"
	for h in include/ksock/*.h; do
		cmp -s "$h" "$dest$prefix/$h" || fail "$name: $h installed differs"
	done

	# pkg-config, seeing only the installed tree.
	pc() {
		PKG_CONFIG_PATH='' PKG_CONFIG_LIBDIR="$dest$libdir/pkgconfig" \
		PKG_CONFIG_SYSROOT_DIR="$dest" pkg-config "$@" ksock
	}
	check "$name: pkg-config --modversion ksock is $version" \
		test "$(pc --modversion)" = "$version"
	# shellcheck disable=SC2046
	flags=$(echo $(pc --cflags --libs))
	check "$name: pkg-config --cflags --libs names the installed tree ($flags)" \
		test "$flags" = "-I$dest$prefix/include -L$dest$libdir -lksock"
	rm -f "$tmp/ks_pair"
	# shellcheck disable=SC2086
	if $cc -o "$tmp/ks_pair" tests/install/ks_pair.c $flags 2>"$tmp/cc.log"; then
		ok "$name: tests/install/ks_pair.c builds with pkg-config's flags alone"
	else
		fail "$name: tests/install/ks_pair.c builds with pkg-config's flags alone"
		sed 's/^/  /' "$tmp/cc.log" | head -20
	fi
	needed=$(readelf -d "$tmp/ks_pair" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(libksock.*\)\]/\1/p')
	check "$name: the program needs libksock.so.$major" test "$needed" = "libksock.so.$major"
	if LD_LIBRARY_PATH="$dest$libdir" "$tmp/ks_pair" "$version" >"$tmp/run.log" 2>&1; then
		ok "$name: it runs on the installed shared library ($(grep -c '^ok' "$tmp/run.log") checks)"
	else
		fail "$name: it runs on the installed shared library"
		sed 's/^/  /' "$tmp/run.log"
	fi
	# The example in ksock(3), as a reader would copy it.
	sed -n '/^\.SH EXAMPLES/,/^\.EE/p' docs/man/ksock.3 | sed '1,/^\.EX/d; /^\.EE/d' |
		sed 's/\\-/-/g' >"$tmp/example.c"
	# shellcheck disable=SC2086
	$cc -o "$tmp/example" "$tmp/example.c" $flags 2>"$tmp/cc.log" &&
		LD_LIBRARY_PATH="$dest$libdir" "$tmp/example"
	check "$name: the example in ksock(3) builds and runs ($(wc -l <"$tmp/example.c") lines)" test $? -eq 0
	# The static archive, with the flags pkg-config gives for it.
	rm -f "$tmp/ks_pair_static"
	# shellcheck disable=SC2046
	$cc -o "$tmp/ks_pair_static" tests/install/ks_pair.c $(pc --cflags) \
		"$dest$libdir/libksock.a" $(pc --static --libs-only-other) 2>"$tmp/cc.log" &&
		! readelf -d "$tmp/ks_pair_static" | grep -q 'NEEDED.*libksock' &&
		"$tmp/ks_pair_static" "$version" >"$tmp/run.log" 2>&1
	check "$name: the static archive links and runs" test $? -eq 0

	# The installed ksock-run, with the installed preload library, in
	# each mode: the default starts the installed ksockd (at an address
	# of this run's), which stops by itself 2 s after its last client.
	rm -f "$tmp/stats"
	out=$(KSOCK_RUN_STATS="$tmp/stats" "$dest$prefix/bin/ksock-run" --in-process "$tmp/pair" 2>&1)
	check "$name: the installed ksock-run serves a program in-process (pair: $out)" \
		grep -q '1 pairs' "$tmp/stats"
	rm -f "$tmp/stats"
	addr=ksock-tree.$$.$name
	out=$(KSOCK_RUN_KSOCKD=@$addr "$dest$prefix/bin/ksock-run" printenv KSOCK_RUN_KSOCKD_START 2>&1)
	check "$name: the server it starts is the installed ksockd ($out)" \
		test "$out" = "$(realpath "$dest$libdir/ksock/ksockd")"
	out=$(KSOCK_RUN_KSOCKD=@$addr KSOCK_RUN_STATS="$tmp/stats" "$dest$prefix/bin/ksock-run" "$tmp/pair" 2>&1)
	check "$name: the installed ksock-run serves a program through the installed ksockd (pair: $out)" \
		grep -q '1 pairs' "$tmp/stats"
	waited=0
	while grep -q " @$addr\$" /proc/net/unix && [ $waited -lt 100 ]; do
		sleep 0.1
		waited=$((waited + 1))
	done
	check "$name: the ksockd it started is gone after the program" \
		test $waited -lt 100
	out=$("$dest$prefix/bin/ksock-run" --in-process "$tmp/maps" 2>&1)
	want=$(realpath "$dest$libdir/ksock/libksock-preload.so")
	check "$name: it loads the installed preload library ($out)" \
		test "$out" = "preload: $want"
	# Moved away from the tree, it looks at the configured path, which
	# outside DESTDIR holds nothing (unless ksock is installed there).
	mkdir -p "$tmp/elsewhere"
	cp "$dest$prefix/bin/ksock-run" "$tmp/elsewhere/"
	out=$("$tmp/elsewhere/ksock-run" --in-process "$tmp/maps" 2>&1)
	status=$?
	if [ -e "$libdir/ksock/libksock-preload.so" ]; then
		check "$name: a ksock-run moved away uses $libdir/ksock ($out)" \
			test "$out" = "preload: $(realpath "$libdir/ksock/libksock-preload.so")"
	else
		check "$name: a ksock-run moved away looks in $libdir/ksock ($out)" \
			sh -c 'test "$1" -eq 125 && echo "$2" | grep -qF " $3/ksock)"' - $status "$out" "$libdir"
	fi
	check "$name: ksock-run --version" \
		test "$("$dest$prefix/bin/ksock-run" --version)" = "ksock-run (ksock) $version"
	check "$name: ksockstat --version" \
		test "$("$dest$prefix/bin/ksockstat" --version)" = "ksockstat (ksock) $version"
	check "$name: man finds ksock(3) in the installed tree" \
		sh -c "MANPATH='$dest$mandir' man -w 3 ksock >/dev/null 2>&1"

	if submake uninstall DESTDIR="$dest" "$@" \
		>"$tmp/install.log" 2>&1; then
		ok "$name: make uninstall"
	else
		fail "$name: make uninstall"
		sed 's/^/  /' "$tmp/install.log" | tail -20
	fi
	(cd "$dest" && find . \( -type f -o -type l \) | sort) >"$tmp/got"
	if cmp -s "$tmp/before" "$tmp/got"; then
		ok "$name: uninstall removed exactly what install added"
	else
		fail "$name: after uninstall (< before install, > now)"
		diff "$tmp/before" "$tmp/got" | sed 's/^/  /'
	fi
	check "$name: uninstall removed ksock's own empty directory" \
		test ! -e "$dest$libdir/ksock"
	check "$name: and left include/ksock, which holds another file" \
		test -f "$dest$prefix/include/ksock/local.h"
}

$cc -o "$tmp/pair" tests/install/pair.c || fail "build pair.c"
install_round default /usr/local /usr/local/lib /usr/local/share/man
install_round moved /opt/ks /opt/ks/lib64 /opt/ks/man \
	prefix=/opt/ks LIBDIR=/opt/ks/lib64 mandir=/opt/ks/man


echo "$pass passed, $failn failed, 0 skipped"
[ $failn -eq 0 ]
