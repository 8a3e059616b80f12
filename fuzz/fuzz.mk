# fuzz.mk - libFuzzer targets of smtptap (run through `make fuzz`).
#
#   make fuzz                    build every target, run each FUZZ_SECONDS (60)
#   make fuzz FUZZ_SECONDS=10    a quick run
#   make fuzz FUZZ_TARGETS="fuzz_smtp fuzz_mime"   a subset
#   make -f fuzz/fuzz.mk build   only build
#   make -f fuzz/fuzz.mk plateau each target in rounds of PLATEAU_ROUND s (300) until
#                                PLATEAU_QUIET rounds (2) find no new edge, at most
#                                PLATEAU_MAX rounds (12): fuzz/plateau.sh, FB/plateau.log
#   make -f fuzz/fuzz.mk cov     coverage of each target over its corpus (llvm-cov)
#   make -f fuzz/fuzz.mk replay  the targets without libFuzzer, with cc and the library of
#                                the sanitized build (B/asan): what test_fuzz_regress.py runs
#
# The library's sources are compiled again with clang and libFuzzer's
# coverage instrumentation into build/fuzz/obj/ (the gcc objects of build/
# carry no coverage). Each run starts from fuzz/seeds/<target>/ plus the
# working corpus build/fuzz/corpus/<target>/ (new inputs go there, never
# into the repo) and the reproducers of fuzz/regress/<target>/. A crash
# is written to build/fuzz/crashes/<target>/ and makes the run fail.
# Every run appends to build/fuzz/runs.log what reproduces its figures:
# the commit, the seeds' digest, each command, each result line.
# `make fuzz B=dir` (FB=dir/fuzz here) puts all of build/fuzz in dir/fuzz.

FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= fuzz_l2 fuzz_smtp fuzz_mime fuzz_message fuzz_hdr fuzz_tunnel fuzz_pcap \
                fuzz_tcp fuzz_eml fuzz_config fuzz_ioc
FUZZ_JOBS    ?= 1
FCC     ?= clang
B       ?= build
FB      ?= $(B)/fuzz
BA      ?= $(B)/asan
RCC     ?= cc
LLVM_PROFDATA ?= llvm-profdata
LLVM_COV      ?= llvm-cov

# The same layers, warnings and libraries as the Makefile's build.
include mk/common.mk
LIBSRCS := $(foreach d,$(LAYERS),$(wildcard $(d)/*.c))
LIBOBJS := $(LIBSRCS:%.c=$(FB)/obj/%.o)
COVOBJS := $(LIBSRCS:%.c=$(FB)/cov/obj/%.o)
FHDRS   := $(wildcard fuzz/*.h)

# UBSan recoverable so that fuzz/ubsan.supp works; fuzz/run.sh sets halt_on_error=1.
FSAN    := -fsanitize=address,undefined -fno-omit-frame-pointer
FCFLAGS := -std=c11 -g -O1 -fno-strict-aliasing $(WARN) $(FSAN)
# Coverage: no sanitizers, no libFuzzer; fuzz/standalone.c runs the corpus.
CCFLAGS := -std=c11 -g -O1 -fno-strict-aliasing $(WARN) -fprofile-instr-generate -fcoverage-mapping
# Replay: as the Makefile's sanitized build (its SANFLAGS), against its library.
RFLAGS  := -std=c11 -g -O1 -fno-strict-aliasing $(WARN) -fsanitize=address,undefined \
           -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# -max_len per target: frames are small, messages and captures are not.
MAXLEN_fuzz_l2      := 2048
MAXLEN_fuzz_smtp    := 65536
MAXLEN_fuzz_mime    := 131072
MAXLEN_fuzz_message := 131072
MAXLEN_fuzz_hdr     := 4096
MAXLEN_fuzz_tunnel  := 4096
MAXLEN_fuzz_pcap    := 262144
MAXLEN_fuzz_tcp     := 65536
MAXLEN_fuzz_eml     := 131072
MAXLEN_fuzz_config  := 4096
MAXLEN_fuzz_ioc     := 80000

# Dictionaries (fuzz/dict/), joined with + when a target takes several.
DICT_fuzz_smtp    := smtp
DICT_fuzz_tunnel  := tunnel+smtp
DICT_fuzz_tcp     := smtp+mime
DICT_fuzz_pcap    := smtp
DICT_fuzz_mime    := mime+hdr
DICT_fuzz_message := mime+hdr
DICT_fuzz_eml     := mime+hdr
DICT_fuzz_hdr     := hdr
DICT_fuzz_config  := config
DICT_fuzz_ioc     := ioc

# Further libFuzzer flags, joined with +. Entropic scheduling costs the
# targets that run the whole pipeline most of their time (libFuzzer's
# UpdateFeatureFrequency: 64% of fuzz_tcp's profile) and, 60 s from the
# same corpus, found fewer features there (fuzz_pcap 34112 vs 36961 with
# -entropic=0, fuzz_eml 25750 vs 28099, fuzz_message 26303 vs 29822,
# fuzz_mime 18516 vs 19411); fuzz_smtp keeps it (8284 vs 8078).
FLAGS_fuzz_pcap    := -entropic=0
FLAGS_fuzz_tcp     := -entropic=0
FLAGS_fuzz_eml     := -entropic=0
FLAGS_fuzz_message := -entropic=0
FLAGS_fuzz_mime    := -entropic=0

PLATEAU_ROUND ?= 300
PLATEAU_QUIET ?= 2
PLATEAU_MAX   ?= 12

# run stays the default goal (make fuzz, CI): plateau takes hours.
.DEFAULT_GOAL := run
.PHONY: run build cov replay clean-fuzz plateau
plateau: build
	@FB=$(FB) sh fuzz/plateau.sh $(PLATEAU_ROUND) $(PLATEAU_QUIET) $(PLATEAU_MAX) $(FUZZ_TARGETS)

run: build
	@sh fuzz/run.sh "$(FB)" "$(FUZZ_SECONDS)" \
	    $(foreach t,$(FUZZ_TARGETS),$(t):$(MAXLEN_$(t)):$(DICT_$(t)):$(FLAGS_$(t)))

build: $(FUZZ_TARGETS:%=$(FB)/%)

$(FB)/obj/%.o: %.c fuzz/fuzz.mk mk/common.mk
	@mkdir -p $(@D)
	$(FCC) $(DEFS) $(FCFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FB)/libsmtptap-fuzz.a: $(LIBOBJS)
	@rm -f $@; ar rcs $@ $^

$(FB)/%: fuzz/%.c $(FHDRS) fuzz/fuzz.mk mk/common.mk $(FB)/libsmtptap-fuzz.a
	$(FCC) $(DEFS) $(FCFLAGS) -fsanitize=fuzzer -o $@ $< $(FB)/libsmtptap-fuzz.a $(LDLIBS)

# ---- coverage --------------------------------------------------------------
# Each target's corpus (seeds, reproducers, the working corpus) run once by
# an instrumented build; llvm-cov then reports the library's files (not
# fuzz/ or tests/) per target: $(FB)/cov/<t>.txt, its TOTAL line printed.
# COV_HTML=1 also writes $(FB)/cov/html/<t>/index.html (regions not reached).
COV_IGNORE := (fuzz|tests)/|/usr/
cov: $(FUZZ_TARGETS:%=$(FB)/cov/%)
	@for t in $(FUZZ_TARGETS); do \
	    rm -rf $(FB)/cov/$$t.prof; mkdir -p $(FB)/cov/$$t.prof $(FB)/corpus/$$t; \
	    dirs=$(FB)/corpus/$$t; for d in fuzz/seeds/$$t fuzz/regress/$$t; do \
	        [ -d $$d ] && dirs="$$dirs $$d"; done; \
	    LLVM_PROFILE_FILE=$(FB)/cov/$$t.prof/%p.profraw FUZZ_TCP_DIFF=0 \
	        $(FB)/cov/$$t $$dirs >$(FB)/cov/$$t.log 2>&1 || \
	        echo "$$t: the corpus run failed (see $(FB)/cov/$$t.log)"; \
	    $(LLVM_PROFDATA) merge -sparse -o $(FB)/cov/$$t.profdata $(FB)/cov/$$t.prof/*.profraw; \
	    $(LLVM_COV) report $(FB)/cov/$$t -instr-profile=$(FB)/cov/$$t.profdata \
	        -ignore-filename-regex='$(COV_IGNORE)' >$(FB)/cov/$$t.txt; \
	    if [ -n "$(COV_HTML)" ]; then $(LLVM_COV) show $(FB)/cov/$$t \
	        -instr-profile=$(FB)/cov/$$t.profdata -ignore-filename-regex='$(COV_IGNORE)' \
	        -format=html -output-dir=$(FB)/cov/html/$$t; fi; \
	    n=$$(find $$dirs -type f | wc -l); \
	    awk -v t=$$t -v n=$$n '/^TOTAL/ {printf "%-13s %6d inputs  regions %s  functions %s  lines %s  branches %s\n", \
	        t, n, $$4, $$7, $$10, $$13}' $(FB)/cov/$$t.txt; \
	done

$(FB)/cov/obj/%.o: %.c fuzz/fuzz.mk mk/common.mk
	@mkdir -p $(@D)
	$(FCC) $(DEFS) $(CCFLAGS) -MMD -MP -c $< -o $@

$(FB)/cov/libsmtptap-cov.a: $(COVOBJS)
	@rm -f $@; ar rcs $@ $^

$(FB)/cov/%: fuzz/%.c fuzz/standalone.c $(FHDRS) fuzz/fuzz.mk mk/common.mk \
             $(FB)/cov/libsmtptap-cov.a
	$(FCC) $(DEFS) $(CCFLAGS) -o $@ $< fuzz/standalone.c $(FB)/cov/libsmtptap-cov.a $(LDLIBS)

# ---- replay without clang ---------------------------------------------------
replay: $(FUZZ_TARGETS:%=$(FB)/replay/%)

$(FB)/replay/%: fuzz/%.c fuzz/standalone.c $(FHDRS) fuzz/fuzz.mk mk/common.mk $(BA)/libsmtptap.a
	@mkdir -p $(@D)
	$(RCC) $(DEFS) $(RFLAGS) -o $@ $< fuzz/standalone.c $(BA)/libsmtptap.a $(LDLIBS)

clean-fuzz:
	rm -rf $(FB)

-include $(LIBOBJS:.o=.d) $(COVOBJS:.o=.d)
