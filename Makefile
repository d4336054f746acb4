# BlinkChat build. `make` builds the API (FastCGI) and the push daemon with
# warnings as errors; `make test` also builds a sanitized copy under
# build/asan and runs every test suite against the real stack.

CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    ?= build
PKG_CONFIG ?= pkg-config

WARNINGS = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wpointer-arith -fno-common
HARDEN   = -D_FORTIFY_SOURCE=2 -fstack-protector-strong
OPT      ?= -O2 -g
SANITIZE ?=

COMMON_PKGS = libpq json-c libjwt libsodium
API_PKGS    = $(COMMON_PKGS) hiredis libcurl vips
PUSHD_PKGS  = $(COMMON_PKGS) hiredis libwebsockets libuv

pkg_cflags = $(shell $(PKG_CONFIG) --cflags $(1))
pkg_libs   = $(shell $(PKG_CONFIG) --libs $(1))

CFLAGS   ?=
CPPFLAGS += -Icommon
ALL_CFLAGS = -std=c11 $(OPT) $(WARNINGS) $(HARDEN) $(SANITIZE) $(CFLAGS)

COMMON_SRC = $(wildcard common/*.c)
API_SRC    = $(wildcard fcgi/*.c)
PUSHD_SRC  = $(wildcard pushd/*.c)
UNIT_SRC   = $(wildcard tests/unit/*.c)

COMMON_OBJ = $(COMMON_SRC:%.c=$(BUILD)/%.o)
API_OBJ    = $(API_SRC:%.c=$(BUILD)/%.o)
PUSHD_OBJ  = $(PUSHD_SRC:%.c=$(BUILD)/%.o)

API_BIN   = $(BUILD)/blinkchat-api
PUSHD_BIN = $(BUILD)/blinkchat-pushd
UNIT_BIN  = $(BUILD)/unit-tests

.PHONY: all deps run test test-unit test-api test-browser bench migrate \
        install clean format asan

all: $(API_BIN) $(PUSHD_BIN)

$(BUILD)/common/%.o: common/%.c $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(call pkg_cflags,$(PUSHD_PKGS) libcurl) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/fcgi/%.o: fcgi/%.c $(wildcard fcgi/*.h common/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ifcgi $(call pkg_cflags,$(API_PKGS)) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/pushd/%.o: pushd/%.c $(wildcard pushd/*.h common/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ipushd $(call pkg_cflags,$(PUSHD_PKGS)) $(ALL_CFLAGS) -c -o $@ $<

$(API_BIN): $(API_OBJ) $(COMMON_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $^ -lfcgi $(call pkg_libs,$(API_PKGS)) -lm

$(PUSHD_BIN): $(PUSHD_OBJ) $(COMMON_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(call pkg_libs,$(PUSHD_PKGS)) -lm

# Unit tests include the sources they test, so they can reach static helpers.
$(UNIT_BIN): $(UNIT_SRC) $(COMMON_OBJ) $(wildcard tests/unit/*.h) $(API_SRC) $(wildcard fcgi/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ifcgi -Itests/unit $(call pkg_cflags,$(API_PKGS)) $(ALL_CFLAGS) \
	    -o $@ $(UNIT_SRC) $(COMMON_OBJ) $(call pkg_libs,$(API_PKGS)) -lm

# Sanitized build, used by the tests.
asan:
	$(MAKE) BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	    SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    all build/asan/unit-tests

deps:
	deploy/install-deps.sh

migrate: deps
	deploy/blinkchat-stack migrate

run: deps all
	deploy/blinkchat-stack run

test: deps
	$(MAKE) all
	$(MAKE) asan
	tests/run-all.sh

test-unit: asan
	build/asan/unit-tests

bench: all
	deploy/install-deps.sh --test
	bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/blinkchat
	install -m 755 $(API_BIN) $(PUSHD_BIN) $(DESTDIR)$(PREFIX)/bin/
	cp -R www sql deploy $(DESTDIR)$(PREFIX)/share/blinkchat/

format:
	clang-format -i common/*.[ch] fcgi/*.[ch] pushd/*.[ch] tests/unit/*.[ch]

clean:
	rm -rf build
