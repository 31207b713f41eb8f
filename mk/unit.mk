# Unit tests: every tests/unit/t_*.c is one binary of white-box tests of
# the ks_* API (tests/unit/unit.h explains the harness). make check runs
# each one twice, against the library and against its ASan+UBSan build,
# both times with allocation-failure injection for every allocation each
# test makes; and the concurrency stress test (tests/unit/stress.c) in all
# three builds, the ThreadSanitizer one included.

UNIT_SRCS  := $(sort $(wildcard tests/unit/t_*.c))
UNIT_NAMES := $(UNIT_SRCS:tests/unit/%.c=%)
UNIT_HDRS  := tests/unit/unit.h tests/unit/unit.c
UNIT_CFLAGS = -std=gnu11 -O1 -g $(WARN) -D_GNU_SOURCE -Iinclude -pthread

$(BUILD)/unit/%: tests/unit/%.c $(UNIT_HDRS) $(LIBKSOCK)
	@mkdir -p $(dir $@)
	$(CC) $(UNIT_CFLAGS) -o $@ $< tests/unit/unit.c $(LIBKSOCK)
$(BUILD)/unit-san/%: tests/unit/%.c $(UNIT_HDRS) $(LIBKSOCK_SAN)
	@mkdir -p $(dir $@)
	$(CC) $(UNIT_CFLAGS) $(SAN_FLAGS) -o $@ $< tests/unit/unit.c $(LIBKSOCK_SAN)
$(BUILD)/unit-tsan/%: tests/unit/%.c $(UNIT_HDRS) $(LIBKSOCK_TSAN)
	@mkdir -p $(dir $@)
	$(CC) $(UNIT_CFLAGS) $(TSAN_FLAGS) -o $@ $< tests/unit/unit.c $(LIBKSOCK_TSAN)

ALL_TARGETS += $(UNIT_NAMES:%=$(BUILD)/unit/%) $(BUILD)/unit/stress

UNIT_RUNS := $(UNIT_NAMES:%=unit-%) $(UNIT_NAMES:%=unit-san-%) \
             unit-stress unit-san-stress unit-tsan-stress
CHECK_TARGETS += $(UNIT_RUNS)
.PHONY: $(UNIT_RUNS) unit

# Static pattern rules: make does not search implicit rules for phony
# targets. The limits are generous ceilings; each suite takes seconds.
$(UNIT_NAMES:%=unit-%): unit-%: $(BUILD)/unit/%
	@tools/run-suite unit-$* 300 $<
$(UNIT_NAMES:%=unit-san-%): unit-san-%: $(BUILD)/unit-san/%
	@tools/run-suite unit-san-$* 600 $<
unit-stress: $(BUILD)/unit/stress
	@tools/run-suite unit-stress 120 $<
unit-san-stress: $(BUILD)/unit-san/stress
	@tools/run-suite unit-san-stress 180 $<
# TSan reports a race as a failure (exit code 66 by default) and the
# harness counts the run as failed; halt_on_error stops at the first one.
unit-tsan-stress: $(BUILD)/unit-tsan/stress
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	 tools/run-suite unit-tsan-stress 300 $<

# Everything unit, for working on one part of the tree.
unit: $(UNIT_RUNS)

# The collector's tests (cycles formed and released from several
# processes at once) under ThreadSanitizer as well.
CHECK_TARGETS += unit-tsan-t_gc
.PHONY: unit-tsan-t_gc
unit-tsan-t_gc: $(BUILD)/unit-tsan/t_gc
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	 tools/run-suite unit-tsan-t_gc 300 $<
