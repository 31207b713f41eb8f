# ksock: the one build entry point.
#
#   make          build the libraries, tools and the demo
#   make demo     run the end-to-end demo (the README's main job)
#   make check    install what the tests need, then build and run every test
#   make bench    benchmarks, ksock and Linux side by side
#   make fuzz     longer fuzzing runs
#   make install  headers, libraries, tools, manual pages, ksock.pc
#                 (PREFIX, DESTDIR, LIBDIR...: mk/install.mk); make uninstall
#   make kernel-files  what a kernel build takes from ksock
#
# Each part of the tree adds its rules in mk/NAME.mk and its Debian packages
# in mk/NAME.deps; targets register themselves by appending to the lists
# below, so there is no second registry to keep in sync.

BUILD    ?= build
CC       ?= cc
CLANG    ?= clang
OPT      ?= -O2
WARN     := -Wall -Wextra -Werror -Wundef -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wno-unused-parameter
CFLAGS   := -std=c11 $(OPT) -g $(WARN) -Iinclude -Isrc
HOSTED_CFLAGS := $(CFLAGS) -D_GNU_SOURCE -pthread -fPIC
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
TSAN_FLAGS := -fsanitize=thread

ALL_TARGETS   :=
CHECK_TARGETS :=
BENCH_TARGETS :=
FUZZ_TARGETS  :=
DEMO_TARGETS  :=

.PHONY: all check bench fuzz demo deps clean
all:

# mk/lib.mk defines the libraries the other fragments link against;
# mk/install.mk packages what they all build, so it comes last.
include mk/lib.mk
include $(filter-out mk/lib.mk mk/install.mk,$(sort $(wildcard mk/*.mk)))
include mk/install.mk

all: $(ALL_TARGETS)

# Every suite writes its log to $(BUILD)/results/ (tools/run-suite reads
# RESULTS_DIR); the summary sums the runner lines and ends with the one
# line CI reads.
export RESULTS_DIR := $(BUILD)/results
check: deps
	@rm -rf $(BUILD)/results && mkdir -p $(BUILD)/results
	@$(MAKE) --no-print-directory -k $(CHECK_TARGETS); \
	 status=$$?; sh tools/summarize $(BUILD)/results $$status; s2=$$?; \
	 [ $$status -eq 0 ] && [ $$s2 -eq 0 ]

bench: deps $(BENCH_TARGETS)
fuzz: deps $(FUZZ_TARGETS)
demo: deps $(DEMO_TARGETS)

deps: $(BUILD)/.deps-stamp
$(BUILD)/.deps-stamp: tools/install-deps $(wildcard mk/*.deps)
	@sh tools/install-deps mk/*.deps
	@mkdir -p $(BUILD) && touch $@

clean:
	rm -rf $(BUILD)
