# common.mk - what the main build (Makefile) and the fuzz build
# (fuzz/fuzz.mk) share: one list of layers, one set of warnings, one link
# line, so that a new layer or library cannot reach one build and miss the
# other.  Included by both; compiler and sanitizer flags stay in each.

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
LAYERS  := capture reassembly smtp mime mailhdr extract analyze output core
DEFS    := -D_GNU_SOURCE -DST_VERSION='"$(VERSION)"' -Iinclude -I.
WARN    := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wno-unused-parameter
LDLIBS  := -lnids -lpcap -lz -lzstd -ljansson -lcrypto -lmagic -lfuzzy -lyara -lpcre2-8 -lpsl -lhiredis -lm -lpthread
