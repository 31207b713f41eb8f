# DNS stub resolver (src/dns, port/hosted/dns_*.c, tests/dns, fuzz, bench).
#
#   dns-lib          build/dns/libksdns.a (core + hosted transport)
#   dns-freestanding proves src/dns compiles with no libc headers at all
#   dns-check        unit and server suites, again under ASan+UBSan, the
#                    threaded test under TSan, and a 25 s fuzz run
#   dns-bench        ksock vs glibc getaddrinfo vs c-ares, pinned to one CPU
#   dns-fuzz         a longer fuzz run

DNS_DIR      := $(BUILD)/dns
DNS_CORE_SRC := $(wildcard src/dns/*.c)
DNS_HOST_SRC := $(wildcard port/hosted/dns_*.c)
# The transport over ksock's own sockets: only with a ksock library.
DNS_KSOCK_SRC := port/hosted/dns_ksock.c
DNS_HDRS     := include/ksock/dns.h include/ksock/port.h include/ksock/abi.h \
                $(wildcard src/dns/*.h)
DNS_OBJ      := $(patsubst %.c,$(DNS_DIR)/obj/%.o,$(DNS_CORE_SRC) $(DNS_HOST_SRC))
DNS_SAN_OBJ  := $(patsubst %.c,$(DNS_DIR)/san/%.o,$(DNS_CORE_SRC) $(DNS_HOST_SRC))
DNS_FREE_OBJ := $(patsubst %.c,$(DNS_DIR)/free/%.o,$(DNS_CORE_SRC))
DNS_TEST_COMMON := tests/dns/harness.c tests/dns/servers.c tests/dns/proxy.c
DNS_TEST_HDRS := $(wildcard tests/dns/*.h)
# Freestanding: the compiler's own headers only (stddef.h, stdint.h...).
DNS_FREE_FLAGS := -ffreestanding -nostdinc -isystem $(shell $(CC) -print-file-name=include)
DNS_CARES_LIBS := $(shell pkg-config --libs libcares 2>/dev/null || echo -lcares)

ALL_TARGETS   += dns-lib dns-freestanding
CHECK_TARGETS += dns-check
BENCH_TARGETS += dns-bench
FUZZ_TARGETS  += dns-fuzz

.PHONY: dns-lib dns-freestanding dns-check dns-check-unit dns-check-servers \
        dns-check-asan dns-check-tsan dns-check-fuzz dns-bench dns-fuzz

dns-lib: $(DNS_DIR)/libksdns.a

$(DNS_DIR)/obj/%.o: %.c $(DNS_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -c $< -o $@

$(DNS_DIR)/san/%.o: %.c $(DNS_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) $(SAN_FLAGS) -O1 -c $< -o $@

$(DNS_DIR)/free/%.o: %.c $(DNS_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DNS_FREE_FLAGS) -c $< -o $@

$(DNS_DIR)/libksdns.a: $(DNS_OBJ)
	ar rcs $@ $^

$(DNS_DIR)/libksdns-san.a: $(DNS_SAN_OBJ)
	ar rcs $@ $^

dns-freestanding: $(DNS_DIR)/free.stamp
$(DNS_DIR)/free.stamp: $(DNS_FREE_OBJ)
	@touch $@

$(DNS_DIR)/test-unit: tests/dns/unit.c tests/dns/harness.c $(DNS_TEST_HDRS) $(DNS_DIR)/libksdns.a
	$(CC) $(HOSTED_CFLAGS) -Itests/dns tests/dns/unit.c tests/dns/harness.c $(DNS_DIR)/libksdns.a -lresolv -lidn2 -o $@

$(DNS_DIR)/test-unit-san: tests/dns/unit.c tests/dns/harness.c $(DNS_TEST_HDRS) $(DNS_DIR)/libksdns-san.a
	$(CC) $(HOSTED_CFLAGS) $(SAN_FLAGS) -O1 -Itests/dns tests/dns/unit.c tests/dns/harness.c $(DNS_DIR)/libksdns-san.a -lresolv -lidn2 -o $@

$(DNS_DIR)/test-servers: tests/dns/test_servers.c $(DNS_TEST_COMMON) $(DNS_TEST_HDRS) $(DNS_DIR)/libksdns.a
	$(CC) $(HOSTED_CFLAGS) -Itests/dns tests/dns/test_servers.c $(DNS_TEST_COMMON) $(DNS_DIR)/libksdns.a -lresolv -lidn2 -o $@

$(DNS_DIR)/test-servers-san: tests/dns/test_servers.c $(DNS_TEST_COMMON) $(DNS_TEST_HDRS) $(DNS_DIR)/libksdns-san.a
	$(CC) $(HOSTED_CFLAGS) $(SAN_FLAGS) -O1 -Itests/dns tests/dns/test_servers.c $(DNS_TEST_COMMON) $(DNS_DIR)/libksdns-san.a -lresolv -lidn2 -o $@

$(DNS_DIR)/fuzz-wire: fuzz/dns_wire.c $(DNS_CORE_SRC) $(DNS_HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -std=c11 -g -O1 -Iinclude -Isrc -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all fuzz/dns_wire.c $(DNS_CORE_SRC) -o $@

$(DNS_DIR)/bench: bench/dns_bench.c tests/dns/servers.c tests/dns/harness.c $(DNS_TEST_HDRS) $(DNS_DIR)/libksdns.a
	$(CC) $(HOSTED_CFLAGS) -Itests/dns bench/dns_bench.c tests/dns/servers.c tests/dns/harness.c \
	    $(DNS_DIR)/libksdns.a $(DNS_CARES_LIBS) -o $@

$(DNS_DIR)/test-servers-tsan: tests/dns/test_servers.c $(DNS_TEST_COMMON) $(DNS_TEST_HDRS) $(DNS_CORE_SRC) $(DNS_HOST_SRC) $(DNS_HDRS)
	$(CC) $(HOSTED_CFLAGS) $(TSAN_FLAGS) -O1 -Itests/dns tests/dns/test_servers.c $(DNS_TEST_COMMON) \
	    $(DNS_CORE_SRC) $(filter-out $(DNS_KSOCK_SRC),$(DNS_HOST_SRC)) -lresolv -o $@

DNS_TESTDATA := tests/dns/data

dns-check: dns-freestanding
	@$(MAKE) --no-print-directory -k dns-check-unit dns-check-servers dns-check-asan \
	    dns-check-tsan dns-check-fuzz

dns-check-unit: $(DNS_DIR)/test-unit
	@sh tools/run-suite dns-unit 60 $(DNS_DIR)/test-unit

dns-check-servers: $(DNS_DIR)/test-servers
	@sh tools/run-suite dns-servers 90 $(DNS_DIR)/test-servers $(DNS_TESTDATA)

dns-check-asan: $(DNS_DIR)/test-unit-san $(DNS_DIR)/test-servers-san
	@sh tools/run-suite dns-unit-asan 90 $(DNS_DIR)/test-unit-san
	@sh tools/run-suite dns-servers-asan 120 $(DNS_DIR)/test-servers-san $(DNS_TESTDATA)

# The threaded tests again under ThreadSanitizer.
dns-check-tsan: $(DNS_DIR)/test-servers-tsan
	@sh tools/run-suite dns-servers-tsan 60 $(DNS_DIR)/test-servers-tsan $(DNS_TESTDATA) threads

# The fuzz run prints its own runner line: libFuzzer's exit status decides.
dns-check-fuzz: $(DNS_DIR)/fuzz-wire
	@sh tools/run-suite dns-fuzz 60 sh tests/dns/run-fuzz.sh $(DNS_DIR)/fuzz-wire 25

dns-fuzz: $(DNS_DIR)/fuzz-wire
	sh tests/dns/run-fuzz.sh $(DNS_DIR)/fuzz-wire 600

dns-bench: $(DNS_DIR)/bench
	taskset -c 0 $(DNS_DIR)/bench $(DNS_TESTDATA)

# The resolver over ksock's own UDP and TCP (port/hosted/dns_ksock.c,
# tests/dns/test_ksock.c): against nsd through ksock's loopback (a bridge
# in the test relays to Linux's), and across the TAP link in a network
# namespace of the test's own (tests/inet/netns.c; skipped without root).
DNS_KSOCK_TEST := tests/dns/test_ksock.c tests/dns/harness.c tests/dns/servers.c \
                  tests/inet/netns.c
DNS_KSOCK_INC  := -Itests/dns -Itests/inet

CHECK_TARGETS += dns-check-ksock
.PHONY: dns-check-ksock dns-check-ksock-plain dns-check-ksock-asan dns-check-ksock-tsan

$(DNS_DIR)/test-ksock: $(DNS_KSOCK_TEST) $(DNS_TEST_HDRS) tests/inet/netns.h $(DNS_DIR)/libksdns.a $(LIBKSOCK)
	$(CC) $(HOSTED_CFLAGS) $(DNS_KSOCK_INC) $(DNS_KSOCK_TEST) \
	    $(DNS_DIR)/libksdns.a $(LIBKSOCK) -o $@

$(DNS_DIR)/test-ksock-san: $(DNS_KSOCK_TEST) $(DNS_TEST_HDRS) tests/inet/netns.h $(DNS_DIR)/libksdns-san.a $(LIBKSOCK_SAN)
	$(CC) $(HOSTED_CFLAGS) $(SAN_FLAGS) -O1 $(DNS_KSOCK_INC) $(DNS_KSOCK_TEST) \
	    $(DNS_DIR)/libksdns-san.a $(LIBKSOCK_SAN) -o $@

# The bridge thread, the resolver and ksock's own waiting run at once:
# the same test under ThreadSanitizer, the resolver compiled in.
$(DNS_DIR)/test-ksock-tsan: $(DNS_KSOCK_TEST) $(DNS_TEST_HDRS) tests/inet/netns.h $(DNS_CORE_SRC) $(DNS_HOST_SRC) $(DNS_HDRS) $(LIBKSOCK_TSAN)
	$(CC) $(HOSTED_CFLAGS) $(TSAN_FLAGS) -O1 $(DNS_KSOCK_INC) $(DNS_KSOCK_TEST) \
	    $(DNS_CORE_SRC) $(DNS_HOST_SRC) $(LIBKSOCK_TSAN) -o $@

dns-check-ksock:
	@$(MAKE) --no-print-directory -k dns-check-ksock-plain dns-check-ksock-asan \
	    dns-check-ksock-tsan

dns-check-ksock-plain: $(DNS_DIR)/test-ksock
	@sh tools/run-suite dns-ksock 180 $(DNS_DIR)/test-ksock $(DNS_TESTDATA)

dns-check-ksock-asan: $(DNS_DIR)/test-ksock-san
	@sh tools/run-suite dns-ksock-asan 240 $(DNS_DIR)/test-ksock-san $(DNS_TESTDATA)

dns-check-ksock-tsan: $(DNS_DIR)/test-ksock-tsan
	@TSAN_OPTIONS="halt_on_error=1" \
	 sh tools/run-suite dns-ksock-tsan 300 $(DNS_DIR)/test-ksock-tsan $(DNS_TESTDATA)
