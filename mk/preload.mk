# Unmodified programs on ksock: the preload library, build/ksock-run, and
# the evidence suite in tests/run/ (docs/ksock-run.md).

PRELOAD_SRCS := $(sort $(wildcard port/preload/*.c))
PRELOAD_OBJS := $(PRELOAD_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/port/hosted/thread.o
LIBKSOCK_PRELOAD := $(BUILD)/libksock-preload.so
KSOCK_RUN := $(BUILD)/ksock-run

ALL_TARGETS += $(LIBKSOCK_PRELOAD) $(KSOCK_RUN)

$(PRELOAD_OBJS): port/preload/preload.h

# ksock's own symbols stay inside the library (--exclude-libs): only the
# libc names the shim interposes are exported.
$(LIBKSOCK_PRELOAD): $(PRELOAD_OBJS) $(LIBKSOCK_CORE)
	$(CC) -shared -pthread -Wl,--exclude-libs,ALL -Wl,-z,defs -o $@ \
		$(PRELOAD_OBJS) $(LIBKSOCK_CORE)

$(KSOCK_RUN): tools/ksock-run.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -D_GNU_SOURCE -o $@ $<
