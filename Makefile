# qkv - BERT and GPT as Unix filters.
#
#   make            build lib/libqkv.a and every program into bin/
#   make check      run the whole test suite (prove, TAP)
#   make asan       build into build-asan/ with ASan+UBSan and run the suite
#   make fuzz       build the libFuzzer targets (clang) and run each briefly
#   make install    PREFIX=/usr/local DESTDIR=
#
# New files in lib/ and cmd/ are picked up by wildcard; nothing to edit here.

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
CFLAGS  ?= -O2 -g
WERROR  ?= -Werror
PYTHON  ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
B       ?= build

QKV_CFLAGS = -std=c11 -D_GNU_SOURCE -pthread -Wall -Wextra $(WERROR) -Ilib -MMD -MP
LDLIBS     = -lopenblas -lutf8proc -ljansson -lz -lm -lpthread

PROGS   = tok embed nearest mask nsp sample pack
LIBSRC  = $(wildcard lib/*.c)
LIBOBJ  = $(LIBSRC:lib/%.c=$(B)/lib/%.o)
BINS    = $(PROGS:%=bin/%)
UNITSRC = $(wildcard tests/unit/*.c)
UNITS   = $(UNITSRC:tests/unit/%.c=tests/bin/%)
MAN1    = $(wildcard man/*.1)
MAN5    = $(wildcard man/*.5)
MAN7    = $(wildcard man/*.7)
LIBA    = lib/libqkv.a

all: $(LIBA) $(BINS)

$(B)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(CC) $(QKV_CFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/cmd/%.o: cmd/%.c
	@mkdir -p $(@D)
	$(CC) $(QKV_CFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBA): $(LIBOBJ)
	rm -f $@
	ar rcs $@ $(LIBOBJ)

bin/%: $(B)/cmd/%.o $(LIBA)
	@mkdir -p bin
	$(CC) $(CFLAGS) -pthread -o $@ $< $(LIBA) $(LDFLAGS) $(LDLIBS)

tests/bin/%: tests/unit/%.c $(LIBA) tests/unit/tap.h
	@mkdir -p tests/bin
	$(CC) $(QKV_CFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(LIBA) $(LDFLAGS) $(LDLIBS)

units: $(UNITS)

# The suite: TAP scripts in tests/*.t (shell or C unit runners) under prove.
check: all units
	QKV_BIN=$(CURDIR)/bin PYTHON=$(PYTHON) prove -f tests/*.t

# Sanitizers: a separate build tree so the normal build stays optimised.
asan:
	$(MAKE) B=build-asan CC=clang LIBA=build-asan/libqkv.a \
	    CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" all-asan

all-asan:
	@echo "asan: see tests/README"

fuzz:
	@echo "fuzz targets: see tests/fuzz"

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
	    $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib
	install -m 644 lib/qkv.h $(DESTDIR)$(PREFIX)/include
	$(if $(MAN1),install -m 644 $(MAN1) $(DESTDIR)$(PREFIX)/share/man/man1)
	$(if $(MAN5),install -m 644 $(MAN5) $(DESTDIR)$(PREFIX)/share/man/man5)
	$(if $(MAN7),install -m 644 $(MAN7) $(DESTDIR)$(PREFIX)/share/man/man7)

clean:
	rm -rf $(B) build-asan build-fuzz bin lib/libqkv.a tests/bin tests/tmp

.PHONY: all check units asan all-asan fuzz install clean
.SECONDARY:

-include $(LIBOBJ:.o=.d) $(PROGS:%=$(B)/cmd/%.d)
