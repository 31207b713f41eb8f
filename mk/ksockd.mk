# ksockd (port/ksockd/): ksock as a socket server for many processes,
# its client library, its tests and the fuzz target of its request
# decoder; docs/ksockd.md.
#
#   ksockd-linux-check the same cases on the Linux kernel's sockets (what
#                     they expect is what Linux does)
#   ksockd-check      t_ksockd's processes against build/ksockd
#   ksockd-san-check  the same, server and clients under ASan+UBSan
#   ksockd-tsan-check the same, the clients (the library's threads, its
#                     signal handlers) under TSan
#   fuzz-ksockd-check the decoder and the calls behind it, 10 s
#                     (make fuzz: fuzz-ksockd, ten minutes)
#   ksockd-scale-check 10,000 clients with a call parked each: one
#                     server thread, memory per parked call (t_scale)
#   ksockd-diag-check ksockstat --ksockd against known sockets (t_diag)
#   ksockd-scale-san-check, ksockd-diag-san-check  the same two against
#                     the ASan+UBSan server

KSOCKD        := $(BUILD)/ksockd
KSOCKD_SAN    := $(BUILD)/ksockd-san
KSOCKD_T      := $(BUILD)/ksockd-test/t_ksockd
KSOCKD_T_SAN  := $(BUILD)/ksockd-test/t_ksockd-san
KSOCKD_T_LINUX := $(BUILD)/ksockd-test/t_ksockd-linux
KSOCKD_T_TSAN := $(BUILD)/ksockd-test/t_ksockd-tsan
KSOCKD_SRCS   := port/ksockd/serve.c port/ksockd/diag.c port/ksockd/main.c
KSOCKD_T_SRCS := port/ksockd/t_ksockd.c port/ksockd/client.c
KSOCKD_HDRS   := $(wildcard port/ksockd/*.h) $(KS_HEADERS)
FUZZ_KSOCKD   := $(BUILD)/fuzz/ksockd_decode
# The AF_UNIX library's sources (the fuzzer compiles them with clang;
# without KS_CONFIG_INET the families table leaves AF_INET out).
FUZZ_KSOCKD_SRC := fuzz/ksockd_decode.c port/ksockd/serve.c port/ksockd/diag.c \
		   $(filter-out $(INET_SRCS) $(LWIP_SRCS),$(KS_SRCS)) $(filter-out port/hosted/tap.c,$(HOSTED_SRCS))

ALL_TARGETS   += $(KSOCKD)
CHECK_TARGETS += ksockd-linux-check ksockd-check ksockd-san-check \
		 ksockd-tsan-check fuzz-ksockd-check
FUZZ_TARGETS  += fuzz-ksockd
.PHONY: ksockd-linux-check ksockd-check ksockd-san-check ksockd-tsan-check \
	fuzz-ksockd-check fuzz-ksockd

$(KSOCKD): $(KSOCKD_SRCS) $(KSOCKD_HDRS) $(LIBKSOCK)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -o $@ $(KSOCKD_SRCS) $(LIBKSOCK)
$(KSOCKD_SAN): $(KSOCKD_SRCS) $(KSOCKD_HDRS) $(LIBKSOCK_SAN)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -O1 $(SAN_FLAGS) -o $@ $(KSOCKD_SRCS) $(LIBKSOCK_SAN)
$(KSOCKD_T): $(KSOCKD_T_SRCS) $(KSOCKD_HDRS) $(LIBKSOCK)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -o $@ $(KSOCKD_T_SRCS) $(LIBKSOCK)
$(KSOCKD_T_SAN): $(KSOCKD_T_SRCS) $(KSOCKD_HDRS) $(LIBKSOCK_SAN)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -O1 $(SAN_FLAGS) -o $@ $(KSOCKD_T_SRCS) $(LIBKSOCK_SAN)
$(KSOCKD_T_TSAN): $(KSOCKD_T_SRCS) $(KSOCKD_HDRS) $(LIBKSOCK_TSAN)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -O1 $(TSAN_FLAGS) -o $@ $(KSOCKD_T_SRCS) $(LIBKSOCK_TSAN)

$(KSOCKD_T_LINUX): port/ksockd/t_ksockd.c port/ksockd/proto.h
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -DKSD_ON_LINUX -o $@ port/ksockd/t_ksockd.c

ksockd-linux-check: $(KSOCKD_T_LINUX)
	@tools/run-suite ksockd-linux 120 $(KSOCKD_T_LINUX)
ksockd-check: $(KSOCKD) $(KSOCKD_T)
	@tools/run-suite ksockd 180 $(KSOCKD_T) $(KSOCKD)
ksockd-san-check: $(KSOCKD_SAN) $(KSOCKD_T_SAN)
	@tools/run-suite ksockd-san 300 $(KSOCKD_T_SAN) $(KSOCKD_SAN)
ksockd-tsan-check: $(KSOCKD) $(KSOCKD_T_TSAN)
	@tools/run-suite ksockd-tsan 300 $(KSOCKD_T_TSAN) $(KSOCKD)

$(FUZZ_KSOCKD): $(FUZZ_KSOCKD_SRC) $(KSOCKD_HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -std=gnu11 -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter \
	    -D_GNU_SOURCE -pthread -Iinclude -Isrc \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    $(FUZZ_KSOCKD_SRC) -o $@
fuzz-ksockd-check: $(FUZZ_KSOCKD)
	@tools/run-suite fuzz-ksockd 60 sh fuzz/run-fuzz.sh $(FUZZ_KSOCKD) 10 fuzz/ksockd_seeds
fuzz-ksockd: $(FUZZ_KSOCKD)
	sh fuzz/run-fuzz.sh $(FUZZ_KSOCKD) 600 fuzz/ksockd_seeds

# ksockd-scale-check: 10,000 clients with a receive parked each, from four
# processes; the server keeps one thread and serves a ping-pong
# meanwhile; prints its memory per parked call (port/ksockd/t_scale.c).
KSOCKD_SCALE_T := $(BUILD)/ksockd-test/t_scale
CHECK_TARGETS  += ksockd-scale-check
.PHONY: ksockd-scale-check

$(KSOCKD_SCALE_T): port/ksockd/t_scale.c port/ksockd/t_util.c port/ksockd/client.c $(KSOCKD_HDRS) $(LIBKSOCK)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -o $@ port/ksockd/t_scale.c port/ksockd/t_util.c port/ksockd/client.c $(LIBKSOCK)
ksockd-scale-check: $(KSOCKD) $(KSOCKD_SCALE_T)
	@tools/run-suite ksockd-scale 120 $(KSOCKD_SCALE_T) $(KSOCKD)

# ksockd-diag-check: `ksockstat --ksockd` (the KSD_DIAG label) against the
# sockets of two client processes, over several pages (port/ksockd/t_diag.c).
KSOCKD_DIAG_T := $(BUILD)/ksockd-test/t_diag
CHECK_TARGETS += ksockd-diag-check
.PHONY: ksockd-diag-check

$(KSOCKD_DIAG_T): port/ksockd/t_diag.c port/ksockd/t_util.c port/ksockd/client.c $(KSOCKD_HDRS) $(LIBKSOCK)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -o $@ port/ksockd/t_diag.c port/ksockd/t_util.c port/ksockd/client.c $(LIBKSOCK)
ksockd-diag-check: $(KSOCKD) $(KSOCKD_DIAG_T) $(BUILD)/ksockstat
	@tools/run-suite ksockd-diag 120 $(KSOCKD_DIAG_T) $(KSOCKD) $(BUILD)/ksockstat

# The two above against the server under ASan+UBSan (its exit status
# says nothing leaked).
CHECK_TARGETS += ksockd-scale-san-check ksockd-diag-san-check
.PHONY: ksockd-scale-san-check ksockd-diag-san-check
ksockd-scale-san-check: $(KSOCKD_SAN) $(KSOCKD_SCALE_T)
	@tools/run-suite ksockd-scale-san 180 $(KSOCKD_SCALE_T) $(KSOCKD_SAN)
ksockd-diag-san-check: $(KSOCKD_SAN) $(KSOCKD_DIAG_T) $(BUILD)/ksockstat
	@tools/run-suite ksockd-diag-san 180 $(KSOCKD_DIAG_T) $(KSOCKD_SAN) $(BUILD)/ksockstat
