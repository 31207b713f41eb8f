# libFuzzer target for control-message parsing (fuzz/cmsg_fuzz.c): make
# check runs it for a bounded 20 s (fuzz-cmsg-check), make fuzz for ten
# minutes (fuzz-cmsg). The library is compiled into the fuzzer with clang
# and ASan+UBSan: libFuzzer needs clang's sanitizer runtime, and the
# tree's $(CC) may be gcc, whose runtime does not mix with it.

FUZZ_CMSG     := $(BUILD)/fuzz/cmsg_fuzz
FUZZ_CMSG_SRC := fuzz/cmsg_fuzz.c $(KS_SRCS) $(HOSTED_SRCS)

CHECK_TARGETS += fuzz-cmsg-check
FUZZ_TARGETS  += fuzz-cmsg
.PHONY: fuzz-cmsg-check fuzz-cmsg

$(FUZZ_CMSG): $(FUZZ_CMSG_SRC) $(KS_HEADERS)
	@mkdir -p $(dir $@)
	$(CLANG) -std=gnu11 -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter \
	    -D_GNU_SOURCE -pthread -Iinclude -Isrc \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    $(FUZZ_CMSG_SRC) -o $@

fuzz-cmsg-check: $(FUZZ_CMSG)
	@tools/run-suite fuzz-cmsg 90 sh fuzz/run-fuzz.sh $(FUZZ_CMSG) 20 fuzz/cmsg-seeds

fuzz-cmsg: $(FUZZ_CMSG)
	sh fuzz/run-fuzz.sh $(FUZZ_CMSG) 600 fuzz/cmsg-seeds
