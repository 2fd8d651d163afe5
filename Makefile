# SPDX-License-Identifier: GPL-2.0
#
#   make            module for the running kernel (KDIR=...), library, tools
#   make check      everything: unit tests, then the VM tests on both vendors
#                   (installs deps)
#   make check-debug  the AMD VM tests on a lockdep+KASAN build of Debian's 6.1
#                   (built once, cached; not part of make check)
#   make demo       boots the test VM and introspects a guest (installs deps)
#   make vmtest     the VM tests on one vendor
#   make vmtest-linux  the tests against Debian's QEMU running a Linux guest,
#                   LibVMI's among them (contrib/libvmi, built once, cached)
#   make libvmi     LibVMI with its KVM driver on vmiop, in LIBVMI_DIR/prefix
#   make bench      vmiop's event path vs KVM's own exits, as ratios
#   VENDOR=amd      (default) the VM is QEMU TCG with nested SVM
#   VENDOR=intel    the VM is Bochs with nested VMX (EPT, MTF, #VE)
#   make install    library, tools, man pages, udev rule (DESTDIR, PREFIX)
#   make deb        Debian packages in build/deb (dpkg-buildpackage, lintian)
#   make deps       the Debian packages the above need

# One version for the module, the library, the tools and the packages.
VERSION := $(shell cat VERSION)
SOVERSION := 0
PREFIX ?= /usr/local
KDIR ?= /lib/modules/$(shell uname -r)/build
VENDOR ?= amd
B := build
LIBVMI_DIR ?= $(HOME)/.cache/vmiop-vm/libvmi

CC ?= cc
WARN := -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
USER_CFLAGS := -std=gnu11 $(WARN) -Iuapi -Ilibvmiop -Iselftests/include -Iselftests/lib \
	       -DVMIOP_VERSION='"$(VERSION)"'

LIB_SRC := libvmiop/libvmiop.c libvmiop/agent.c libvmiop/vmlist.c
LIB_HDR := libvmiop/libvmiop.h libvmiop/agent_plan.h uapi/linux/vmiop.h
# The #VE agent's image is part of the library (vmiop_agent_install()).
LIB_OBJ := $(B)/lib/libvmiop.o $(B)/lib/agent.o $(B)/lib/vmlist.o $(B)/ve-agent/agent_blob.o

# The VMs by name (libvmiop/vmlist.c) talk to the module's generic netlink
# family with libnl-genl-3 (libnl-3-dev, libnl-genl-3-dev): only that file
# sees libnl's headers, libvmiop.so needs its libraries, and every static
# link of libvmiop.a appends NL_STATIC_LIBS.  Those static links print three
# linker warnings from libnl-3.a (getaddrinfo, getprotobyname,
# getprotobynumber "require at runtime the shared libraries from the glibc
# version used for linking"): expected noise, vmiop never calls them, and GNU
# ld has no switch to silence .gnu.warning sections.
NL_CFLAGS := $(shell pkg-config --cflags libnl-genl-3.0)
NL_LIBS := $(shell pkg-config --libs libnl-genl-3.0)
NL_STATIC_LIBS := $(shell pkg-config --static --libs libnl-genl-3.0)

.PHONY: all module lib tools selftests check check-debug unit vmtest vmtest-linux libvmi demo bench \
	deps clean install install-lib install-tools install-man install-dkms deb vmtest-packaged style

all: module lib tools

# The module needs the kernel's build tree; without one the userspace parts
# still build.
module:
	@if [ -d "$(KDIR)" ]; then \
		$(MAKE) -C "$(KDIR)" M="$(CURDIR)" modules; \
	else \
		echo "vmiop: no kernel build tree at $(KDIR) (install linux-headers-$$(uname -r) or set KDIR); skipping the module"; \
	fi

lib: $(B)/libvmiop.a $(B)/libvmiop.so.$(VERSION)

$(B)/lib/%.o: libvmiop/%.c $(LIB_HDR) libvmiop/agent_plan.h ve-agent/agent.h uapi/linux/vmiop_ve.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(USER_CFLAGS) -Ive-agent -fPIC -fvisibility=default -c -o $@ $<

$(B)/lib/vmlist.o: libvmiop/vmlist.c libvmiop/vmlist.h $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(USER_CFLAGS) $(NL_CFLAGS) -fPIC -fvisibility=default -c -o $@ $<

$(B)/libvmiop.a: $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

# The shared library's libvmiop.o also has the old ABI's versioned symbols.
LIB_SO_OBJ := $(B)/lib/libvmiop-shared.o $(filter-out $(B)/lib/libvmiop.o,$(LIB_OBJ))

$(B)/lib/libvmiop-shared.o: libvmiop/libvmiop.c $(LIB_HDR) ve-agent/agent.h uapi/linux/vmiop_ve.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(USER_CFLAGS) -Ive-agent -DLIBVMIOP_SHARED -fPIC -fvisibility=default \
		-c -o $@ $<

$(B)/libvmiop.so.$(VERSION): $(LIB_SO_OBJ) libvmiop/libvmiop.map
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libvmiop.so.$(SOVERSION) \
		-Wl,--version-script=libvmiop/libvmiop.map -o $@ $(LIB_SO_OBJ) $(NL_LIBS)
	ln -sf libvmiop.so.$(VERSION) $(B)/libvmiop.so.$(SOVERSION)
	ln -sf libvmiop.so.$(SOVERSION) $(B)/libvmiop.so

# Tools and tests are static so that the test VM's initramfs needs no libc.
STATIC := -static -no-pie
GUEST_SRC := selftests/lib/guest.c
GUEST_HDR := selftests/lib/guest.h selftests/include/vmtest.h

tools: $(B)/vmiop $(B)/vmiop-demo

# The guest-OS layer (osi/): Linux from its own BTF and kallsyms, on top of
# libvmiop, for the tools; the page walker is the module's own.
OSI_SRC := osi/vmem.c osi/linux.c osi/btf.c osi/kallsyms.c kmod/pgwalk.c
OSI_HDR := osi/vmem.h osi/linux.h osi/btf.h osi/kallsyms.h kmod/pgwalk.h
OSI_OBJ := $(patsubst %.c,$(B)/osi-obj/%.o,$(notdir $(OSI_SRC)))
OSI_CFLAGS := -Iosi -Ikmod

$(B)/osi-obj/%.o: osi/%.c $(OSI_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(USER_CFLAGS) $(OSI_CFLAGS) -c -o $@ $<

$(B)/osi-obj/pgwalk.o: kmod/pgwalk.c kmod/pgwalk.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(USER_CFLAGS) $(OSI_CFLAGS) -c -o $@ $<

$(B)/libvmiop-osi.a: $(OSI_OBJ)
	$(AR) rcs $@ $^

# The tools are static, as the test VM needs them; a distribution links them
# as it links everything: make TOOLS_LINK=dynamic (against libvmiop.so).
ifeq ($(TOOLS_LINK),dynamic)
TOOL_LINK := $(LDFLAGS)
TOOL_LIBVMIOP := $(B)/libvmiop.so.$(VERSION)
TOOL_LIBS := -L$(B) -lvmiop $(NL_LIBS)
else
TOOL_LINK := $(STATIC)
TOOL_LIBVMIOP := $(B)/libvmiop.a
TOOL_LIBS := $(B)/libvmiop.a $(NL_STATIC_LIBS)
endif

$(B)/vmiop: tools/vmiop.c $(TOOL_LIBVMIOP) $(B)/libvmiop-osi.a $(LIB_HDR) $(OSI_HDR)
	$(CC) $(CFLAGS) $(USER_CFLAGS) $(OSI_CFLAGS) $(TOOL_LINK) -o $@ $< $(B)/libvmiop-osi.a \
		$(TOOL_LIBS)

$(B)/vmiop-demo: tools/demo.c $(GUEST_SRC) $(GUEST_HDR) $(TOOL_LIBVMIOP) $(LIB_HDR)
	$(CC) $(CFLAGS) $(USER_CFLAGS) $(TOOL_LINK) -o $@ $< $(GUEST_SRC) $(TOOL_LIBS) -lpthread

SELFTESTS := $(patsubst selftests/vmiop/%.c,$(B)/selftests/%,$(wildcard selftests/vmiop/*.c))

selftests: $(SELFTESTS)

$(B)/selftests/%: selftests/vmiop/%.c $(GUEST_SRC) $(GUEST_HDR) $(B)/libvmiop.a $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(USER_CFLAGS) $(STATIC) -o $@ $< $(GUEST_SRC) $(B)/libvmiop.a \
		$(NL_STATIC_LIBS) -lpthread

# One program per event class (events_CLASS.c), and the nested-guest one,
# each with the shared fixture.
EVENT_SRC := selftests/lib/event_fixture.c
EVENT_HDR := selftests/vmiop/event_fixture.h selftests/vmiop/vmiop_test.h

EVENT_DEPS := $(EVENT_SRC) $(EVENT_HDR) $(GUEST_SRC) $(GUEST_HDR) $(B)/libvmiop.a $(LIB_HDR)
EVENT_LINK = @mkdir -p $(dir $@); \
	$(CC) $(CFLAGS) $(USER_CFLAGS) -Iselftests/vmiop $(STATIC) -o $@ $< $(EVENT_SRC) \
		$(GUEST_SRC) $(B)/libvmiop.a $(NL_STATIC_LIBS) -lpthread

$(B)/selftests/events_%: selftests/vmiop/events_%.c $(EVENT_DEPS)
	$(EVENT_LINK)

$(B)/selftests/nested: selftests/vmiop/nested.c $(EVENT_DEPS)
	$(EVENT_LINK)

# The #VE agent image, and the #VE tests that install it into their guests.
VE_AGENT_SRC := $(wildcard ve-agent/*.c ve-agent/*.h) ve-agent/entry.S ve-agent/agent.lds \
	ve-agent/Makefile uapi/linux/vmiop_ve.h

$(B)/ve-agent/agent_blob.o: $(VE_AGENT_SRC)
	$(MAKE) -C ve-agent O=$(abspath $(B)/ve-agent)

$(B)/selftests/events_ve: selftests/vmiop/events_ve.c $(EVENT_DEPS) $(B)/ve-agent/agent_blob.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(USER_CFLAGS) -Iselftests/vmiop -Ive-agent $(STATIC) -o $@ $< \
		$(EVENT_SRC) $(GUEST_SRC) $(B)/libvmiop.a $(NL_STATIC_LIBS) -lpthread

# The CLI tests (cli, and vms_lib's commands about VMs) run the tool's own
# main(), renamed.
$(B)/obj/cli-tool.o: tools/vmiop.c $(LIB_HDR) $(OSI_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(USER_CFLAGS) $(OSI_CFLAGS) -Dmain=vmiop_cli_main -c -o $@ $<

$(B)/selftests/cli $(B)/selftests/vms_lib: $(B)/selftests/%: selftests/vmiop/%.c \
		$(B)/obj/cli-tool.o $(GUEST_SRC) $(GUEST_HDR) $(B)/libvmiop.a $(B)/libvmiop-osi.a \
		$(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(USER_CFLAGS) $(STATIC) -o $@ $< $(B)/obj/cli-tool.o $(GUEST_SRC) \
		$(B)/libvmiop-osi.a $(B)/libvmiop.a $(NL_STATIC_LIBS) -lpthread

# Against Debian's QEMU and a Linux guest inside the test VM (run.sh
# --linux-guest): a separate program, in its own VM run.
$(B)/selftests-linux/linux_guest: selftests/linux/linux_guest.c tools/vmiop.c $(GUEST_SRC) \
		$(GUEST_HDR) $(B)/libvmiop.a $(B)/libvmiop-osi.a $(LIB_HDR) $(OSI_HDR)
	@mkdir -p $(dir $@) $(B)/obj
	$(CC) $(CFLAGS) $(USER_CFLAGS) $(OSI_CFLAGS) -Dmain=vmiop_cli_main -c -o $(B)/obj/lg-tool.o \
		tools/vmiop.c
	$(CC) $(CFLAGS) $(USER_CFLAGS) -Iselftests/vmiop $(STATIC) -o $@ $< $(B)/obj/lg-tool.o \
		$(GUEST_SRC) $(B)/libvmiop-osi.a $(B)/libvmiop.a $(NL_STATIC_LIBS) -lpthread

selftests: $(B)/selftests-linux/linux_guest

$(B)/vmiop-bench: bench/bench.c $(GUEST_SRC) $(GUEST_HDR) $(B)/libvmiop.a $(LIB_HDR) \
		selftests/vmiop/ve_install.h $(B)/ve-agent/agent_blob.o
	$(CC) $(CFLAGS) $(USER_CFLAGS) -Iselftests/vmiop -Ive-agent $(STATIC) -o $@ $< $(GUEST_SRC) \
		$(B)/libvmiop.a $(NL_STATIC_LIBS) -lpthread

# Figures, not tests: ratios against KVM's own exits, in the test VM.
bench: deps lib $(B)/vmiop-bench
	VMIOP_VM_VENDOR=$(VENDOR) VMTEST_ARGS="--demo $${VMTEST_ARGS:-}" \
		scripts/vmtest.sh $(B)/vmiop-bench

deps:
	scripts/install-deps.sh

unit:
	$(MAKE) -C selftests/unit check

# The VM tests build the module against the kernel the VM boots, not the
# host's.
vmtest: lib tools selftests
	$(MAKE) -s -C selftests/vm smoke
	VMIOP_VM_VENDOR=$(VENDOR) scripts/vmtest.sh selftests/vm/smoke $(SELFTESTS)

# Debian's QEMU running a Linux guest inside the test VM (one test-VM CPU:
# selftests/vm/README.md, "Linux guest").
libvmi: lib
	contrib/libvmi/build.sh "$(LIBVMI_DIR)"

# The packages (make deb) installed on this machine with apt-get (root),
# then the test VM with the vmiop.ko their DKMS built for its kernel and
# the installed tool; purged at the end (scripts/vmtest-packaged.sh).
$(B)/selftests-packaged/%: selftests/packaged/%.c $(GUEST_SRC) $(GUEST_HDR) $(B)/libvmiop.a \
		$(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(USER_CFLAGS) -Iselftests/vmiop $(STATIC) -o $@ $< $(GUEST_SRC) \
		$(B)/libvmiop.a $(NL_STATIC_LIBS) -lpthread

vmtest-packaged: lib tools selftests deb $(B)/selftests-packaged/installed_cli
	VMIOP_VM_VENDOR=$(VENDOR) scripts/vmtest-packaged.sh \
		$(B)/selftests-packaged/installed_cli $(B)/selftests/attach $(B)/selftests/vms_lib \
		$(B)/selftests/cli

vmtest-linux: lib tools selftests libvmi
	VMIOP_VM_VENDOR=$(VENDOR) \
	VMTEST_ARGS="--linux-guest --libvmi $(LIBVMI_DIR)/prefix $${VMTEST_ARGS:-}" \
		scripts/vmtest.sh $(B)/selftests-linux/linux_guest

check:
	scripts/check.sh

# vmtest's suite (AMD) on Debian's 6.1 built with lockdep, KASAN and
# DEBUG_ATOMIC_SLEEP (scripts/debug-kernel.sh: built once into the rig's
# cache), vmiop.ko built against that kernel: any report fails it.
check-debug: lib tools selftests
	$(MAKE) -s -C selftests/vm smoke
	scripts/check-debug.sh selftests/vm/smoke $(SELFTESTS)

demo: deps
	VMIOP_VM_VENDOR=$(VENDOR) scripts/demo.sh

# Kernel coding style of the module and the uapi, with the checkpatch.pl of
# Debian's linux-source package (apt-get install linux-source-6.1).
CHECKPATCH_SRC := $(firstword $(wildcard /usr/src/linux-source-*.tar.xz))
style:
	@test -n "$(CHECKPATCH_SRC)" || { echo "style: needs a linux-source package in /usr/src"; exit 1; }
	@mkdir -p $(B)/checkpatch
	@tar -xJf $(CHECKPATCH_SRC) -C $(B)/checkpatch --strip-components=1 --wildcards \
		'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch'
	$(B)/checkpatch/scripts/checkpatch.pl --no-tree --terse --ignore SPDX_LICENSE_TAG \
		--file kmod/*.c kmod/*.h uapi/linux/vmiop.h

# make install [DESTDIR=...] [PREFIX=/usr/local]: the library (static,
# shared, headers, vmiop.pc), the tools, the manual pages, the udev rule,
# and the boot-time load file as an example.  make install-dkms: the
# module's sources where DKMS takes them (/usr/src/vmiop-VERSION).
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
UDEVRULESDIR ?= $(PREFIX)/lib/udev/rules.d

install: install-lib install-tools install-man

install-lib: lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/linux
	install -m 644 $(B)/libvmiop.a $(DESTDIR)$(LIBDIR)/
	install -m 644 $(B)/libvmiop.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libvmiop.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libvmiop.so.$(SOVERSION)
	ln -sf libvmiop.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libvmiop.so
	install -m 644 libvmiop/libvmiop.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 uapi/linux/vmiop.h uapi/linux/vmiop_ve.h $(DESTDIR)$(INCLUDEDIR)/linux/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		libvmiop/vmiop.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/vmiop.pc

install-tools: tools
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UDEVRULESDIR) $(DESTDIR)$(DATADIR)/vmiop
	install -m 755 $(B)/vmiop $(B)/vmiop-demo $(DESTDIR)$(BINDIR)/
	install -m 644 dist/60-vmiop.rules $(DESTDIR)$(UDEVRULESDIR)/
	install -m 644 dist/modules-load.conf $(DESTDIR)$(DATADIR)/vmiop/modules-load.d-vmiop.conf
	install -d $(DESTDIR)$(DATADIR)/bash-completion/completions
	install -m 644 dist/vmiop.bash-completion $(DESTDIR)$(DATADIR)/bash-completion/completions/vmiop

install-man:
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man4
	install -m 644 man/vmiop.1 man/vmiop-demo.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/libvmiop.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 644 man/vmiop.4 $(DESTDIR)$(MANDIR)/man4/

# What DKMS builds the module from: Kbuild, VERSION, the sources, the ABI.
DKMS_SRC := Kbuild VERSION $(wildcard kmod/*.c kmod/*.h) uapi/linux/vmiop.h \
	    uapi/linux/vmiop_ve.h
install-dkms:
	install -d $(DESTDIR)/usr/src/vmiop-$(VERSION)
	tar -cf - $(DKMS_SRC) | tar -xf - -C $(DESTDIR)/usr/src/vmiop-$(VERSION)
	sed -e 's|@VERSION@|$(VERSION)|' dist/dkms.conf.in > $(DESTDIR)/usr/src/vmiop-$(VERSION)/dkms.conf

# Debian packages (vmiop-dkms, libvmiop0, libvmiop-dev, vmiop) with Debian's
# tooling, built in a copy of the tree's tracked files (git ls-files): the
# .debs land in $(B)/deb.  The package version is debian/changelog's, which
# must be VERSION (debian/rules checks too).
deb:
	@v=$$(dpkg-parsechangelog -S Version); [ "$$v" = "$(VERSION)" ] || \
		{ echo "deb: debian/changelog is at $$v, VERSION at $(VERSION)"; exit 1; }
	@git rev-parse --git-dir >/dev/null 2>&1 || { echo "deb: needs a git checkout"; exit 1; }
	rm -rf $(B)/deb && mkdir -p $(B)/deb/vmiop-$(VERSION)
	git ls-files -z >$(B)/deb/files
	tar --null -T $(B)/deb/files -cf - | tar -xf - -C $(B)/deb/vmiop-$(VERSION)
	cd $(B)/deb/vmiop-$(VERSION) && dpkg-buildpackage -us -uc
	lintian --fail-on error,warning $(B)/deb/*.changes

clean:
	rm -rf $(B)
	@if [ -d "$(KDIR)" ]; then $(MAKE) -C "$(KDIR)" M="$(CURDIR)" clean; fi
	$(MAKE) -C selftests/unit clean
