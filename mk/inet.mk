# AF_INET / AF_INET6 (src/inet) over lwIP.
#
# lwIP is never part of the repository: tools/fetch-lwip fetches Debian's
# source package into $(BUILD)/lwip/src through an isolated apt
# configuration, and the rules below compile its core (IPv4, IPv6, TCP,
# UDP) with ksock's options (src/inet/lwip/lwipopts.h) and no libc
# headers at all, so the same objects serve the hosted libraries and a
# kernel. The objects join every ksock library; src/inet's own sources
# are compiled like src/core's, with lwIP's headers on the path.

LWIP_DIR  := $(BUILD)/lwip/src/src
LWIP_STAMP := $(LWIP_DIR)/core/init.c
# The core of lwIP that ksock uses; disabled features compile to nothing.
LWIP_FILES := core/def.c core/inet_chksum.c core/init.c core/ip.c \
              core/mem.c core/memp.c core/netif.c core/pbuf.c core/tcp.c \
              core/tcp_in.c core/tcp_out.c core/udp.c core/timeouts.c \
              core/ipv4/ip4.c core/ipv4/ip4_addr.c core/ipv4/icmp.c \
              core/ipv6/ip6.c core/ipv6/ip6_addr.c core/ipv6/icmp6.c \
              core/ipv6/nd6.c core/ipv6/inet6.c \
              core/ipv4/etharp.c core/ipv4/ip4_frag.c core/ipv6/ethip6.c \
              core/ipv6/ip6_frag.c netif/ethernet.c
LWIP_SRCS := $(LWIP_FILES:%=$(LWIP_DIR)/%)
LWIP_OBJS := $(LWIP_FILES:%.c=$(BUILD)/lwip/obj/%.o)
LWIP_INC  := -Isrc/inet/lwip -I$(LWIP_DIR)/include
# lwIP's sources see only the compiler's freestanding headers and ksock's
# two shims (string.h, stdlib.h): no libc header, no libc call.
LWIP_CFLAGS := -std=c11 -O2 -g -fPIC -ffreestanding -fno-builtin -nostdinc \
               -isystem $(shell $(CC) -print-file-name=include) \
               -Isrc/inet/lwip/shim $(LWIP_INC) \
               -Wall -Wextra -Werror -Wundef -Wno-unused-parameter

INET_SRCS  := $(sort $(wildcard src/inet/*.c))
INET_OBJS  := $(INET_SRCS:%.c=$(BUILD)/obj/%.o)
INET_SOBJS := $(INET_SRCS:%.c=$(BUILD)/san/%.o)
INET_TOBJS := $(INET_SRCS:%.c=$(BUILD)/tsan/%.o)
INET_HDRS  := $(wildcard src/inet/*.h)
LWIP_HDRS  := $(wildcard src/inet/lwip/*.h src/inet/lwip/*/*.h)

$(LWIP_STAMP): tools/fetch-lwip
	sh tools/fetch-lwip $(BUILD)/lwip
	@touch $@
$(filter-out $(LWIP_STAMP),$(LWIP_SRCS)): $(LWIP_STAMP)
.PHONY: fetch-lwip
fetch-lwip: $(LWIP_STAMP)

$(BUILD)/lwip/obj/%.o: $(LWIP_DIR)/%.c $(LWIP_HDRS) | $(LWIP_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(LWIP_CFLAGS) -c $< -o $@

$(INET_OBJS) $(INET_SOBJS) $(INET_TOBJS): HOSTED_CFLAGS += $(LWIP_INC)
# The families table lists AF_INET and AF_INET6 (src/core/families.c).
INET_FAMILIES_OBJS := $(BUILD)/obj/src/core/families.o \
                      $(BUILD)/san/src/core/families.o \
                      $(BUILD)/tsan/src/core/families.o
$(INET_FAMILIES_OBJS): HOSTED_CFLAGS += -DKS_CONFIG_INET
$(INET_FAMILIES_OBJS): mk/inet.mk
$(INET_OBJS) $(INET_SOBJS) $(INET_TOBJS): $(INET_HDRS) $(LWIP_HDRS) | $(LWIP_STAMP)

# Every ksock library carries the family and the engine.
$(LIBKSOCK_CORE) $(LIBKSOCK): $(INET_OBJS) $(LWIP_OBJS)
$(LIBKSOCK_SAN): $(INET_SOBJS) $(LWIP_OBJS)
$(LIBKSOCK_TSAN): $(INET_TOBJS) $(LWIP_OBJS)
KS_OBJS += $(INET_OBJS) $(LWIP_OBJS)

# The freestanding proof (mk/lib.mk, tools/check-freestanding) covers
# the family and lwIP's core too, with the same flags as ksock's own.
KS_SRCS += $(INET_SRCS) $(LWIP_SRCS)
check-freestanding kernel-files: $(LWIP_STAMP)
check-freestanding kernel-files: export KS_LWIP_INC := $(LWIP_DIR)/include

# The control-message fuzzer compiles the library's sources itself: give
# it the family's too, lwIP's headers (CPATH) and lwIP's objects.
FUZZ_CMSG_SRC += $(INET_SRCS) $(LWIP_OBJS)
$(FUZZ_CMSG): $(INET_SRCS) $(INET_HDRS) $(LWIP_OBJS)
$(FUZZ_CMSG): export CPATH := src/inet/lwip:$(LWIP_DIR)/include

# The family's unit tests look inside (a pcb's options, a connection
# whose far end vanishes): they see src/ and lwIP's headers.
INET_UNIT_BINS := $(BUILD)/unit/t_inet $(BUILD)/unit-san/t_inet \
                  $(BUILD)/unit-tsan/t_inet
$(INET_UNIT_BINS): UNIT_CFLAGS += -Isrc $(LWIP_INC)
$(INET_UNIT_BINS): $(INET_HDRS) $(LWIP_HDRS) | $(LWIP_STAMP)

# The family's unit tests under ThreadSanitizer as well (one concurrent
# stream: a writer and a reader blocking on each other).
CHECK_TARGETS += unit-tsan-t_inet
.PHONY: unit-tsan-t_inet
unit-tsan-t_inet: $(BUILD)/unit-tsan/t_inet
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	 tools/run-suite unit-tsan-t_inet 300 $<

# libFuzzer target for the interface's input path (fuzz/inet_fuzz.c):
# make check runs it for a bounded 20 s (fuzz-inet-check), make fuzz for
# ten minutes. Like the cmsg fuzzer it compiles everything with clang and
# ASan+UBSan, lwIP included (so its reads are watched too), here with
# lwIP's checksum checks off so that random packets get past them.
FUZZ_INET     := $(BUILD)/fuzz/inet_fuzz
FUZZ_INET_SRC := fuzz/inet_fuzz.c $(KS_SRCS) $(HOSTED_SRCS)
FUZZ_INET_NOCHECK := -DCHECKSUM_CHECK_IP=0 -DCHECKSUM_CHECK_TCP=0 \
                     -DCHECKSUM_CHECK_UDP=0 -DCHECKSUM_CHECK_ICMP=0 \
                     -DCHECKSUM_CHECK_ICMP6=0

CHECK_TARGETS += fuzz-inet-check
FUZZ_TARGETS  += fuzz-inet
.PHONY: fuzz-inet-check fuzz-inet

# With window scaling, lwIP's tcp_update_rcv_ann_wnd() compares a 16-bit
# MSS with TCP_WND / 2 (128 KiB) in LWIP_MIN: clang, unlike gcc, calls the
# comparison always false; it is lwIP's, and right.
FUZZ_INET_CC = $(CLANG) -std=gnu11 -g -O1 -Wall -Wextra -Werror \
	    -Wno-unused-parameter -Wno-tautological-constant-out-of-range-compare \
	    -D_GNU_SOURCE -pthread -Iinclude -Isrc \
	    $(LWIP_INC) $(FUZZ_INET_NOCHECK) -DKS_CONFIG_INET \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

$(FUZZ_INET): $(FUZZ_INET_SRC) fuzz/inet_fuzz.h $(KS_HEADERS) $(INET_HDRS) $(LWIP_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_INET_CC) $(FUZZ_INET_SRC) -o $@

fuzz-inet-check: $(FUZZ_INET)
	@tools/run-suite fuzz-inet 90 sh fuzz/run-fuzz.sh $(FUZZ_INET) 20 fuzz/inet-seeds

fuzz-inet: $(FUZZ_INET)
	sh fuzz/run-fuzz.sh $(FUZZ_INET) 600 fuzz/inet-seeds

# Interoperation with the Linux kernel's TCP/IP over a TAP link in a
# network namespace of each test's own (tests/inet, docs/inet.md "The
# link"). The program plays both ends: libc for Linux's, the POSIX
# personality for ksock's; the conformance harness, built for ksock,
# runs each case in a child with a fresh ksock and checks that nothing
# is left allocated or open. Plain, under ASan+UBSan and under TSan (the
# reader thread and the test's threads share the stack). Needs root and
# /dev/net/tun; without them every case is skipped with the reason.
INET_T_SRCS := tests/inet/interop.c tests/inet/netns.c
INET_T_HDRS := tests/inet/netns.h $(CONFORM_HDRS)
INET_T_BIN  := $(BUILD)/inet/interop
INET_T_SAN  := $(BUILD)/inet/interop-san
INET_T_TSAN := $(BUILD)/inet/interop-tsan
INET_T_CC    = $(CC) $(CONFORM_CFLAGS) -Itests/inet
# harness.c is the ksock build of the harness; the test itself calls
# both libc and ksp_* by name, so it is compiled without TH_KSOCK.
$(INET_T_BIN): $(INET_T_SRCS) $(INET_T_HDRS) $(LIBKSOCK)
	@mkdir -p $(dir $@)
	$(INET_T_CC) -DTH_KSOCK -c tests/conform/harness.c -o $@-harness.o
	$(INET_T_CC) -o $@ $(INET_T_SRCS) $@-harness.o $(LIBKSOCK)
$(INET_T_SAN): $(INET_T_SRCS) $(INET_T_HDRS) $(LIBKSOCK_SAN)
	@mkdir -p $(dir $@)
	$(INET_T_CC) $(SAN_FLAGS) -DTH_KSOCK -c tests/conform/harness.c -o $@-harness.o
	$(INET_T_CC) $(SAN_FLAGS) -o $@ $(INET_T_SRCS) $@-harness.o $(LIBKSOCK_SAN)
$(INET_T_TSAN): $(INET_T_SRCS) $(INET_T_HDRS) $(LIBKSOCK_TSAN)
	@mkdir -p $(dir $@)
	$(INET_T_CC) $(TSAN_FLAGS) -DTH_KSOCK -c tests/conform/harness.c -o $@-harness.o
	$(INET_T_CC) $(TSAN_FLAGS) -o $@ $(INET_T_SRCS) $@-harness.o $(LIBKSOCK_TSAN)

ALL_TARGETS   += $(INET_T_BIN)
CHECK_TARGETS += inet-interop inet-interop-san inet-interop-tsan
.PHONY: inet-interop inet-interop-san inet-interop-tsan
inet-interop: $(INET_T_BIN)
	@tools/run-suite inet-interop 900 $<
inet-interop-san: $(INET_T_SAN)
	@tools/run-suite inet-interop-san 1200 $<
inet-interop-tsan: $(INET_T_TSAN)
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	 tools/run-suite inet-interop-tsan 1500 $<

# libFuzzer target for the link's input path (fuzz/inet_link_fuzz.c):
# arbitrary Ethernet frames through ARP, ND, IPv4 and IPv6, built like
# the loopback's fuzzer above (clang, ASan+UBSan over lwIP too, no
# checksum checks). 20 s in make check, ten minutes in make fuzz.
FUZZ_LINK     := $(BUILD)/fuzz/inet_link_fuzz
FUZZ_LINK_SRC := fuzz/inet_link_fuzz.c $(KS_SRCS) $(HOSTED_SRCS)

CHECK_TARGETS += fuzz-inet-link-check
FUZZ_TARGETS  += fuzz-inet-link
.PHONY: fuzz-inet-link-check fuzz-inet-link

$(FUZZ_LINK): $(FUZZ_LINK_SRC) fuzz/inet_fuzz.h $(KS_HEADERS) $(INET_HDRS) $(LWIP_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_INET_CC) $(FUZZ_LINK_SRC) -o $@

fuzz-inet-link-check: $(FUZZ_LINK)
	@tools/run-suite fuzz-inet-link 90 sh fuzz/run-fuzz.sh $(FUZZ_LINK) 20 fuzz/inet-link-seeds

fuzz-inet-link: $(FUZZ_LINK)
	sh fuzz/run-fuzz.sh $(FUZZ_LINK) 600 fuzz/inet-link-seeds

# The hosted port's TAP link (port/hosted/tap.c) calls src/inet's link:
# it is in every library (they all carry src/inet), but builds without
# the family that are set up after this file (ksockd's fuzzer takes
# $(HOSTED_SRCS) with the AF_UNIX sources only) must leave it out.
HOSTED_INET_SRCS := port/hosted/tap.c
HOSTED_SRCS := $(filter-out $(HOSTED_INET_SRCS),$(HOSTED_SRCS))
