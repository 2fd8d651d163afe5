#!/bin/sh
# Builds the Bochs the Intel VM rig runs and prints its path: 3.0, from
# Debian trixie's source package (checked against its SHA-256), because
# Debian 12's 2.7 never raises monitor-trap-flag VM exits.  Built once
# (2-3 minutes on 2 cores) into the rig's cache.  See selftests/vm/README.md.
#
# The source comes through apt-get source, from the Debian mirror this
# machine's own apt configuration names, with trixie's deb-src added in a
# private apt state directory: nothing on the system changes, and no
# mirror is named here.
set -eu
ver=3.0
pkgver=3.0+dfsg-1
tarball=bochs_3.0+dfsg.orig.tar.xz
sha256=78f6c73d4a6472d5130a87ab9dc306d02c7c71ed8e25b3a8ef642e2a7acd282b
cache=${XDG_CACHE_HOME:-$HOME/.cache}/vmiop-vm
out=$cache/bochs-$ver-$(echo "$sha256" | cut -c1-12)

if [ -x "$out/bochs" ]; then
	echo "$out/bochs"
	exit 0
fi
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/bochs-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# The first URI of the machine's sources that serves Debian's main archive
# (one-line or deb822 format).
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
	awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }')
if [ -z "$mirror" ]; then
	mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }')
fi
if [ -z "$mirror" ]; then
	echo "build-bochs: no Debian mirror in this machine's apt sources" >&2
	exit 1
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
apt_dir=$tmp/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/sources.d"
printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' \
	"$mirror" "$keyring" >"$apt_dir/sources.d/trixie-src.sources"
apt_private() {
	apt-get -q -o Dir::Etc::SourceList=/dev/null \
		-o Dir::Etc::SourceParts="$apt_dir/sources.d" \
		-o Dir::State::Lists="$apt_dir/lists" \
		-o Dir::Cache::Archives="$apt_dir/archives" \
		-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
		-o APT::Sandbox::User=root "$@"
}
echo "build-bochs: apt-get source bochs=$pkgver (trixie, from $mirror)" >&2
# Only the upstream tarball is needed, and its checksum below is what is
# trusted: a mirror that lacks the .dsc (some proxies do) makes apt-get
# report failure after the tarball arrived.
(apt_private update && cd "$tmp" && apt_private source --download-only "bochs=$pkgver") \
	>"$tmp/fetch.log" 2>&1 || true
if [ ! -s "$tmp/$tarball" ]; then
	tail -n 20 "$tmp/fetch.log" >&2
	echo "build-bochs: apt-get source did not bring $tarball" >&2
	exit 1
fi
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
