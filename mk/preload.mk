# Unmodified programs on ksock: the preload library, build/ksock-run, and
# the evidence suite in tests/run/ (docs/ksock-run.md).

PRELOAD_SRCS := $(sort $(wildcard port/preload/*.c))
PRELOAD_OBJS := $(PRELOAD_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/port/hosted/thread.o $(BUILD)/obj/port/hosted/boundary.o \
               $(BUILD)/obj/port/hosted/usercopy.o $(BUILD)/obj/port/hosted/spin.o \
               $(BUILD)/obj/port/hosted/sockfile.o
# The diag snapshot and its wire format (port/hosted/diag.c) come as an
# archive, so --exclude-libs keeps their names out of the library's
# dynamic symbols.
PRELOAD_DIAG := $(BUILD)/preload-diag.a
LIBKSOCK_PRELOAD := $(BUILD)/libksock-preload.so
KSOCK_RUN := $(BUILD)/ksock-run

ALL_TARGETS += $(LIBKSOCK_PRELOAD) $(KSOCK_RUN)

$(PRELOAD_OBJS): port/preload/preload.h

# ksock's own symbols stay inside the library (--exclude-libs): only the
# libc names the shim interposes are exported.
$(PRELOAD_DIAG): $(BUILD)/obj/port/hosted/diag.o
	@rm -f $@; ar rcs $@ $^

$(LIBKSOCK_PRELOAD): $(PRELOAD_OBJS) $(PRELOAD_DIAG) $(LIBKSOCK_CORE)
	$(CC) -shared -pthread -Wl,--exclude-libs,ALL -Wl,-z,defs -o $@ \
		$(PRELOAD_OBJS) $(PRELOAD_DIAG) $(LIBKSOCK_CORE)

$(KSOCK_RUN): tools/ksock-run.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -D_GNU_SOURCE -o $@ $<

# The evidence: real programs (Python, Perl) natively and under
# ksock-run, compared; then every conformance program's libc build, run
# unchanged under ksock-run. Tests that fork a process (th_fork) skip
# themselves there with the reason: ksock does not share sockets across
# processes yet (a later stage). The harness sees KSOCK_RUN, which
# ksock-run sets.
RUN_PROGRAMS := $(sort $(wildcard tests/run/programs/*.py tests/run/programs/*.pl tests/run/programs/*.js))

CHECK_TARGETS += run-programs $(CONFORM_NAMES:%=conform-run-%)
.PHONY: run-programs $(CONFORM_NAMES:%=conform-run-%)

run-programs: $(LIBKSOCK_PRELOAD) $(KSOCK_RUN) tests/run/run-programs.sh $(RUN_PROGRAMS)
	@tools/run-suite run-programs 600 sh tests/run/run-programs.sh $(KSOCK_RUN) --in-process $(RUN_PROGRAMS)

$(CONFORM_NAMES:%=conform-run-%): conform-run-%: $(BUILD)/conform/linux/% $(LIBKSOCK_PRELOAD) $(KSOCK_RUN)
	@tools/run-suite conform-run-$* 600 $(KSOCK_RUN) --in-process $<

# What the shim adds (number space, descriptor calls, poll/select/epoll
# over both kinds, signals, threads, fork): one libc program, run natively
# and under ksock-run; both runs must pass.
$(BUILD)/run/t_preload: tests/run/t_preload.c $(CONFORM_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CONFORM_CFLAGS) -o $@ $< tests/conform/harness.c

ALL_TARGETS += $(BUILD)/run/t_preload
CHECK_TARGETS += run-preload-linux run-preload-ksock
.PHONY: run-preload-linux run-preload-ksock
run-preload-linux: $(BUILD)/run/t_preload
	@tools/run-suite run-preload-linux 300 $<
run-preload-ksock: $(BUILD)/run/t_preload $(LIBKSOCK_PRELOAD) $(KSOCK_RUN)
	@tools/run-suite run-preload-ksock 300 $(KSOCK_RUN) --in-process $<

# ksockstat -p on a program under ksock-run (KSOCK_DIAG=1).
CHECK_TARGETS += run-diag
.PHONY: run-diag
run-diag: $(LIBKSOCK_PRELOAD) $(KSOCK_RUN) $(KSOCKSTAT) tests/run/run-diag.sh
	@tools/run-suite run-diag 120 sh tests/run/run-diag.sh $(KSOCK_RUN) $(KSOCKSTAT)

# ksock-run --inet=tap (issue 13, port/preload/inet.c): the library
# attaches ksock's TCP/IP to the TAP link with the hosted port's own
# code (port/hosted/tap.c), which joins the archive above so that its
# names stay out of the library's dynamic symbols too.
$(PRELOAD_DIAG): $(BUILD)/obj/port/hosted/tap.o

# ksock-run serving AF_INET/AF_INET6 (tests/run/run-inet.sh): the TCP
# and UDP conformance programs' libc builds, unchanged, under
# ksock-run --inet=loopback; py_http.py beside a kernel loopback that is
# down; curl and an HTTP server under ksock-run --inet=tap against
# Linux's across the TAP link. Each runs in a network namespace of its
# own where it may (unshare -n), and skips itself, saying why, where not.
INET_RUN_CONFORM := t_tcp t_udp
CHECK_TARGETS += $(INET_RUN_CONFORM:%=conform-run-inet-%) run-inet-loopback run-inet-tap
.PHONY: $(INET_RUN_CONFORM:%=conform-run-inet-%) run-inet-loopback run-inet-tap

$(INET_RUN_CONFORM:%=conform-run-inet-%): conform-run-inet-%: $(BUILD)/conform/linux/% $(LIBKSOCK_PRELOAD) $(KSOCK_RUN) tests/run/run-inet.sh
	@tools/run-suite conform-run-inet-$* 600 sh tests/run/run-inet.sh conform $(KSOCK_RUN) $<

run-inet-loopback: $(LIBKSOCK_PRELOAD) $(KSOCK_RUN) tests/run/run-inet.sh tests/run/programs/py_http.py
	@tools/run-suite run-inet-loopback 300 sh tests/run/run-inet.sh loopback $(KSOCK_RUN) tests/run/programs/py_http.py

run-inet-tap: $(LIBKSOCK_PRELOAD) $(KSOCK_RUN) tests/run/run-inet.sh
	@tools/run-suite run-inet-tap 600 sh tests/run/run-inet.sh tap $(KSOCK_RUN)

# ksock-run --ksockd (port/preload/remote.c): the library is a ksockd
# client, with the client library built in. Its socket() is renamed to
# the library's kernel socket (the bootstrap connection must be the
# kernel's, never a socket of the library's own), its close() to the
# kernel's (the shim's keeps the connection from the program), its
# umask() to the kernel's (the library's tells the server),
# ksp_port() to the
# preload's port, and its names stay inside the library.
PRELOAD_KSD_OBJ := $(BUILD)/obj/port/preload/ksd-client.o
$(PRELOAD_KSD_OBJ): port/ksockd/client.c $(wildcard port/ksockd/*.h) $(KS_HEADERS) mk/preload.mk port/preload/preload.h
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -fvisibility=hidden -Dsocket=kp__kernel_socket \
		-Dclose=kp__kernel_close -Dumask=kp__kernel_umask \
		-DKSD_PRIVATE_FD=kp__fd_move_high -Dksp_port=kp__port \
		-c $< -o $@
PRELOAD_OBJS += $(PRELOAD_KSD_OBJ)
$(LIBKSOCK_PRELOAD): $(PRELOAD_KSD_OBJ)
$(BUILD)/obj/port/preload/remote.o: port/ksockd/ksd.h port/ksockd/proto.h

# Every conformance program's libc build under ksock-run --ksockd, each
# with a server of its own that the library starts and that must be gone
# afterwards (tests/run/run-ksockd.sh). Here the harness's th_fork runs
# its children (KSOCK_RUN_KSOCKD tells it): a server and its client in
# two processes meet through the server. make check runs the programs
# that pass whole in this mode; the others (conform-ksockd-t_NAME, or
# conform-ksockd-all) fail on what the server does not do yet
# (docs/ksockd.md, "Not done"): data kept after EFAULT (t_efault), the
# in-flight descriptor limit (t_rights).
CONFORM_KSOCKD_CHECK := t_block t_bulk t_cmsg t_connect t_creds t_dgram \
			t_fcntl t_fdalloc t_gc t_names t_oob t_options t_pair \
			t_peekoff t_poll t_seqpacket t_shutdown t_socket \
			t_sockopts t_stream t_tcp t_udp
CHECK_TARGETS += $(CONFORM_KSOCKD_CHECK:%=conform-ksockd-%)
.PHONY: $(CONFORM_NAMES:%=conform-ksockd-%) conform-ksockd-all
conform-ksockd-all: $(CONFORM_NAMES:%=conform-ksockd-%)
$(CONFORM_NAMES:%=conform-ksockd-%): conform-ksockd-%: $(BUILD)/conform/linux/% $(LIBKSOCK_PRELOAD) $(KSOCK_RUN) $(KSOCKD) tests/run/run-ksockd.sh
	@tools/run-suite conform-ksockd-$* 900 sh tests/run/run-ksockd.sh $(KSOCK_RUN) $<

# The real programs of run-programs under ksock-run --ksockd (every
# ksock-run they start is in that mode: KSOCK_RUN_KSOCKD), but the one
# that needs what the mode does not do: an --inet socket (the program's
# own ksock's) passed over a server's AF_UNIX socket (py_inet_fds.py).
RUN_PROGRAMS_KSOCKD := $(filter-out %/py_inet_fds.py,$(RUN_PROGRAMS))
CHECK_TARGETS += run-programs-ksockd
.PHONY: run-programs-ksockd
run-programs-ksockd: $(LIBKSOCK_PRELOAD) $(KSOCK_RUN) $(KSOCKD) tests/run/run-programs.sh tests/run/run-ksockd.sh $(RUN_PROGRAMS_KSOCKD)
	@tools/run-suite run-programs-ksockd 900 sh tests/run/run-ksockd.sh --env sh tests/run/run-programs.sh $(KSOCK_RUN) $(RUN_PROGRAMS_KSOCKD)

# The shim's own checks under ksock-run --ksockd: those of what the
# mode does not do yet skip themselves with the reason.
CHECK_TARGETS += run-preload-ksockd
.PHONY: run-preload-ksockd
run-preload-ksockd: $(BUILD)/run/t_preload $(LIBKSOCK_PRELOAD) $(KSOCK_RUN) $(KSOCKD) tests/run/run-ksockd.sh
	@tools/run-suite run-preload-ksockd 600 sh tests/run/run-ksockd.sh $(KSOCK_RUN) $<

# Multi-process programs natively and under ksock-run --ksockd, with the
# same results (tests/run/run-ksockd-programs.sh): Python programs whose
# processes meet over sockets (tests/run/programs/ksockd/: kept out of
# run-programs, which runs one process's sockets in-process), socat and
# nc pairs over a path, and processes killed with SIGKILL mid-transfer,
# in accept and after passing a descriptor (kill_roles.py).
# ksd-status prints a ksockd server's STATUS for the script. The server
# is the ASan+UBSan build, so its stopping clean also means no leak. The
# ksockd runs skip with the reason while ksock-run has no --ksockd.
KSD_STATUS := $(BUILD)/run/ksd-status
RUN_KSOCKD_PROGRAMS := $(sort $(wildcard tests/run/programs/ksockd/py_*.py))
RUN_KSOCKD_ROLES := tests/run/programs/ksockd/kill_roles.py

$(KSD_STATUS): tests/run/ksd_status.c port/ksockd/client.c $(KSOCKD_HDRS) $(LIBKSOCK)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -Iport/ksockd -o $@ tests/run/ksd_status.c \
		port/ksockd/client.c $(LIBKSOCK)

ALL_TARGETS += $(KSD_STATUS)
CHECK_TARGETS += run-ksockd-programs
.PHONY: run-ksockd-programs
run-ksockd-programs: $(LIBKSOCK_PRELOAD) $(KSOCK_RUN) $(KSOCKD_SAN) $(KSD_STATUS) tests/run/run-ksockd-programs.sh $(RUN_KSOCKD_PROGRAMS) $(RUN_KSOCKD_ROLES)
	@tools/run-suite run-ksockd-programs 900 sh tests/run/run-ksockd-programs.sh $(KSOCK_RUN) $(KSOCKD_SAN) $(KSD_STATUS) $(RUN_KSOCKD_PROGRAMS)
