# Nabla: the user's entry points. Logic lives in the crates and scripts;
# this file only sequences them.
#
#   make          build the tender, the tools and the test guests
#   make run      boot Linux from build/rootfs.ext4 into a shell
#   make test     build everything and run every test
#   make bench    measure (see README for the figures)

CARGO ?= cargo
GUEST_NAMES := hello fixed exit abort quiet time globals tls fpu exception hostcall badabi trap \
	blk maxdev console net net2 blkbench trapbench clockbench initrd compat refault busytick fsread
GUESTS := $(addprefix target/guests/,$(GUEST_NAMES))
TENDER := target/release/nabla-tender
KERNEL := build/linux.nabla
PLATFORM_UML := target/platform-uml/release/libnabla_platform.a
# The tender is linked statically (static-pie): no dynamic loader at
# start-up, which is a third of its exec-to-exit time. RUSTFLAGS with an
# explicit --target applies to the tender only, not to build scripts and
# proc-macros. The binaries are then copied to target/release/.
TRIPLE := x86_64-unknown-linux-gnu
STATIC_DIR := target/$(TRIPLE)/release

C_GUEST_NAMES := hello blk tls ssp names
C_GUESTS := $(addprefix target/guests/c-,$(C_GUEST_NAMES))

.PHONY: all tender guests c-guests run test lint unit integration bench setup clean kernel-source kernel initramfs busybox image programs nabla-init oci-image

all: tender guests c-guests

setup:
	@scripts/setup.sh </dev/null

tender: setup
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --target $(TRIPLE) -p nabla-tender -p nabla-runtime --bins
	@mkdir -p target/release
	cp --remove-destination $(STATIC_DIR)/nabla-tender $(STATIC_DIR)/nabla-elftool $(STATIC_DIR)/nabla-runtime target/release/
	$(CARGO) build --release -p nabla-tests --bins

guests: setup
	$(CARGO) build --release --manifest-path tests/guests/Cargo.toml --target-dir target/guests-build
	@mkdir -p target/guests
	@for g in $(GUEST_NAMES); do cp target/guests-build/release/$$g target/guests/$$g; done

# The Solo5 C API as a static library (one object exporting only the Solo5
# API), and the C test guests built with it by the README's recipe.
c-guests: tender
	CARGO=$(CARGO) scripts/build-solo5-lib.sh
	@mkdir -p target/guests
	@for g in $(C_GUEST_NAMES); do \
		scripts/build-c-guest.sh tests/guests-c/$$g.c tests/guests-c/$$g.json target/guests/c-$$g || exit 1; \
	done

# The test init (tests/init/init.c, static-pie against musl) and its
# initramfs, built into target/init/ with the nabla-cpio packer.
initramfs: tender
	scripts/build-init.sh target/init </dev/null

# The container guest's init (userland/init/nabla-init.c, static-pie
# against musl), installed next to nabla-runtime as target/release/nabla-init.
nabla-init: setup
	scripts/build-nabla-init.sh target/release/nabla-init </dev/null

# The guest userland: busybox from Debian's source (no MMU, musl
# static-pie, hush as /bin/sh), musl's dynamic loader from Debian's source
# (with its no-MMU fallback), and the root disk build/rootfs.ext4 made
# from them and userland/rootfs with mke2fs -d (reproducible, no root).
busybox: setup
	scripts/build-busybox.sh build/busybox </dev/null

image: busybox
	scripts/build-musl.sh build/musl </dev/null
	scripts/build-image.sh build/busybox/busybox build/musl/ld-musl-x86_64.so.1 build/rootfs.ext4 </dev/null

# The containers' test image (tests/tests/containers.rs, make bench): an
# OCI image archive, docker.io/nabla/test:latest, of our busybox and the
# programs in tests/containers/, reproducible and cached.
oci-image: busybox
	scripts/build-oci-image.sh build/oci-image.tar </dev/null

# Debian 12's own programs (glibc, unmodified) for tests/linux_programs.rs:
# fetched with apt-get download, unpacked under build/programs/root and
# imaged as build/programs.ext4 (cached: nothing to do when up to date).
programs: setup
	scripts/build-programs.sh build/programs.ext4 </dev/null

# Boot Linux from build/rootfs.ext4 into a shell on the console: on a
# terminal an interactive login shell (Ctrl-D or poweroff ends the guest),
# else the shell reads commands from standard input until it ends. (The
# set-up steps read nothing from stdin: `echo CMDS | make run` keeps CMDS
# for the guest.)
run: tender kernel image
	@$(TENDER) --mem=128 --block build/rootfs.ext4 $(KERNEL) -- quiet

lint: setup
	$(CARGO) fmt --all --check
	$(CARGO) fmt --manifest-path tests/guests/Cargo.toml --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
	$(CARGO) clippy --release -p nabla-platform --features solo5 -- -D warnings
	$(CARGO) clippy --release -p nabla-platform --features uml --target-dir target/platform-uml -- -D warnings
	$(CARGO) clippy --release --manifest-path tests/guests/Cargo.toml --target-dir target/guests-build -- -D warnings

unit: setup
	$(CARGO) test --release --workspace --exclude nabla-tests

# Every Linux test again with the guest's syscalls all on the trap path
# (--no-syscall-rewrite): the path that always serves must stay correct.
integration: all kernel initramfs image programs nabla-init oci-image
	$(CARGO) test --release -p nabla-tests
	NABLA_TEST_NO_REWRITE=1 $(CARGO) test --release -p nabla-tests --test 'linux*'

test: lint unit integration

bench: all kernel initramfs image programs nabla-init oci-image
	scripts/bench.sh

# Debian's linux-source-6.12, fetched and extracted once under build/.
kernel-source:
	scripts/kernel-source.sh

# The Linux guest (build/linux.nabla): the platform library with the UML
# host operations, then the kernel from the patch series and
# kernel-patches/nabla.config, built out of tree in build/linux.
kernel: setup
	$(CARGO) rustc --release -p nabla-platform --features uml --crate-type staticlib --target-dir target/platform-uml
	scripts/kernel.sh $(PLATFORM_UML) </dev/null
	@mkdir -p target/release
	cp --remove-destination $(KERNEL) target/release/linux.nabla

clean:
	$(CARGO) clean
