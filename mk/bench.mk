# The socket benchmark (issue 5): every scenario on the Linux kernel and on
# ksock in one run. bench/dns_* is the resolver's benchmark (mk/dns.mk).
#
#   make bench-sockets   the full run: table on stdout, JSON copy in
#                        $(BUILD)/bench/results.json (about 2 minutes)
#   make bench-smoke     every scenario once with tiny sizes, both sides,
#                        checking byte counts and contents (part of make
#                        check; about a second)

BENCH_DIR  := $(BUILD)/bench
BENCH_SRCS := bench/bench.c bench/bench_ops.c bench/bench_scn.c bench/bench_util.c \
              bench/bench_inet.c bench/bench_inet_link.c tests/inet/netns.c
BENCH_BIN  := $(BENCH_DIR)/bench
# The unmodified C program of the "(run)" rows, and what runs it on ksock
# (spelt out: mk/preload.mk comes after this file).
RUN_BENCH  := $(BENCH_DIR)/run_bench
BENCH_RUN_DEPS := $(RUN_BENCH) $(BUILD)/ksock-run $(BUILD)/libksock-preload.so \
                  bench/py_pingpong.py
# $(LIBKSOCK), spelt out: mk/lib.mk defines it but is included after this
# file, and a prerequisite list is expanded when the rule is read.
BENCH_LIB  := $(BUILD)/libksock-hosted.a

# -O2 whatever OPT says: the figures are meant to be compared across runs.
$(BENCH_BIN): $(BENCH_SRCS) bench/bench.h tests/inet/netns.h $(BENCH_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -O2 -Itests/inet -o $@ $(BENCH_SRCS) $(BENCH_LIB) -lm

# A plain libc program: no ksock header, no ksock library.
$(RUN_BENCH): bench/run_bench.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -g $(WARN) -D_GNU_SOURCE -pthread -o $@ $<

ALL_TARGETS   += $(BENCH_BIN) $(RUN_BENCH)
BENCH_TARGETS += bench-sockets
CHECK_TARGETS += bench-smoke
.PHONY: bench-sockets bench-smoke

# Explicit rules: make does not search implicit rules for phony targets.
bench-sockets: $(BENCH_BIN) $(BENCH_RUN_DEPS)
	$(BENCH_BIN) --json $(BENCH_DIR)/results.json
bench-smoke: $(BENCH_BIN) $(BENCH_RUN_DEPS)
	@tools/run-suite bench-smoke 300 $(BENCH_BIN) --smoke

# ksockd against the kernel, two processes per scenario (issue 14):
#   make bench-ksockd        the table, 2 CPUs then 1 (about a minute)
#   make bench-ksockd-smoke  every scenario once, contents and the
#                            server's STATUS checked (part of make check)
BENCH_KSOCKD := $(BENCH_DIR)/bench_ksockd
# $(KSOCKD) and $(LIBKSOCK) spelt out: mk/ksockd.mk and mk/lib.mk come
# after this file.
BENCH_KSOCKD_SERVER := $(BUILD)/ksockd

$(BENCH_KSOCKD): bench/bench_ksockd.c bench/bench_util.c bench/bench.h \
		 port/ksockd/client.c $(wildcard port/ksockd/*.h) $(BENCH_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -O2 -o $@ bench/bench_ksockd.c bench/bench_util.c \
	    port/ksockd/client.c $(BENCH_LIB) -lm

ALL_TARGETS   += $(BENCH_KSOCKD)
BENCH_TARGETS += bench-ksockd
CHECK_TARGETS += bench-ksockd-smoke
.PHONY: bench-ksockd bench-ksockd-smoke

bench-ksockd: $(BENCH_KSOCKD) $(BENCH_KSOCKD_SERVER)
	$(BENCH_KSOCKD) $(BENCH_KSOCKD_SERVER)
bench-ksockd-smoke: $(BENCH_KSOCKD) $(BENCH_KSOCKD_SERVER)
	@tools/run-suite bench-ksockd-smoke 300 $(BENCH_KSOCKD) \
	    $(BENCH_KSOCKD_SERVER) --smoke
