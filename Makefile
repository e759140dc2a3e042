# Moat: a plain, non-recursive Makefile.
#   make            release build in build/
#   make run        self-contained instance in ./run/ (see README)
#   make test       sanitizer build in build/asan/, unit and end-to-end tests
#   make bench      relay throughput against the bare path
#   make install    into $(DESTDIR)$(PREFIX) and FHS paths

VERSION	 = 0.1.0
PREFIX	?= /usr
SBINDIR	?= $(PREFIX)/sbin
BINDIR	?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var
UNITDIR	?= /lib/systemd/system

CC	?= cc
PKGS	 = libevent libevent_pthreads jansson libconfig sqlite3 gmime-3.0 libpcre2-8 opendkim libhs libmagic libclamav libarchive libssh ldap
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lspf2 -lopendmarc -lcrypt
CTL_LIBS   := $(shell pkg-config --libs jansson 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN	 = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Werror
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -DMOAT_VERSION='"$(VERSION)"' \
	   $(WARN) -Ishared -Idaemon $(PKG_CFLAGS) -pthread -MMD -MP
REL_CFLAGS = $(BASE_CFLAGS) -O2 -g $(CFLAGS)
ASAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
ASAN_CFLAGS = $(BASE_CFLAGS) -O1 -g $(ASAN_FLAGS) $(CFLAGS)

SHARED_SRC = $(wildcard shared/*.c)
DAEMON_SRC = $(filter-out daemon/moatd.c,$(wildcard daemon/*.c))
UNIT_SRC   = $(wildcard tests/unit/test_*.c)
# The console: console/*.c but moatctl, with ncurses (wide), panel, menu.
CONSOLE_SRC = $(filter-out console/moatctl.c,$(wildcard console/*.c))
UI_MODEL_SRC = console/model.c console/ui_text.c console/conn.c
UI_PKGS	 = ncursesw panelw menuw
UI_CFLAGS := $(shell pkg-config --cflags $(UI_PKGS) 2>/dev/null)
UI_LIBS	 := $(shell pkg-config --libs $(UI_PKGS) jansson 2>/dev/null)

REL	 = build
ASAN	 = build/asan
obj	 = $(patsubst %.c,$(1)/obj/%.o,$(2))

# The console is built once its sources are there.
MOAT_REL  = $(if $(wildcard console/moat.c),$(REL)/moat)
MOAT_ASAN = $(if $(wildcard console/moat.c),$(ASAN)/moat)

all: $(REL)/moatd $(REL)/moatctl $(MOAT_REL) $(REL)/bench-smtp

# --- release -----------------------------------------------------------
$(REL)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -c -o $@ $<

$(REL)/moatd: $(call obj,$(REL),daemon/moatd.c $(DAEMON_SRC) $(SHARED_SRC))
	$(CC) $(REL_CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

$(REL)/moatctl: $(call obj,$(REL),console/moatctl.c $(SHARED_SRC))
	$(CC) $(REL_CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

$(REL)/obj/console/%.o: REL_CFLAGS += $(UI_CFLAGS)
$(REL)/moat: $(call obj,$(REL),$(CONSOLE_SRC) $(SHARED_SRC))
	$(CC) $(REL_CFLAGS) -o $@ $^ $(UI_LIBS) $(LDFLAGS)

$(REL)/bench-smtp: $(call obj,$(REL),tests/bench/bench_smtp.c)
	$(CC) $(REL_CFLAGS) -o $@ $^ -pthread

# --- sanitizer build for tests -------------------------------------------
$(ASAN)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -c -o $@ $<

$(ASAN)/moatd: $(call obj,$(ASAN),daemon/moatd.c $(DAEMON_SRC) $(SHARED_SRC))
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

$(ASAN)/moatctl: $(call obj,$(ASAN),console/moatctl.c $(SHARED_SRC))
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

$(ASAN)/obj/console/%.o: ASAN_CFLAGS += $(UI_CFLAGS)
$(ASAN)/moat: $(call obj,$(ASAN),$(CONSOLE_SRC) $(SHARED_SRC))
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(UI_LIBS) $(LDFLAGS)

# The console's models are tested without the daemon.
$(ASAN)/obj/tests/unit/test_ui_model.o: ASAN_CFLAGS += $(UI_CFLAGS) -Iconsole
$(ASAN)/unit/test_ui_model: $(ASAN)/obj/tests/unit/test_ui_model.o \
    $(call obj,$(ASAN),$(UI_MODEL_SRC) $(SHARED_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(UI_LIBS) $(CMOCKA_LIBS) $(LDFLAGS)

$(ASAN)/unit/%: $(ASAN)/obj/tests/unit/%.o \
    $(call obj,$(ASAN),$(DAEMON_SRC) $(SHARED_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS) $(LDFLAGS)

UNIT_BINS = $(patsubst tests/unit/%.c,$(ASAN)/unit/%,$(UNIT_SRC))

# --- targets -------------------------------------------------------------
deps:
	@sh tests/tools/deps.sh

build-test: $(ASAN)/moatd $(ASAN)/moatctl $(MOAT_ASAN) $(UNIT_BINS) \
    $(REL)/bench-smtp

test: deps
	$(MAKE) build-test
	@sh tests/tools/run-tests.sh

unit: build-test
	@sh tests/tools/run-tests.sh unit

run: deps
	$(MAKE) all
	@sh tests/tools/run.sh

bench: deps
	$(MAKE) all
	@sh tests/bench/bench.sh $(BENCH_ARGS)

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/moat/rules.d $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(LOCALSTATEDIR)/lib/moat
	install -m 0755 $(REL)/moatd $(DESTDIR)$(SBINDIR)/moatd
	install -m 0755 $(REL)/moatctl $(DESTDIR)$(BINDIR)/moatctl
	[ ! -f $(REL)/moat ] || install -m 0755 $(REL)/moat $(DESTDIR)$(BINDIR)/moat
	[ -f $(DESTDIR)$(SYSCONFDIR)/moat/moat.conf ] || \
	    install -m 0640 etc/moat.conf $(DESTDIR)$(SYSCONFDIR)/moat/moat.conf
	cp -R rules.d/. $(DESTDIR)$(SYSCONFDIR)/moat/rules.d/
	sed -e 's|/usr/sbin/moatd|$(SBINDIR)/moatd|g' \
	    -e 's|/etc/moat/|$(SYSCONFDIR)/moat/|g' \
	    -e 's|/usr/share/doc/moat|$(PREFIX)/share/doc/moat|g' \
	    etc/moatd.service > $(DESTDIR)$(UNITDIR)/moatd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/moatd.service
	install -d $(DESTDIR)$(PREFIX)/share/doc/moat
	install -m 0644 README INSTALL $(DESTDIR)$(PREFIX)/share/doc/moat/
	install -m 0644 etc/moat.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/moat.conf 2>/dev/null || \
	    { install -d $(DESTDIR)$(PREFIX)/lib/sysusers.d && \
	      install -m 0644 etc/moat.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/moat.conf; }
	@if [ -z "$(DESTDIR)" ]; then SYSCONFDIR=$(SYSCONFDIR) \
	    LOCALSTATEDIR=$(LOCALSTATEDIR) sh etc/postinstall.sh; fi

clean:
	rm -rf build

.PHONY: all deps build-test test unit run bench install clean

-include $(shell find build -name '*.d' 2>/dev/null)
