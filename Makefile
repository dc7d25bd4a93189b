# qkv - BERT and GPT as Unix filters.
#
#   make            build lib/libqkv.a and every program into bin/
#   make demo       build, then run examples/demo.sh
#   make check      run the whole test suite (prove, TAP)
#   make asan       build into build-asan/ with ASan+UBSan and run the suite
#   make fuzz       build the libFuzzer targets (clang) and run each briefly
#   make ci         what CI runs: check, asan, then fuzz for CI_FUZZ_SECONDS
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

# The main job on what the repository ships (README's first command).
demo: all
	examples/demo.sh

# The suite: TAP scripts in tests/*.t (shell or C unit runners) under prove.
check: all units
	QKV_BIN=$(CURDIR)/bin PYTHON=$(PYTHON) prove -f tests/*.t

# Sanitizers: objects in build-asan/, then the programs and unit tests are
# linked in place (bin/, tests/bin/) so every test runs them unchanged; the
# links are removed afterwards so the next `make` relinks the normal build.
ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
# A sanitizer report exits 86, never 1, so a test that expects a clean
# error (exit 1) cannot mistake a report for one; leaks are reported
# (LeakSanitizer) and fail the run the same way.
ASAN_ENV = ASAN_OPTIONS=exitcode=86:detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 QKV_ASAN=1
asan:
	rm -f $(BINS) $(LIBA) $(UNITS)
	$(ASAN_ENV) $(MAKE) B=build-asan CC=clang CFLAGS="$(ASAN_FLAGS)" \
	    LDFLAGS="-fsanitize=address,undefined" check; \
	    rc=$$?; rm -f $(BINS) $(LIBA) $(UNITS); exit $$rc

# libFuzzer targets: tests/fuzz/NAME.c, each run FUZZ_SECONDS on a copy of
# its seeds (tests/fuzz/seeds/NAME/) in build-fuzz/corpus/NAME.
FUZZ_SECONDS ?= 20
FUZZ_FLAGS = -O1 -g -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZSRC = $(wildcard tests/fuzz/*.c)
FUZZERS = $(FUZZSRC:tests/fuzz/%.c=build-fuzz/%)

build-fuzz/libqkv.a: $(LIBSRC) $(wildcard lib/*.h)
	@mkdir -p build-fuzz/obj
	for f in $(LIBSRC); do \
	    clang $(QKV_CFLAGS) $(FUZZ_FLAGS) -c -o build-fuzz/obj/$$(basename $$f .c).o $$f || exit 1; \
	done
	rm -f $@ && ar rcs $@ build-fuzz/obj/*.o

build-fuzz/%: tests/fuzz/%.c tests/fuzz/exercise.h build-fuzz/libqkv.a
	clang $(QKV_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< \
	    build-fuzz/libqkv.a $(LDLIBS)

fuzz-build: $(FUZZERS)

fuzz: fuzz-build
	@for f in $(FUZZERS); do \
	    n=$$(basename $$f); c=build-fuzz/corpus/$$n; mkdir -p $$c; \
	    if [ -d tests/fuzz/seeds/$$n ]; then cp -r tests/fuzz/seeds/$$n/. $$c/; fi; \
	    echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=build-fuzz/$$n- $$c 2>build-fuzz/$$n.log || \
	        { tail -40 build-fuzz/$$n.log; exit 1; }; \
	    grep -E 'stat::number_of_executed_units|cov:' build-fuzz/$$n.log | tail -2; \
	done

# CI (.ci/run, README's test command): the suite, the suite again under
# the sanitizers, and a short round of every fuzz target.  A long round:
# make fuzz FUZZ_SECONDS=600.
CI_FUZZ_SECONDS ?= 10
ci:
	$(MAKE) check
	$(MAKE) asan
	$(MAKE) fuzz FUZZ_SECONDS=$(CI_FUZZ_SECONDS)

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

.PHONY: all demo check units asan fuzz fuzz-build ci install clean
.SECONDARY:

-include $(LIBOBJ:.o=.d) $(PROGS:%=$(B)/cmd/%.d)
