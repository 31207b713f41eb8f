# The ksock library (src/core, src/unix), the hosted port, and the proof
# that the portable part compiles freestanding.

KS_SRCS     := $(sort $(wildcard src/core/*.c src/unix/*.c))
HOSTED_SRCS := $(sort $(filter-out port/hosted/dns_%.c,$(wildcard port/hosted/*.c)))

KS_OBJS      := $(KS_SRCS:%.c=$(BUILD)/obj/%.o)
HOSTED_OBJS  := $(HOSTED_SRCS:%.c=$(BUILD)/obj/%.o)
KS_SOBJS     := $(KS_SRCS:%.c=$(BUILD)/san/%.o)
HOSTED_SOBJS := $(HOSTED_SRCS:%.c=$(BUILD)/san/%.o)
KS_TOBJS     := $(KS_SRCS:%.c=$(BUILD)/tsan/%.o)
HOSTED_TOBJS := $(HOSTED_SRCS:%.c=$(BUILD)/tsan/%.o)

# libksock-hosted.a carries the core and the hosted port in one archive.
LIBKSOCK      := $(BUILD)/libksock-hosted.a
LIBKSOCK_SAN  := $(BUILD)/libksock-hosted-san.a
LIBKSOCK_TSAN := $(BUILD)/libksock-hosted-tsan.a
# The shared library, its soname and its installation: mk/install.mk
# (it also carries the resolver, whose objects mk/dns.mk defines).
LIBKSOCK_SO   := $(BUILD)/libksock.so
LIBKSOCK_CORE := $(BUILD)/libksock.a

ALL_TARGETS += $(LIBKSOCK_CORE) $(LIBKSOCK) $(LIBKSOCK_SO)

KS_HEADERS := $(wildcard include/ksock/*.h src/core/*.h src/unix/*.h port/hosted/*.h)

$(BUILD)/obj/%.o: %.c $(KS_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -c $< -o $@
$(BUILD)/san/%.o: %.c $(KS_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -O1 $(SAN_FLAGS) -c $< -o $@
$(BUILD)/tsan/%.o: %.c $(KS_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -O1 $(TSAN_FLAGS) -c $< -o $@

$(LIBKSOCK_CORE): $(KS_OBJS)
	@rm -f $@; ar rcs $@ $^
$(LIBKSOCK): $(KS_OBJS) $(HOSTED_OBJS)
	@rm -f $@; ar rcs $@ $^
$(LIBKSOCK_SAN): $(KS_SOBJS) $(HOSTED_SOBJS)
	@rm -f $@; ar rcs $@ $^
$(LIBKSOCK_TSAN): $(KS_TOBJS) $(HOSTED_TOBJS)
	@rm -f $@; ar rcs $@ $^

# Freestanding proof: src/core and src/unix compile with -ffreestanding
# against an include directory that holds nothing but the five headers
# DESIGN.md allows, and link with -nostdlib into a relocatable object
# (so no libc symbol can sneak in unnoticed: see tools/check-freestanding).
FREE_INC := $(BUILD)/freestanding-include
CHECK_TARGETS += check-freestanding
.PHONY: check-freestanding
check-freestanding:
	@tools/run-suite freestanding 120 sh tools/check-freestanding "$(CC)" "$(FREE_INC)" $(KS_SRCS)

# What a kernel build takes from ksock (sources, headers, flags, the
# symbols it must provide), printed as make variables by the same script
# and from the same list of sources as the proof above.
.PHONY: kernel-files
kernel-files:
	@sh tools/check-freestanding --print "$(CC)" "$(FREE_INC)" $(KS_SRCS)
