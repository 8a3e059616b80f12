# smtptap - passive SMTP session reassembler.  GPL-2.0-or-later.
#
#   make run     install what is missing, build, run on a bundled capture
#   make test    install what is missing, build, run every test
#   make bench   throughput against tcpdump, tshark and mailsnarf
#   make fuzz    libFuzzer targets (clang), longer than the tests
#
# Two builds live side by side: build/ (optimised, what users run) and
# build/asan/ (AddressSanitizer + UBSan, what the tests run).

CC      ?= cc
LAYERS  := capture reassembly smtp mime mailhdr extract analyze output core
SRCS    := $(filter-out $(EXCLUDE),$(foreach d,$(LAYERS),$(wildcard $(d)/*.c)))
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

WARN    := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wno-unused-parameter
CPPFLAGS+= -D_GNU_SOURCE -DST_VERSION='"$(VERSION)"' -Iinclude -I.
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 $(WARN) -fno-strict-aliasing
LDLIBS  := -lnids -lpcap -lz -ljansson -lcrypto -lmagic -lyara -lpcre2-8 -lm -lpthread
SANFLAGS:= -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

B       ?= build
BA      ?= $(B)/asan
OBJS    := $(SRCS:%.c=$(B)/%.o)
OBJS_A  := $(SRCS:%.c=$(BA)/%.o)
UNIT    := $(wildcard tests/unit/*/test_*.c)
UNIT_A  := $(UNIT:tests/unit/%.c=$(BA)/tests/%)

.PHONY: all deps run test unit bench fuzz format clean install
all: deps $(B)/smtptap

deps:
	@sh scripts/deps.sh build

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BA)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -MMD -MP -c $< -o $@

$(B)/libsmtptap.a: $(OBJS)
	@rm -f $@; ar rcs $@ $^

$(BA)/libsmtptap.a: $(OBJS_A)
	@rm -f $@; ar rcs $@ $^

$(B)/smtptap: $(B)/cli/main.o $(B)/libsmtptap.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BA)/smtptap: $(BA)/cli/main.o $(BA)/libsmtptap.a
	$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(BA)/tests/%: tests/unit/%.c $(BA)/libsmtptap.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -o $@ $< $(BA)/libsmtptap.a -lcmocka $(LDLIBS)

unit: $(UNIT_A)

run: all
	@sh scripts/run-demo.sh

test:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory $(B)/smtptap $(BA)/smtptap $(UNIT_A)
	@python3 tests/run.py

bench:
	@sh scripts/deps.sh bench
	@$(MAKE) --no-print-directory $(B)/smtptap
	@python3 bench/bench.py

fuzz:
	@sh scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory -f fuzz/fuzz.mk

format:
	clang-format -i $(SRCS) $(wildcard */*.h) cli/*.c tests/unit/*/*.c

clean:
	rm -rf build

-include $(OBJS:.o=.d) $(OBJS_A:.o=.d) $(B)/cli/main.d $(BA)/cli/main.d
