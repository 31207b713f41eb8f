# ksock as a dependency: the versioned shared library, the static library
# and ksock.pc that `make install` puts in place with the headers, tools
# and manual pages; `make uninstall`; and the checks that keep them right
# (tests/install/).
#
#   make install [DESTDIR=/stage] [PREFIX=/usr] [LIBDIR=/usr/lib64] ...
#   make uninstall        (with the same variables)
#   make print-installed  the files install puts in place, one a line
#
# The directories follow the GNU names (prefix, exec_prefix, bindir,
# libdir, includedir, datarootdir, mandir); all but exec_prefix also
# answer to an upper-case name (PREFIX, BINDIR, LIBDIR, INCLUDEDIR,
# DATAROOTDIR, MANDIR).

PREFIX       ?= /usr/local
prefix       ?= $(PREFIX)
exec_prefix  ?= $(prefix)
BINDIR       ?= $(exec_prefix)/bin
bindir       ?= $(BINDIR)
LIBDIR       ?= $(exec_prefix)/lib
libdir       ?= $(LIBDIR)
INCLUDEDIR   ?= $(prefix)/include
includedir   ?= $(INCLUDEDIR)
DATAROOTDIR  ?= $(prefix)/share
datarootdir  ?= $(DATAROOTDIR)
MANDIR       ?= $(datarootdir)/man
mandir       ?= $(MANDIR)
pkgconfigdir ?= $(libdir)/pkgconfig
# The preload library is not for linking against, and ksockd is started
# by the library (ksock-run's default mode): they live in a directory of
# their own, where ksock-run looks for them.
pkglibdir    ?= $(libdir)/ksock
INSTALL      ?= install

# The version, from the one place it is written.
ks_version_part = $(shell sed -n 's/^\#define KS_VERSION_$(1)[[:space:]]*\([0-9]*\).*/\1/p' include/ksock/version.h)
KS_VERSION_MAJOR := $(call ks_version_part,MAJOR)
KS_VERSION := $(KS_VERSION_MAJOR).$(call ks_version_part,MINOR).$(call ks_version_part,PATCH)

# The shared library carries the core, the hosted port and the resolver:
# everything the installed headers declare. The version script exports
# the public names (ks_*, ksp_*) and hides the internal ks__* ones, which
# the preload library, the unit tests and the fuzzers reach through the
# static archives instead; install-exports checks the result.
KS_SONAME    := libksock.so.$(KS_VERSION_MAJOR)
KS_SO_REAL   := $(BUILD)/libksock.so.$(KS_VERSION)
KS_LIB_OBJS  := $(KS_OBJS) $(HOSTED_OBJS) $(DNS_OBJ)
KS_DIST      := $(BUILD)/dist
KS_DIST_A    := $(KS_DIST)/libksock.a

$(KS_SO_REAL): $(KS_LIB_OBJS) mk/libksock.map
	$(CC) -shared -pthread -Wl,-soname,$(KS_SONAME) -Wl,-z,defs \
		-Wl,--version-script=mk/libksock.map -o $@ $(KS_LIB_OBJS)
$(BUILD)/$(KS_SONAME): $(KS_SO_REAL)
	ln -sf $(notdir $<) $@
$(LIBKSOCK_SO): $(BUILD)/$(KS_SONAME)
	ln -sf $(notdir $<) $@

# The installed static archive holds what the shared library holds
# (build/libksock.a is the core alone, for the preload library).
$(KS_DIST_A): $(KS_LIB_OBJS)
	@mkdir -p $(dir $@)
	@rm -f $@; ar rcs $@ $^

# What depends on the installation directories is rebuilt when they
# change: $(KS_DIST)/dirs holds them and is rewritten only then.
KS_DIRS := $(prefix) $(exec_prefix) $(bindir) $(libdir) $(includedir) $(pkglibdir)
.PHONY: ks-dirs-force
ks-dirs-force:
$(KS_DIST)/dirs: ks-dirs-force
	@mkdir -p $(dir $@)
	@echo '$(KS_DIRS)' | cmp -s - $@ || echo '$(KS_DIRS)' >$@

# The installed ksock-run finds the preload library relative to itself
# first (so a DESTDIR tree or a moved prefix works), then at the
# configured path; build/ksock-run looks next to itself only.
KS_REL_PKGLIBDIR = $(shell realpath -m --relative-to=$(bindir) $(pkglibdir))
$(KS_DIST)/ksock-run: tools/ksock-run.c include/ksock/version.h $(KS_DIST)/dirs
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -D_GNU_SOURCE \
		-DKSOCK_RUN_REL_PKGLIBDIR='"$(KS_REL_PKGLIBDIR)"' \
		-DKSOCK_RUN_PKGLIBDIR='"$(pkglibdir)"' -o $@ $<
$(KSOCK_RUN): include/ksock/version.h

# ksock.pc names the directories relative to ${prefix} where it can, so
# pkg-config --define-prefix and PKG_CONFIG_SYSROOT_DIR work.
ks_pc_dir = $(patsubst $(exec_prefix)/%,$${exec_prefix}/%,$(patsubst $(prefix)/%,$${prefix}/%,$(1)))
$(KS_DIST)/ksock.pc: include/ksock/version.h $(KS_DIST)/dirs mk/install.mk
	@mkdir -p $(dir $@)
	@{ echo 'prefix=$(prefix)'; \
	   echo 'exec_prefix=$(if $(filter $(prefix),$(exec_prefix)),$${prefix},$(exec_prefix))'; \
	   echo 'libdir=$(call ks_pc_dir,$(libdir))'; \
	   echo 'includedir=$(call ks_pc_dir,$(includedir))'; \
	   echo; \
	   echo 'Name: ksock'; \
	   echo 'Description: portable socket subsystem: Linux-compatible AF_UNIX, hosted port, DNS resolver'; \
	   echo 'Version: $(KS_VERSION)'; \
	   echo 'Libs: -L$${libdir} -lksock'; \
	   echo 'Libs.private: -pthread'; \
	   echo 'Cflags: -I$${includedir}'; } >$@

KS_MAN_PAGES := docs/man/ksock-run.1 docs/man/ksockstat.8 docs/man/ksock.3
KS_PUBLIC_HEADERS := $(sort $(wildcard include/ksock/*.h))

ALL_TARGETS += $(KS_DIST_A) $(KS_DIST)/ksock.pc $(KS_DIST)/ksock-run

# Every file install puts in place, and so every file uninstall removes:
# one list, so the two cannot disagree.
KS_INSTALLED := \
	$(KS_PUBLIC_HEADERS:include/ksock/%=$(includedir)/ksock/%) \
	$(libdir)/libksock.a $(libdir)/libksock.so.$(KS_VERSION) \
	$(libdir)/$(KS_SONAME) $(libdir)/libksock.so \
	$(pkgconfigdir)/ksock.pc $(pkglibdir)/libksock-preload.so \
	$(pkglibdir)/ksockd \
	$(bindir)/ksock-run $(bindir)/ksockstat \
	$(foreach m,$(KS_MAN_PAGES),$(mandir)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))

.PHONY: install uninstall print-installed
install: $(KS_DIST_A) $(KS_SO_REAL) $(KS_DIST)/ksock.pc $(KS_DIST)/ksock-run \
		$(LIBKSOCK_PRELOAD) $(KSOCKD) $(KSOCKSTAT) $(KS_MAN_PAGES)
	$(INSTALL) -d $(DESTDIR)$(includedir)/ksock $(DESTDIR)$(libdir) \
		$(DESTDIR)$(pkgconfigdir) $(DESTDIR)$(pkglibdir) $(DESTDIR)$(bindir) \
		$(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man3 $(DESTDIR)$(mandir)/man8
	$(INSTALL) -m 644 $(KS_PUBLIC_HEADERS) $(DESTDIR)$(includedir)/ksock
	$(INSTALL) -m 644 $(KS_DIST_A) $(DESTDIR)$(libdir)/libksock.a
	$(INSTALL) -m 644 $(KS_SO_REAL) $(DESTDIR)$(libdir)
	ln -sf libksock.so.$(KS_VERSION) $(DESTDIR)$(libdir)/$(KS_SONAME)
	ln -sf $(KS_SONAME) $(DESTDIR)$(libdir)/libksock.so
	$(INSTALL) -m 644 $(KS_DIST)/ksock.pc $(DESTDIR)$(pkgconfigdir)
	$(INSTALL) -m 644 $(LIBKSOCK_PRELOAD) $(DESTDIR)$(pkglibdir)
	$(INSTALL) -m 755 $(KSOCKD) $(DESTDIR)$(pkglibdir)
	$(INSTALL) -m 755 $(KS_DIST)/ksock-run $(KSOCKSTAT) $(DESTDIR)$(bindir)
	$(INSTALL) -m 644 docs/man/ksock-run.1 $(DESTDIR)$(mandir)/man1
	$(INSTALL) -m 644 docs/man/ksock.3 $(DESTDIR)$(mandir)/man3
	$(INSTALL) -m 644 docs/man/ksockstat.8 $(DESTDIR)$(mandir)/man8

# Removes the files above and ksock's own two directories when they are
# left empty; the shared directories (bin, lib, man1...) stay.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(KS_INSTALLED))
	@rmdir $(DESTDIR)$(includedir)/ksock $(DESTDIR)$(pkglibdir) 2>/dev/null || true

print-installed:
	@printf '%s\n' $(KS_INSTALLED)

# The checks (tests/install/): an install into a temporary DESTDIR used
# through pkg-config, the shared library's exports, the manual pages,
# the command lines of ksock-run and ksockstat, and the kernel file list.
KS_INSTALL_CHECKS := install-tree install-exports install-man install-cli install-kernel-files
CHECK_TARGETS += $(KS_INSTALL_CHECKS)
.PHONY: $(KS_INSTALL_CHECKS)

install-tree: $(KS_DIST_A) $(KS_SO_REAL) $(KS_DIST)/ksock.pc $(KS_DIST)/ksock-run \
		$(LIBKSOCK_PRELOAD) $(KSOCKD) $(KSOCKSTAT) $(KS_MAN_PAGES) tests/install/tree.sh \
		tests/install/ks_pair.c tests/install/pair.c
	@tools/run-suite install-tree 300 sh tests/install/tree.sh "$(MAKE)" "$(BUILD)" "$(CC)"
install-exports: $(LIBKSOCK_SO) tests/install/exports.sh
	@tools/run-suite install-exports 60 sh tests/install/exports.sh $(LIBKSOCK_SO) $(KS_PUBLIC_HEADERS)
install-man: $(KS_MAN_PAGES) tests/install/man.sh
	@tools/run-suite install-man 60 sh tests/install/man.sh $(KS_MAN_PAGES)
install-cli: $(KSOCK_RUN) $(LIBKSOCK_PRELOAD) $(KSOCKSTAT) tests/install/cli.sh tests/install/pair.c
	@tools/run-suite install-cli 120 sh tests/install/cli.sh "$(BUILD)" "$(CC)"
install-kernel-files: tests/install/kernel-files.sh
	@tools/run-suite install-kernel-files 120 sh tests/install/kernel-files.sh "$(MAKE)" "$(CC)"
