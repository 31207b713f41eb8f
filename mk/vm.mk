# ksock in a real kernel (issue 11): the Linux module (port/linux/), a
# Debian kernel booted under QEMU with an initramfs of busybox, the module
# and the conformance programs (the libc build, static, unchanged), and
# the host side that turns the serial console into runner lines.
#
#   make vm-module    build $(BUILD)/vm/mod/ksock.ko
#   make vm-check     boot once, run every conformance program, vm/t_*.c
#                     and the demo on ksock owning PF_UNIX; one log per program in
#                     build/results (part of make check: about a minute)
#   make vm-check-linux  the same on Linux's own AF_UNIX in the guest
#
# The guest kernel's ABI is pinned in mk/vm.deps (the headers package);
# tools/vm-fetch downloads the matching image into $(BUILD)/vm/kernel.

VM_ABI    := $(shell sed -n 's/^linux-headers-\([^ #]*\).*/\1/p' mk/vm.deps)
VM_DIR    := $(BUILD)/vm
VM_KDIR   := /usr/src/linux-headers-$(VM_ABI)
VM_KERNEL := $(VM_DIR)/kernel/vmlinux
VM_MOD    := $(VM_DIR)/mod/ksock.ko
VM_INITRD := $(VM_DIR)/initrd.gz
# The conformance programs, and vm/t_*.c: checks of what only a kernel
# reaches (splice, sendfile, SA_RESTART...), run on Linux and on ksock.
# The module serves PF_UNIX only: the AF_INET programs (t_tcp, t_udp)
# would test the guest's own TCP/IP against itself, so they stay out.
VM_OWN    := $(patsubst vm/%.c,%,$(wildcard vm/t_*.c))
VM_CONFORM := $(filter-out t_tcp t_udp,$(CONFORM_NAMES))
VM_TESTS  := $(VM_CONFORM:%=$(VM_DIR)/tests/%) $(VM_OWN:%=$(VM_DIR)/tests/%)
VM_MOD_SRCS := $(wildcard port/linux/*.c port/linux/*.h port/linux/shim/*.h) \
               port/linux/Kbuild $(wildcard src/core/*.[ch] src/unix/*.[ch]) \
               $(wildcard include/ksock/*.h)

.PHONY: vm-module vm-check vm-check-linux

$(VM_KERNEL): tools/vm-fetch mk/vm.deps
	@sh tools/vm-fetch $(VM_ABI) $(VM_DIR)/kernel

# Kbuild writes objects beside the sources, so it builds in a tree of
# links under $(BUILD).
$(VM_MOD): $(VM_MOD_SRCS)
	@rm -rf $(VM_DIR)/mod && mkdir -p $(VM_DIR)/mod/core $(VM_DIR)/mod/unix $(VM_DIR)/mod/glue
	@for f in src/core/*.c; do ln -s $(CURDIR)/$$f $(VM_DIR)/mod/core/; done
	@for f in src/unix/*.c; do ln -s $(CURDIR)/$$f $(VM_DIR)/mod/unix/; done
	@for f in port/linux/*.c; do ln -s $(CURDIR)/$$f $(VM_DIR)/mod/glue/; done
	@ln -s $(CURDIR)/port/linux/Kbuild $(VM_DIR)/mod/Kbuild
	$(MAKE) -s -C $(VM_KDIR) M=$(abspath $(VM_DIR)/mod) KSOCK_ROOT=$(CURDIR) \
		KSOCK_GCC_INC=$$(gcc-12 -print-file-name=include) modules
vm-module: $(VM_MOD)

# The conformance programs as tests/conform builds them for Linux, linked
# statically for a guest without a C library.
$(VM_DIR)/tests/%: tests/conform/%.c $(CONFORM_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CONFORM_CFLAGS) -static -o $@ $< tests/conform/harness.c

$(VM_DIR)/tests/%: vm/%.c $(CONFORM_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CONFORM_CFLAGS) -Itests/conform -static -o $@ $< tests/conform/harness.c

$(VM_DIR)/tests/bench_kk: vm/bench_kk.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -static -o $@ $<

# The demo, the same examples/demo.c as make demo runs, against libc:
# vm/demo_libc.h maps the personality's calls to the system calls and
# its simulated processes to real ones. vm/init runs it as the check
# "demo" and turns its lines into a runner line.
$(VM_DIR)/tests/demo: examples/demo.c vm/demo_libc.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(OPT) -g $(WARN) -D_GNU_SOURCE -Iinclude \
		-include vm/demo_libc.h -static -o $@ $<

$(VM_INITRD): vm/init $(VM_MOD) $(VM_TESTS) $(VM_DIR)/tests/bench_kk $(VM_DIR)/tests/demo tools/vm-initrd
	@sh tools/vm-initrd $@ vm/init $(VM_MOD) $(VM_TESTS) $(VM_DIR)/tests/bench_kk $(VM_DIR)/tests/demo

# Two boots: the guest's own AF_UNIX first, as the oracle (its logs stay
# out of build/results), then ksock owning PF_UNIX; a check that fails
# on both counts as skipped (tools/vm-run).
VM_ORACLE := $(VM_DIR)/oracle
vm-check: $(VM_KERNEL) $(VM_INITRD)
	@RESULTS_DIR=$(VM_ORACLE) sh tools/vm-run $(VM_KERNEL) $(VM_INITRD) vm-linux linux >/dev/null || true
	@VM_ORACLE=$(VM_ORACLE) sh tools/vm-run $(VM_KERNEL) $(VM_INITRD) vm-ksock takeover

# The same programs on the guest's own AF_UNIX: the oracle for vm/t_*.c,
# and a way to tell a ksock bug from a difference between Linux 6.1 and
# the host's newer kernel, against which tests/conform was written (6.1
# fails t_cmsg's and t_oob's checks of later behaviour).
vm-check-linux: $(VM_KERNEL) $(VM_INITRD)
	@sh tools/vm-run $(VM_KERNEL) $(VM_INITRD) vm-linux linux

CHECK_TARGETS += vm-check

# Kernel-to-kernel benchmark: bench_kk against Linux's AF_UNIX and ksock
# (family 13) in one boot, under -icount (deterministic) and plain TCG
# with two vCPUs (noisy); the table and $(BUILD)/vm/bench.json.
vm-bench: $(VM_KERNEL) $(VM_INITRD)
	@sh tools/vm-bench $(VM_KERNEL) $(VM_INITRD) $(VM_DIR)/bench.json
.PHONY: vm-bench
BENCH_TARGETS += vm-bench
