# ksockstat (tools/ksockstat.c): lists a ksock instance's sockets, like
# ss -x; docs/introspection.md. Its tests are tests/unit/t_diag.c, which
# runs the binary, so the unit test binaries depend on it.

KSOCKSTAT := $(BUILD)/ksockstat
ALL_TARGETS += $(KSOCKSTAT)

$(KSOCKSTAT): tools/ksockstat.c port/ksockd/client.c $(wildcard port/ksockd/*.h) $(LIBKSOCK)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -o $@ $< port/ksockd/client.c $(LIBKSOCK)

$(BUILD)/unit/t_diag $(BUILD)/unit-san/t_diag: $(KSOCKSTAT)
