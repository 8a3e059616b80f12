# fuzz.mk - libFuzzer targets of smtptap (run through `make fuzz`).
#
#   make fuzz                    build every target, run each FUZZ_SECONDS (60)
#   make fuzz FUZZ_SECONDS=10    a quick run
#   make fuzz FUZZ_TARGETS="fuzz_smtp fuzz_mime"   a subset
#   make -f fuzz/fuzz.mk build   only build
#
# The library's sources are compiled again with clang and libFuzzer's
# coverage instrumentation into build/fuzz/obj/ (the gcc objects of build/
# carry no coverage). Each run starts from fuzz/seeds/<target>/ plus the
# working corpus build/fuzz/corpus/<target>/ (new inputs go there, never
# into the repo) and the reproducers of fuzz/regress/<target>/. A crash
# is written to build/fuzz/crashes/<target>/ and makes the run fail.
# `make fuzz B=dir` (FB=dir/fuzz here) puts all of build/fuzz in dir/fuzz.

FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= fuzz_l2 fuzz_smtp fuzz_mime fuzz_message fuzz_hdr fuzz_tunnel fuzz_pcap
FUZZ_JOBS    ?= 1
FCC     ?= clang
FB      ?= build/fuzz

# The same layers, warnings and libraries as the Makefile's build.
include mk/common.mk
LIBSRCS := $(foreach d,$(LAYERS),$(wildcard $(d)/*.c))
LIBOBJS := $(LIBSRCS:%.c=$(FB)/obj/%.o)

# UBSan recoverable so that fuzz/ubsan.supp works; fuzz/run.sh sets halt_on_error=1.
FSAN    := -fsanitize=address,undefined -fno-omit-frame-pointer
FCFLAGS := -std=c11 -g -O1 -fno-strict-aliasing $(WARN) $(FSAN)

# -max_len per target: frames are small, messages and captures are not.
MAXLEN_fuzz_l2      := 2048
MAXLEN_fuzz_smtp    := 65536
MAXLEN_fuzz_mime    := 131072
MAXLEN_fuzz_message := 131072
MAXLEN_fuzz_hdr     := 4096
MAXLEN_fuzz_tunnel  := 4096
MAXLEN_fuzz_pcap    := 262144

.PHONY: run build clean-fuzz
run: build
	@sh fuzz/run.sh "$(FB)" "$(FUZZ_SECONDS)" $(foreach t,$(FUZZ_TARGETS),$(t):$(MAXLEN_$(t)))

build: $(FUZZ_TARGETS:%=$(FB)/%)

$(FB)/obj/%.o: %.c fuzz/fuzz.mk mk/common.mk
	@mkdir -p $(@D)
	$(FCC) $(DEFS) $(FCFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FB)/libsmtptap-fuzz.a: $(LIBOBJS)
	@rm -f $@; ar rcs $@ $^

$(FB)/%: fuzz/%.c fuzz/fuzz_common.h fuzz/fuzz_mime_ser.h fuzz/fuzz.mk mk/common.mk \
         $(FB)/libsmtptap-fuzz.a
	$(FCC) $(DEFS) $(FCFLAGS) -fsanitize=fuzzer -o $@ $< $(FB)/libsmtptap-fuzz.a $(LDLIBS)

clean-fuzz:
	rm -rf $(FB)

-include $(LIBOBJS:.o=.d)
