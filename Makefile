# smtptap - passive SMTP session reassembler.  GPL-2.0-or-later.
#
#   make         build build/smtptap (installs nothing)
#   make deps    install the packages the build needs (apt-get, if missing)
#   make run     install what is missing, build, run on a bundled capture
#   make test    install what is missing, build, run every test
#   make bench   throughput against tcpdump, tshark and mailsnarf
#   make fuzz    libFuzzer targets (clang), longer than the tests
#   make format-check   clang-format over every C file, changing nothing (CI)
#   make install PREFIX=/usr/local DESTDIR=   the command, library, header, man
#                page, example config, smtptap.pc (make uninstall removes them)
#
# Two builds live side by side: build/ (optimised, what users run) and
# build/asan/ (AddressSanitizer + UBSan, what the tests run).

# VERSION, LAYERS, DEFS, WARN, LDLIBS: shared with fuzz/fuzz.mk.
include mk/common.mk

CC      ?= cc
SRCS    := $(filter-out $(EXCLUDE),$(foreach d,$(LAYERS),$(wildcard $(d)/*.c)))

CPPFLAGS+= $(DEFS)
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 $(WARN) -fno-strict-aliasing
SANFLAGS:= -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

B       ?= build
BA      ?= $(B)/asan
OBJS    := $(SRCS:%.c=$(B)/%.o)
OBJS_A  := $(SRCS:%.c=$(BA)/%.o)
UNIT    := $(wildcard tests/unit/*/test_*.c)
UNIT_A  := $(UNIT:tests/unit/%.c=$(BA)/tests/%)
# Every C file and header of the project: what `format` rewrites and
# `format-check` (CI) verifies, one list so the two cannot disagree. By
# pattern, not by folder, so that a new folder is checked without asking.
FMT     := $(filter-out $(B)/% build/%,$(wildcard */*.[ch] tests/*/*.[ch] tests/unit/*/*.[ch]))

.PHONY: all deps run test unit bench fuzz format format-check clean install
# A build never touches the system: `make deps` installs the packages,
# and run/test/bench/fuzz install what they miss first.
all: $(B)/smtptap

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

$(BA)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(BA)/libsmtptap.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -o $@ $< $(BA)/libsmtptap.a -lcmocka $(LDLIBS)

unit: $(UNIT_A)

# The deliberate bugs of tests/mutations.txt, one at a time, each in a copy
# under /tmp (never this tree); reports those no test catches. MUTATE=--full,
# --confirm, --only ID, -j N: see tests/mutate.py.
.PHONY: mutate
mutate:
	@sh scripts/deps.sh test
	@python3 tests/mutate.py $(MUTATE)

run:
	@sh scripts/deps.sh build
	@$(MAKE) --no-print-directory $(B)/smtptap
	@B=$(B) sh scripts/run-demo.sh

test:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory $(B)/smtptap $(BA)/smtptap $(UNIT_A)
	@SMTPTAP_BUILD=$(B) python3 tests/run.py

bench:
	@sh scripts/deps.sh bench
	@$(MAKE) --no-print-directory $(B)/smtptap
	@python3 bench/bench.py

fuzz:
	@sh scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory -f fuzz/fuzz.mk FB=$(B)/fuzz

format:
	clang-format -i $(FMT)

# One file at a time, so the report names the files, not thousands of lines.
format-check:
	@bad=$$(for f in $(FMT); do clang-format --dry-run --Werror $$f 2>/dev/null || echo $$f; done); \
	if [ -n "$$bad" ]; then echo "format: not as clang-format leaves them (make format):" $$bad; \
	    exit 1; fi; \
	echo "format: $(words $(FMT)) files ok"

clean:
	rm -rf build

# make install [PREFIX=/usr/local] [DESTDIR=stage]; make uninstall, the same
# variables. The command, the static library with its header and
# smtptap.pc, the man page, and the example config where Debian keeps
# examples (share/doc/smtptap/examples/): nothing goes to etc/, where a
# config is the admin's and an install must not overwrite it. contrib/ (the
# systemd unit, logrotate, sysusers) is put in place by hand: README.md.
# No shared library: the objects are PIE, not PIC (a .so would be a third
# build of every file), and the ABI is not stable yet (smtptap_stats is
# allocated by the caller, and grows).
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
MANDIR       ?= $(PREFIX)/share/man
DOCDIR       ?= $(PREFIX)/share/doc/smtptap
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL      ?= install
INSTALLED    := $(BINDIR)/smtptap $(LIBDIR)/libsmtptap.a $(INCLUDEDIR)/smtptap.h \
                $(MANDIR)/man1/smtptap.1 $(DOCDIR)/examples/smtptap.conf \
                $(PKGCONFIGDIR)/smtptap.pc

.PHONY: uninstall $(B)/smtptap.pc
install: $(B)/smtptap $(B)/libsmtptap.a $(B)/smtptap.pc
	$(INSTALL) -d -m 0755 $(sort $(dir $(addprefix $(DESTDIR),$(INSTALLED))) $(DESTDIR)$(DOCDIR))
	$(INSTALL) -m 0755 $(B)/smtptap $(DESTDIR)$(BINDIR)/smtptap
	$(INSTALL) -m 0644 $(B)/libsmtptap.a $(DESTDIR)$(LIBDIR)/libsmtptap.a
	$(INSTALL) -m 0644 include/smtptap.h $(DESTDIR)$(INCLUDEDIR)/smtptap.h
	$(INSTALL) -m 0644 docs/smtptap.1 $(DESTDIR)$(MANDIR)/man1/smtptap.1
	$(INSTALL) -m 0644 docs/smtptap.conf $(DESTDIR)$(DOCDIR)/examples/smtptap.conf
	$(INSTALL) -m 0644 $(B)/smtptap.pc $(DESTDIR)$(PKGCONFIGDIR)/smtptap.pc

# Folders are left, but for the one that is only ours.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	@rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null || true

# Made at every install, as PREFIX is no file make could compare: the
# version, and the link line the command was built with (mk/common.mk),
# for `pkg-config --static`. Paths under PREFIX are written ${prefix}/...,
# so that pkg-config --define-prefix can move them.
$(B)/smtptap.pc: smtptap.pc.in
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' \
	    -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@LIBS_PRIVATE@|$(LDLIBS)|' $< >$@.tmp
	@mv $@.tmp $@

-include $(OBJS:.o=.d) $(OBJS_A:.o=.d) $(B)/cli/main.d $(BA)/cli/main.d
