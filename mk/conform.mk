# Conformance tests: every tests/conform/t_*.c is built twice, against libc
# (runs on the Linux kernel) and against ksock's POSIX personality (runs on
# ksock, also under ASan+UBSan), and make check runs all three.

CONFORM_SRCS  := $(sort $(wildcard tests/conform/t_*.c))
CONFORM_NAMES := $(CONFORM_SRCS:tests/conform/%.c=%)
# Programs whose feature ksock does not have yet: they run on Linux only
# until then. Each entry names the issue that removes it.
CONFORM_KSOCK_PENDING :=
CONFORM_KSOCK_NAMES := $(filter-out $(CONFORM_KSOCK_PENDING),$(CONFORM_NAMES))
CONFORM_HDRS  := tests/conform/harness.h tests/conform/harness.c
CONFORM_CFLAGS = -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter \
                 -D_GNU_SOURCE -Iinclude -pthread

$(BUILD)/conform/linux/%: tests/conform/%.c $(CONFORM_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CONFORM_CFLAGS) -o $@ $< tests/conform/harness.c
$(BUILD)/conform/ksock/%: tests/conform/%.c $(CONFORM_HDRS) $(LIBKSOCK)
	@mkdir -p $(dir $@)
	$(CC) $(CONFORM_CFLAGS) -DTH_KSOCK -o $@ $< tests/conform/harness.c $(LIBKSOCK)
$(BUILD)/conform/ksock-san/%: tests/conform/%.c $(CONFORM_HDRS) $(LIBKSOCK_SAN)
	@mkdir -p $(dir $@)
	$(CC) $(CONFORM_CFLAGS) $(SAN_FLAGS) -DTH_KSOCK -o $@ $< tests/conform/harness.c $(LIBKSOCK_SAN)

ALL_TARGETS += $(CONFORM_NAMES:%=$(BUILD)/conform/linux/%) \
               $(CONFORM_KSOCK_NAMES:%=$(BUILD)/conform/ksock/%)

CHECK_TARGETS += $(CONFORM_NAMES:%=conform-linux-%) \
                 $(CONFORM_KSOCK_NAMES:%=conform-ksock-%) \
                 $(CONFORM_KSOCK_NAMES:%=conform-ksock-san-%)
.PHONY: $(CONFORM_NAMES:%=conform-linux-%) $(CONFORM_NAMES:%=conform-ksock-%) \
        $(CONFORM_NAMES:%=conform-ksock-san-%) conform-linux

# Static pattern rules: make does not search implicit rules for phony targets.
$(CONFORM_NAMES:%=conform-linux-%): conform-linux-%: $(BUILD)/conform/linux/%
	@tools/run-suite conform-linux-$* 600 $<
$(CONFORM_NAMES:%=conform-ksock-%): conform-ksock-%: $(BUILD)/conform/ksock/%
	@tools/run-suite conform-ksock-$* 600 $<
$(CONFORM_NAMES:%=conform-ksock-san-%): conform-ksock-san-%: $(BUILD)/conform/ksock-san/%
	@tools/run-suite conform-ksock-san-$* 900 $<

# Just the Linux side, for writing tests before ksock has the feature.
conform-linux: $(CONFORM_NAMES:%=conform-linux-%)
