# The demo: the README's main job, an end-to-end run that prints what
# happened and fails if anything differs from Linux.

DEMO := $(BUILD)/ksock-demo
ALL_TARGETS  += $(DEMO)
DEMO_TARGETS += run-demo
CHECK_TARGETS += check-demo
.PHONY: run-demo check-demo

$(DEMO): examples/demo.c $(LIBKSOCK)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTED_CFLAGS) -o $@ $< $(LIBKSOCK)

run-demo: $(DEMO)
	@$(DEMO)

# The demo checks its own results; in make check it counts as one test.
check-demo: $(DEMO)
	@tools/run-suite demo 60 sh -c '$(DEMO) && echo "demo: 1 passed, 0 failed" || echo "demo: 0 passed, 1 failed"'
