# ksock in a real kernel (issue 11): the Linux module (port/linux/), a
# Debian kernel booted under QEMU with an initramfs of busybox, the module
# and the conformance programs (the libc build, static, unchanged), and
# the host side that turns the serial console into runner lines.
#
#   make vm-module    build $(BUILD)/vm/mod/ksock.ko
#   make vm-check     boot once, run every conformance program on ksock
#                     owning PF_UNIX; one log per program in build/results
#
# The guest kernel's ABI is pinned in mk/vm.deps (the headers package);
# tools/vm-fetch downloads the matching image into $(BUILD)/vm/kernel.

VM_ABI    := $(shell sed -n 's/^linux-headers-\([^ #]*\).*/\1/p' mk/vm.deps)
VM_DIR    := $(BUILD)/vm
VM_KDIR   := /usr/src/linux-headers-$(VM_ABI)
VM_KERNEL := $(VM_DIR)/kernel/vmlinux
VM_MOD    := $(VM_DIR)/mod/ksock.ko
VM_INITRD := $(VM_DIR)/initrd.gz
VM_TESTS  := $(CONFORM_NAMES:%=$(VM_DIR)/tests/%)
VM_MOD_SRCS := $(wildcard port/linux/*.c port/linux/*.h port/linux/shim/*.h) \
               port/linux/Kbuild $(wildcard src/core/*.[ch] src/unix/*.[ch]) \
               $(wildcard include/ksock/*.h)

.PHONY: vm-module vm-check vm-shell

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

$(VM_INITRD): vm/init $(VM_MOD) $(VM_TESTS) tools/vm-initrd
	@sh tools/vm-initrd $@ vm/init $(VM_MOD) $(VM_TESTS)

vm-check: $(VM_KERNEL) $(VM_INITRD)
	@sh tools/vm-run $(VM_KERNEL) $(VM_INITRD) vm-ksock
