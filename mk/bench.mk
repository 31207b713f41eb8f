# The socket benchmark (issue 5): every scenario on the Linux kernel and on
# ksock in one run. bench/dns_* is the resolver's benchmark (mk/dns.mk).
#
#   make bench-sockets   the full run: table on stdout, JSON copy in
#                        $(BUILD)/bench/results.json (about 2 minutes)
#   make bench-smoke     every scenario once with tiny sizes, both sides,
#                        checking byte counts and contents (part of make
#                        check; about a second)

BENCH_DIR  := $(BUILD)/bench
BENCH_SRCS := bench/bench.c bench/bench_ops.c bench/bench_scn.c bench/bench_inet.c \
              bench/bench_inet_link.c tests/inet/netns.c
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
