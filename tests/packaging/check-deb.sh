#!/usr/bin/env bash
# Checks a package scripts/deb.sh built (PackagingTests runs it):
#   tests/packaging/check-deb.sh .build/deb/uplinkdns_VERSION_ARCH.deb
#   1. the control fields (dpkg-deb -I / -f) and the file name uplinkdns_VERSION_ARCH.deb;
#   2. the contents (dpkg-deb -c): the binary (stripped), both units, the sysusers file, the man page, the example
#      config and zone as conffiles, copyright and changelog, all root-owned, the units as in contrib/systemd;
#   3. lintian: no error and no warning; overrides only in contrib/debian/lintian-overrides, each with a comment
#      saying why (lintian is installed with apt when missing);
#   4. an installation into a scratch root with the real dpkg and the real maintainer scripts:
#      `dpkg --root=DIR --force-script-chrootless` runs postinst/prerm/postrm outside a chroot with DPKG_ROOT=DIR,
#      which they honour (systemd-sysusers --root, deb-systemd-helper; systemctl is skipped). Then: the user exists,
#      the server is enabled and the routing unit is not, the installed binary accepts the installed config, an
#      edited conffile survives a reinstall, remove keeps the conffiles, purge leaves nothing but the user.
#      --force-depends: the scratch root has no other packages (the Depends are checked in 1).
# The machine itself must not change: its passwd/group/shadow files, dpkg database, systemd enablement and /usr/bin
# are compared before and after, and any difference fails.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
deb="${1:?usage: check-deb.sh PATH/uplinkdns_VERSION_ARCH.deb}"

fail() {
    echo "check-deb.sh: FAIL: $*" >&2
    exit 1
}
ok() { echo "ok: $*"; }

[ -f "$deb" ] || fail "$deb does not exist"
deb="$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")"
for tool in dpkg dpkg-deb; do command -v "$tool" >/dev/null || fail "$tool is missing"; done

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# What must not change on this machine.
host_state() {
    {
        for f in /etc/passwd /etc/group /etc/shadow /etc/gshadow /var/lib/dpkg/status; do
            if [ -r "$f" ]; then md5sum "$f"; elif [ -e "$f" ]; then stat -c '%n %s %Y %Z' "$f"; else echo "absent $f"; fi
        done
        find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
            /etc/uplinkdns /var/lib/uplinkdns -maxdepth 3 2>/dev/null | LC_ALL=C sort
        ls -l /usr/bin/uplinkdns /lib/systemd/system/uplinkdns.service /usr/lib/sysusers.d/uplinkdns.conf 2>&1 || true
    } | md5sum
}
host_before="$(host_state)"

# 1. Control fields and the file name.
version="$(dpkg-deb -f "$deb" Version)"
arch="$(dpkg-deb -f "$deb" Architecture)"
dpkg-deb -I "$deb" >"$scratch/info" || fail "dpkg-deb -I cannot read $deb"
[ "$(basename "$deb")" = "uplinkdns_${version}_${arch}.deb" ] ||
    fail "file name $(basename "$deb") is not uplinkdns_${version}_${arch}.deb"
[ "$(dpkg-deb -f "$deb" Package)" = uplinkdns ] || fail "Package is not uplinkdns"
[ "$arch" = "$(dpkg --print-architecture)" ] || fail "Architecture $arch is not this machine's"
[ "$(dpkg-deb -f "$deb" Maintainer)" = "UplinkDNS developers <dev@uplinkdns.invalid>" ] || fail "Maintainer field"
[[ "$(dpkg-deb -f "$deb" Installed-Size)" =~ ^[0-9]+$ ]] || fail "Installed-Size is not a number"
for field in Section Priority Description; do
    [ -n "$(dpkg-deb -f "$deb" "$field")" ] || fail "no $field field"
done
depends="$(dpkg-deb -f "$deb" Depends)"
for dep in 'libc6 (>= ' 'libldns3' 'libzscanner4' 'iproute2' 'procps' \
    'systemd | systemd-standalone-sysusers | systemd-sysusers'; do
    grep -qF -- "$dep" <<<"$depends" || fail "Depends lacks '$dep': $depends"
done
for member in control md5sums conffiles postinst prerm postrm; do
    grep -qE "^ +[0-9]+ bytes, +[0-9]+ lines +\*? *$member( |$)" "$scratch/info" || fail "no DEBIAN/$member"
done
ok "dpkg-deb -I: uplinkdns $version $arch, Maintainer, Installed-Size, Depends: $depends"

# 2. Contents.
dpkg-deb -c "$deb" >"$scratch/contents"
entry() { # MODE PATH: the line for ./PATH, with that mode, owned by root/root
    grep -qE "^$1 root/root +[0-9]+ [0-9-]+ [0-9:]+ \./$2( |$)" "$scratch/contents" ||
        fail "the package has no '$2' with mode $1 owned by root/root"
}
unit_dir=""
for d in lib/systemd/system usr/lib/systemd/system; do
    if grep -q " \./$d/uplinkdns\.service$" "$scratch/contents"; then unit_dir="$d"; fi
done
[ -n "$unit_dir" ] || fail "no uplinkdns.service under /lib/systemd/system or /usr/lib/systemd/system"
entry -rwxr-xr-x usr/bin/uplinkdns
entry -rw-r--r-- "$unit_dir/uplinkdns\.service"
entry -rw-r--r-- "$unit_dir/uplinkdns-routing\.service"
entry -rw-r--r-- 'usr/lib/sysusers\.d/uplinkdns\.conf'
entry -rw-r--r-- 'usr/share/man/man1/uplinkdns\.1\.gz'
entry -rw-r--r-- 'etc/uplinkdns/uplinkdns\.yaml'
entry -rw-r--r-- 'etc/uplinkdns/zones/example\.com\.zone'
entry -rw-r--r-- 'usr/share/doc/uplinkdns/copyright'
entry -rw-r--r-- 'usr/share/doc/uplinkdns/changelog\.gz'
if grep -vE '^(drwxr-xr-x|-rwxr-xr-x|-rw-r--r--) root/root ' "$scratch/contents" >"$scratch/odd"; then
    cat "$scratch/odd" >&2
    fail "entries not owned by root/root or with unusual modes"
fi
if grep -qE ' \./(usr/local|home|tmp|var/lib/uplinkdns)/' "$scratch/contents"; then
    fail "files in /usr/local, /home, /tmp or the state directory"
fi
dpkg-deb -e "$deb" "$scratch/DEBIAN"
printf '/etc/uplinkdns/uplinkdns.yaml\n/etc/uplinkdns/zones/example.com.zone\n' | cmp -s - "$scratch/DEBIAN/conffiles" ||
    fail "DEBIAN/conffiles is not the config and the zone: $(cat "$scratch/DEBIAN/conffiles")"
dpkg-deb -x "$deb" "$scratch/x"
for u in uplinkdns.service uplinkdns-routing.service; do
    cmp -s "$root/contrib/systemd/$u" "$scratch/x/$unit_dir/$u" || fail "the packaged $u differs from contrib/systemd/$u"
done
if readelf -S "$scratch/x/usr/bin/uplinkdns" | grep -qE '\.symtab|\.debug_'; then fail "usr/bin/uplinkdns is not stripped"; fi
gzip -t "$scratch/x/usr/share/man/man1/uplinkdns.1.gz" || fail "the man page is not valid gzip"
man_pages="$(grep -c ' \./usr/share/man/man1/.*\.1\.gz$' "$scratch/contents")"
ok "dpkg-deb -c: $(wc -l <"$scratch/contents") entries; /usr/bin/uplinkdns (stripped), /$unit_dir/uplinkdns.service and" \
    "uplinkdns-routing.service (as in contrib/systemd), /usr/lib/sysusers.d/uplinkdns.conf, $man_pages man page(s)," \
    "/etc/uplinkdns/uplinkdns.yaml and zones/example.com.zone (conffiles), copyright, changelog.gz; all root/root"

# 3. lintian.
if ! command -v lintian >/dev/null; then
    echo "lintian is missing: installing it (Debian package lintian)"
    bash "$root/scripts/install-deps.sh" lintian >&2 || fail "could not install lintian"
fi
overrides="$root/contrib/debian/lintian-overrides"
if [ -f "$overrides" ]; then
    # Every override line follows a comment (the reason).
    awk '/^#/ { why = 1; next } /^[[:space:]]*$/ { why = 0; next } !why { print; bad = 1 } END { exit bad }' \
        "$overrides" >"$scratch/bare" || fail "lintian overrides without a comment saying why: $(cat "$scratch/bare")"
fi
set +e
lintian --fail-on error,warning --display-info "$deb" >"$scratch/lintian" 2>"$scratch/lintian.err"
rc=$?
set -e
grep -v 'running with root privileges is not recommended' "$scratch/lintian.err" >&2 || true
sed 's/^/    lintian: /' "$scratch/lintian"
if [ $rc -ne 0 ]; then
    if grep -q 'custom-library-search-path.*/opt/' "$scratch/lintian"; then
        echo "  (the binary finds the Swift runtime in a toolchain directory: build it with --static-swift-stdlib)" >&2
    fi
    fail "lintian reports errors or warnings (exit $rc)"
fi
ok "lintian $(lintian --version | sed 's/^Lintian v//'): no error, no warning ($(grep -c '^I:' "$scratch/lintian" || true) info tags," \
    "overrides: $(grep -c '^uplinkdns:' "$overrides" 2>/dev/null || echo 0))"

# 4. Installation into a scratch root.
sroot="$scratch/root"
mkdir -p "$sroot/var/lib/dpkg/info" "$sroot/var/lib/dpkg/updates" "$sroot/etc"
touch "$sroot/var/lib/dpkg/status" "$sroot/var/lib/dpkg/available"
dpkg_root=(dpkg --root="$sroot" --log="$scratch/dpkg.log" --force-script-chrootless --force-depends)
if [ "$(id -u)" -ne 0 ]; then dpkg_root+=(--force-not-root); fi
install_deb() {
    "${dpkg_root[@]}" "$@" >"$scratch/dpkg.out" 2>&1 || { cat "$scratch/dpkg.out" >&2; fail "dpkg --root $*"; }
}
install_deb --force-confold -i "$deb"
[ "$(dpkg-query --root="$sroot" -W -f='${Status}' uplinkdns)" = "install ok installed" ] ||
    fail "dpkg does not list uplinkdns as installed in the scratch root"
user="$(grep '^uplinkdns:' "$sroot/etc/passwd" || true)"
[ -n "$user" ] || fail "postinst created no uplinkdns user"
IFS=: read -r _ _ uid gid _ home shell <<<"$user"
if [ "$uid" -ge 1000 ] || [ "$uid" -eq 0 ]; then fail "uplinkdns is not a system user (uid $uid)"; fi
grep -q "^uplinkdns:x:$gid:" "$sroot/etc/group" || fail "no uplinkdns group with gid $gid"
[ "$home" = /var/lib/uplinkdns ] || fail "uplinkdns's home is $home"
case "$shell" in */nologin | /bin/false) ;; *) fail "uplinkdns has a login shell: $shell" ;; esac
wants="$sroot/etc/systemd/system/multi-user.target.wants"
[ "$(readlink "$wants/uplinkdns.service")" = "/$unit_dir/uplinkdns.service" ] ||
    fail "uplinkdns.service is not enabled (no multi-user.target.wants link)"
if [ -e "$wants/uplinkdns-routing.service" ] || [ -L "$wants/uplinkdns-routing.service" ]; then
    fail "uplinkdns-routing.service was enabled: it must be left to the administrator"
fi
"$sroot/usr/bin/uplinkdns" --version >/dev/null || fail "the installed binary does not run"
# check wants the state directory writable: the installed config with its state-dir moved into the scratch root
# (this machine's /var/lib is not touched), beside the original so that zones/ resolves the same.
mkdir -p "$sroot/var/lib/uplinkdns"
sed "s|^\( *state-dir:\) /var/lib/uplinkdns\$|\1 $sroot/var/lib/uplinkdns|" "$sroot/etc/uplinkdns/uplinkdns.yaml" \
    >"$sroot/etc/uplinkdns/check.yaml"
"$sroot/usr/bin/uplinkdns" check --config "$sroot/etc/uplinkdns/check.yaml" >"$scratch/check.out" 2>&1 ||
    { cat "$scratch/check.out" >&2; fail "the installed binary rejects the installed config"; }
rm -r "$sroot/etc/uplinkdns/check.yaml" "$sroot/var/lib/uplinkdns"
listen="$(grep -E '^ *listen:' "$sroot/etc/uplinkdns/uplinkdns.yaml" || true)"
[[ "$listen" =~ ^\ *listen:\ *\[(\"127\.0\.0\.1:[0-9]+\"(,\ *)?)+\]$ ]] ||
    fail "the example config must listen on 127.0.0.1 only: $listen"
grep -qE '^ *state-dir: /var/lib/uplinkdns$' "$sroot/etc/uplinkdns/uplinkdns.yaml" ||
    fail "the example config's state-dir is not /var/lib/uplinkdns"
ok "installed in a scratch root: user $user, uplinkdns.service enabled, uplinkdns-routing.service not," \
    "'uplinkdns check' accepts /etc/uplinkdns/uplinkdns.yaml"

# Reinstall (postinst configure with the old version: idempotent) keeps an edited conffile.
echo "# edited by the administrator" >>"$sroot/etc/uplinkdns/uplinkdns.yaml"
install_deb --force-confold -i "$deb"
grep -q '^# edited by the administrator$' "$sroot/etc/uplinkdns/uplinkdns.yaml" || fail "a reinstall lost the edited config"
[ "$(grep -c '^uplinkdns:' "$sroot/etc/passwd")" = 1 ] || fail "a reinstall made a second uplinkdns user"
ok "reinstalled over itself: the edited conffile is kept, one user"

# Remove keeps the conffiles; purge removes them, the state directory and the enablement, and keeps the user.
mkdir -p "$sroot/var/lib/uplinkdns/keys" && touch "$sroot/var/lib/uplinkdns/health.json"
install_deb --remove uplinkdns
[ ! -e "$sroot/usr/bin/uplinkdns" ] || fail "remove left /usr/bin/uplinkdns"
[ -f "$sroot/etc/uplinkdns/uplinkdns.yaml" ] || fail "remove deleted the conffile (only purge may)"
install_deb --purge uplinkdns
left="$(cd "$sroot" && find . -path ./var/lib/dpkg -prune -o \( -name '*uplinkdns*' -print \))"
[ -z "$left" ] || fail "purge left: $left"
grep -q '^uplinkdns:' "$sroot/etc/passwd" || fail "purge removed the uplinkdns user (Debian keeps system users)"
[ -z "$(dpkg-query --root="$sroot" -W -f='${Status}' uplinkdns 2>/dev/null)" ] ||
    fail "dpkg still lists uplinkdns after purge"
ok "remove keeps /etc/uplinkdns; purge removes it, /var/lib/uplinkdns and the unit links, and keeps the user"

[ "$(host_state)" = "$host_before" ] || fail "this machine's users, dpkg database, units or /usr/bin changed"
ok "this machine is unchanged (passwd, group, shadow, dpkg status, systemd enablement, /usr/bin/uplinkdns)"
echo "check-deb.sh: $(basename "$deb") passed"
