#!/bin/sh
# Builds the Bochs the Intel VM rig runs and prints its path: 3.0, from
# Debian trixie's source package (checked against its SHA-256), because
# Debian 12's 2.7 never raises monitor-trap-flag VM exits.  Built once
# (2-3 minutes on 2 cores) into the rig's cache.  See selftests/vm/README.md.
set -eu
ver=3.0
tarball=bochs_3.0+dfsg.orig.tar.xz
sha256=78f6c73d4a6472d5130a87ab9dc306d02c7c71ed8e25b3a8ef642e2a7acd282b
url=http://deb.debian.org/debian/pool/main/b/bochs/$tarball
cache=${XDG_CACHE_HOME:-$HOME/.cache}/vmiop-vm
out=$cache/bochs-$ver-$(echo "$sha256" | cut -c1-12)

if [ -x "$out/bochs" ]; then
	echo "$out/bochs"
	exit 0
fi
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/bochs-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "build-bochs: fetching $url" >&2
curl -fsS --retry 3 -o "$tmp/$tarball" "$url"
echo "$sha256  $tmp/$tarball" | sha256sum -c --quiet - >&2
tar -C "$tmp" -xf "$tmp/$tarball"
src=$(find "$tmp" -maxdepth 2 -name configure -path "*bochs*" | head -n1)
src=$(dirname "$src")
echo "build-bochs: building Bochs $ver in $src" >&2
# What the rig's bochsrc uses: VMX with EPT, two CPUs, the rfb display
# (no X), the dummy sound driver, the compiled-in debugger it tells to go.
if ! (cd "$src" &&
	./configure --with-nogui --with-rfb --enable-x86-64 --enable-cpu-level=6 \
		--enable-vmx=2 --enable-svm --enable-smp --enable-all-optimizations \
		--enable-avx --enable-evex --enable-pci --enable-cdrom --enable-a20-pin \
		--enable-fpu --enable-cet --enable-protection-keys --enable-memtype \
		--enable-sb16 --enable-debugger --disable-plugins --disable-readline &&
	make -j"$(nproc)") >"$tmp/build.log" 2>&1; then
	tail -n 30 "$tmp/build.log" >&2
	echo "build-bochs: build failed" >&2
	exit 1
fi
mkdir -p "$out.new"
cp "$src/bochs" "$out.new/bochs"
rm -rf "$out"
mv "$out.new" "$out"
echo "$out/bochs"
