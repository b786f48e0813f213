#!/usr/bin/env bash
# Builds the Debian package uplinkdns_VERSION_ARCH.deb from a built binary and its man pages (`make deb`):
#   scripts/deb.sh [--binary PATH] [--man-dir DIR] [--out-dir DIR]
# or the same through the environment: UPLINKDNS_BIN (default .build/release/uplinkdns), MAN_DIR (default
# .build/man, from `make man`; required: it must hold uplinkdns.1), OUT_DIR (default .build/deb).
# The version is what `uplinkdns --version` prints; contrib/debian/changelog must have an entry for it. The
# architecture is the host's (dpkg --print-architecture). Depends comes from dpkg-shlibdeps on the binary (the
# libraries it links: libldns, libzscanner, libc, libstdc++, libgcc) plus what the units and maintainer scripts run.
# What goes in:
#   /usr/bin/uplinkdns                              the binary, stripped
#   /lib/systemd/system/uplinkdns.service           contrib/systemd/ (the directory systemd.pc names)
#   /lib/systemd/system/uplinkdns-routing.service
#   /usr/lib/sysusers.d/uplinkdns.conf              contrib/systemd/uplinkdns-sysusers.conf
#   /etc/uplinkdns/uplinkdns.yaml                   contrib/debian/uplinkdns.yaml (conffile)
#   /etc/uplinkdns/zones/example.com.zone           zones/example.com.zone (conffile)
#   /usr/share/man/man1/*.1.gz                      every *.1 in the man directory
#   /usr/share/doc/uplinkdns/{copyright,changelog.gz}
# The maintainer scripts (contrib/debian/postinst, prerm, postrm) create the user and enable the server.
# Needs dpkg-deb and dpkg-shlibdeps (dpkg-dev), strip (binutils), gzip. Prints the path of the .deb last.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
binary="${UPLINKDNS_BIN:-$root/.build/release/uplinkdns}"
man_dir="${MAN_DIR:-$root/.build/man}"
out_dir="${OUT_DIR:-$root/.build/deb}"

die() {
    echo "deb.sh: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    --man-dir) man_dir="${2:?--man-dir needs a directory}"; shift 2 ;;
    --out-dir) out_dir="${2:?--out-dir needs a directory}"; shift 2 ;;
    -h | --help) sed -n '2,5p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done

for tool in dpkg-deb dpkg-shlibdeps dpkg strip gzip; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install dpkg-dev binutils gzip)"
done
[ -x "$binary" ] || die "no executable binary at $binary (make release, or --binary PATH)"
[ -f "$man_dir/uplinkdns.1" ] || die "no man page at $man_dir/uplinkdns.1 (make man, or --man-dir DIR)"

version="$("$binary" --version)" || die "$binary --version failed"
# A native package's version: no hyphen (that would start a Debian revision), nothing dpkg rejects.
[[ "$version" =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "'$version' (from $binary --version) is not a Debian version"
arch="$(dpkg --print-architecture)"
changelog_version="$(sed -n '1s/^uplinkdns (\([^)]*\)).*/\1/p' "$root/contrib/debian/changelog")"
[ "$changelog_version" = "$version" ] ||
    die "contrib/debian/changelog starts with version '$changelog_version', the binary is '$version': add an entry"
unit_dir="$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || true)"
unit_dir="${unit_dir:-/lib/systemd/system}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pkg="$work/uplinkdns"
umask 022

# Files, with the modes Debian expects (directories 0755, files 0644, programs 0755).
install -d "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg$unit_dir" "$pkg/usr/lib/sysusers.d" "$pkg/etc/uplinkdns/zones" \
    "$pkg/usr/share/man/man1" "$pkg/usr/share/doc/uplinkdns"
install -m 0755 "$binary" "$pkg/usr/bin/uplinkdns"
# As dh_strip does for a program: the symbol table and debug sections go (a Swift binary keeps its metadata).
strip --remove-section=.comment --remove-section=.note "$pkg/usr/bin/uplinkdns"
"$pkg/usr/bin/uplinkdns" --version >/dev/null || die "the stripped binary does not run"
install -m 0644 "$root/contrib/systemd/uplinkdns.service" "$root/contrib/systemd/uplinkdns-routing.service" \
    "$pkg$unit_dir/"
install -m 0644 "$root/contrib/systemd/uplinkdns-sysusers.conf" "$pkg/usr/lib/sysusers.d/uplinkdns.conf"
install -m 0644 "$root/contrib/debian/uplinkdns.yaml" "$pkg/etc/uplinkdns/uplinkdns.yaml"
install -m 0644 "$root/zones/example.com.zone" "$pkg/etc/uplinkdns/zones/example.com.zone"
pages=0
for page in "$man_dir"/*.1; do
    gz="$pkg/usr/share/man/man1/${page##*/}.gz"
    gzip -9n <"$page" >"$gz"
    chmod 0644 "$gz"
    pages=$((pages + 1))
done
install -m 0644 "$root/contrib/debian/copyright" "$pkg/usr/share/doc/uplinkdns/copyright"
gzip -9n <"$root/contrib/debian/changelog" >"$pkg/usr/share/doc/uplinkdns/changelog.gz"
chmod 0644 "$pkg/usr/share/doc/uplinkdns/changelog.gz"
if [ -f "$root/contrib/debian/lintian-overrides" ]; then
    install -D -m 0644 "$root/contrib/debian/lintian-overrides" "$pkg/usr/share/lintian/overrides/uplinkdns"
fi

# Depends: the shared libraries' packages, as dpkg-shlibdeps reads them from their shlibs/symbols files. It needs
# a debian/control to run in; its warnings (a library without package information) are checked below instead.
mkdir -p "$work/src/debian"
printf 'Source: uplinkdns\n\nPackage: uplinkdns\nArchitecture: any\n' >"$work/src/debian/control"
if ! shlibs="$(cd "$work/src" && dpkg-shlibdeps -O --ignore-missing-info "$pkg/usr/bin/uplinkdns" 2>"$work/shlibdeps.log")"; then
    cat "$work/shlibdeps.log" >&2
    die "dpkg-shlibdeps failed"
fi
shlibs="${shlibs#shlibs:Depends=}"
[ -n "$shlibs" ] || die "dpkg-shlibdeps found no library dependencies"
# The units run ip and sysctl (routing --apply), the postinst systemd-sysusers.
depends="$shlibs, iproute2, procps, systemd | systemd-standalone-sysusers | systemd-sysusers"

# A library no Debian package owns (the Swift runtime from a toolchain in /opt) makes a package that runs only
# where that toolchain is: said here, not refused (the binary is packaged as given).
unowned=()
while read -r lib path _; do
    [ -n "$path" ] || continue
    owned=""
    for candidate in "$path" "$(readlink -f "$path")"; do
        for p in "$candidate" "/usr${candidate#/usr}" "${candidate#/usr}"; do
            if dpkg -S "$p" >/dev/null 2>&1; then owned=1; fi
        done
    done
    [ -n "$owned" ] || unowned+=("$lib ($path)")
done < <(ldd "$binary" | sed -n 's/^[[:space:]]*\([^ ]*\) => \(\/[^ ]*\) .*/\1 \2/p')
if [ ${#unowned[@]} -gt 0 ]; then
    {
        echo "deb.sh: WARNING: $binary links ${#unowned[@]} libraries no Debian package provides:"
        printf '    %s\n' "${unowned[@]}"
        echo "  The package will only run where they are at the same paths. Build with the Swift runtime linked in:"
        echo "    swift build -c release --static-swift-stdlib"
    } >&2
fi

installed_size="$(du -s -k --exclude=DEBIAN "$pkg" | cut -f1)"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$installed_size/" \
    -e "s/@DEPENDS@/$depends/" "$root/contrib/debian/control" >"$pkg/DEBIAN/control"
install -m 0644 "$root/contrib/debian/conffiles" "$pkg/DEBIAN/conffiles"
install -m 0755 "$root/contrib/debian/postinst" "$root/contrib/debian/prerm" "$root/contrib/debian/postrm" \
    "$pkg/DEBIAN/"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
    >"$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/md5sums"

mkdir -p "$out_dir"
deb="$out_dir/uplinkdns_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$pkg" "$deb" >/dev/null
echo "deb.sh: version $version, $arch, $pages man page(s), Depends: $depends" >&2
echo "$deb"
