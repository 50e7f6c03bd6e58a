#!/usr/bin/env bash
# The Debian package, installed, upgraded, removed and purged in a throwaway Debian 12 root
# (debootstrap --variant=minbase; systemd does not run there), checking what is on disk after
# each step.
#
#   --quick  (make test)          packs the debug build make test has already made (.build/debug)
#                                 through the same debian/ as make deb; no release build, no lintian.
#   --full   (make package-test)  make deb: the release build with the Swift runtime linked in
#                                 statically, lintian; and runs the installed binaries in the root.
#
# Both build the tree twice, as VERSION and as VERSION+test2, for the upgrade. The base root
# is debootstrapped once and kept as a tarball in $HOTLINED_TEST_CACHE
# (/var/cache/hotlined-test), made again when missing. Needs root (chroot); run as another
# user it asks sudo.
set -euo pipefail

mode=${1:---quick}
case $mode in --quick | --full) ;; *) echo "usage: $0 [--quick|--full]" >&2; exit 64 ;; esac
cd "$(dirname "$0")/../.."
tree=$PWD
if [ "$(id -u)" != 0 ]; then exec sudo --preserve-env=PATH "$0" "$@"; fi
export PATH=/opt/swift/usr/bin:$PATH

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${HOTLINED_TEST_CACHE:-/var/cache/hotlined-test}
# What the package depends on (dh_shlibdeps' libraries and systemd), in the base, so that
# dpkg -i needs no network. A change to the list makes a new base.
BASE_PACKAGES=systemd,procps,libsqlite3-0,libsystemd0,libstdc++6,libgcc-s1
BASE=$CACHE/bookworm-minbase-$(echo "$BASE_PACKAGES" | sha256sum | cut -c1-12).tar
VERSION=$(make -s --no-print-directory -f - <<<'include Makefile
print-version: ; @echo $(VERSION)' print-version)
V2="$VERSION+test2"
ARCH=$(dpkg --print-architecture)

work=$(mktemp -d /var/tmp/hotlined-package-test.XXXXXX)
root=$work/root
cleanup() {
    mountpoint -q "$root/opt/swift" && umount "$root/opt/swift"
    mountpoint -q "$root/proc" && umount "$root/proc"
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP   # so that the EXIT trap unmounts /proc and removes the root

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
step() {
    if [ "$failures" -gt 0 ]; then echo "package test: $failures check(s) failed" >&2; exit 1; fi
    echo "== $*"
}
# /usr/local/sbin first: where the systemd stubs go (below).
in_root() { chroot "$root" env -i PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }
exists() { [ -e "$root$1" ] || [ -L "$root$1" ]; }
sha() { sha256sum < "$root$1" | cut -d' ' -f1; }

step "building the package twice: $VERSION and $V2 ($mode)"
start=$SECONDS
if [ "$mode" = --quick ]; then
    bin=$tree/.build/debug   # what swift build --build-tests made (make test)
    [ -x "$bin/hotlined" ] && [ -x "$bin/hotlinectl" ] || { echo "no debug build in $bin: run swift build first" >&2; exit 1; }
    build=(BIN="$bin" DEB_FAST=1)
    export DEB_BUILD_OPTIONS="noautodbgsym ${DEB_BUILD_OPTIONS:-}"
else
    build=()
fi
make --no-print-directory deb "${build[@]}" DEB_DIR="$work/v1" > "$work/build-v1.log" 2>&1 ||
    { tail -50 "$work/build-v1.log"; echo "make deb failed" >&2; exit 1; }
make --no-print-directory deb "${build[@]}" DEB_DIR="$work/v2" DEB_VERSION="$V2" > "$work/build-v2.log" 2>&1 ||
    { tail -50 "$work/build-v2.log"; echo "make deb DEB_VERSION=$V2 failed" >&2; exit 1; }
deb1=$work/v1/hotlined_${VERSION}_$ARCH.deb
deb2=$work/v2/hotlined_${V2}_$ARCH.deb
[ -f "$deb1" ] && [ -f "$deb2" ] || { ls -R "$work" >&2; echo "no .deb" >&2; exit 1; }
echo "   built in $((SECONDS - start)) s: $(du -h "$deb1" | cut -f1) each"

step "the package's control data"
depends=$(dpkg-deb -f "$deb1" Depends)
for d in systemd procps libsqlite3-0 libsystemd0 libc6; do
    grep -qE "(^|, )$d( |,|$)" <<<"$depends" || fail "Depends lacks $d: $depends"
done
grep -q swift <<<"$depends" && fail "Depends names a Swift library: $depends"
[ "$(dpkg-deb -f "$deb2" Version)" = "$V2" ] || fail "the second package is not version $V2"
controls=$(dpkg-deb --ctrl-tarfile "$deb1" | tar -t)
for f in ./postinst ./postrm ./prerm ./conffiles; do grep -qx "$f" <<<"$controls" || fail "no $f in the control archive"; done
grep -qE '^\./(templates|config)$' <<<"$controls" && fail "debconf templates or config: purge must ask nothing"
grep -qx /etc/hotlined/hotlined.yaml < <(dpkg-deb --ctrl-tarfile "$deb1" | tar -xO ./conffiles) ||
    fail "/etc/hotlined/hotlined.yaml is not a conffile"
if [ "$mode" = --full ]; then
    mkdir -p "$work/x" && dpkg-deb -x "$deb1" "$work/x"
    for b in hotlined hotlinectl; do
        libs=$(ldd "$work/x/usr/bin/$b")
        grep -qE 'swift|not found|/opt/' <<<"$libs" && fail "$b links to something not Debian's: $libs"
        while read -r lib; do
            dpkg -S "$(readlink -f "$lib")" > /dev/null 2>&1 || dpkg -S "$lib" > /dev/null 2>&1 || fail "$b: $lib is no Debian package's"
        done < <(awk '/=>/ {print $3}' <<<"$libs")
    done
fi

step "a bookworm root ($BASE)"
if [ ! -s "$BASE" ]; then
    echo "   debootstrap bookworm (minbase, with $BASE_PACKAGES) from $MIRROR, once"
    mkdir -p "$CACHE" "$work/base"
    debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$work/base" "$MIRROR" > "$work/debootstrap.log" 2>&1 ||
        { tail -30 "$work/debootstrap.log"; echo "debootstrap failed" >&2; exit 1; }
    rm -rf "$work/base/var/cache/apt/archives/"*.deb
    tar --numeric-owner -C "$work/base" -cf "$BASE.$$" . && mv "$BASE.$$" "$BASE"
    rm -rf --one-file-system "$work/base"
fi
mkdir -p "$root"
tar --numeric-owner -C "$root" -xpf "$BASE"
cp "$deb1" "$deb2" "$root/tmp/"
# systemd-tmpfiles needs /proc, as it has in any real root.
mount -t proc proc "$root/proc"

step "install $VERSION"
in_root dpkg -i "/tmp/$(basename "$deb1")" < /dev/null > "$work/install.log" 2>&1 ||
    { cat "$work/install.log"; fail "dpkg -i failed"; }
grep -qF 'hotlinectl keygen > /etc/hotlined/hotlined.key' "$work/install.log" &&
    grep -qF 'umask 077' "$work/install.log" && grep -qF 'chmod 0400 /etc/hotlined/hotlined.key' "$work/install.log" &&
    grep -qF 'systemctl start hotlined.socket' "$work/install.log" ||
    { cat "$work/install.log"; fail "the postinst did not say how to make the key and start the socket"; }
in_root getent passwd hotlined > /dev/null || fail "no user hotlined"
[ "$(in_root getent passwd hotlined | cut -d: -f6)" = /var/lib/hotlined ] || fail "hotlined's home is not /var/lib/hotlined"
for g in hotlined hotline hotline-supervisors hotline-auditors; do in_root getent group "$g" > /dev/null || fail "no group $g"; done
files=(
    /usr/bin/hotlined /usr/bin/hotlinectl
    /lib/systemd/system/hotlined.service /lib/systemd/system/hotlined.socket
    /lib/systemd/system/hotlined-export.service /lib/systemd/system/hotlined-export.timer
    /usr/lib/systemd/system-generators/hotlined-export-generator
    /usr/lib/sysusers.d/hotlined.conf /usr/lib/tmpfiles.d/hotlined.conf
    /etc/hotlined/hotlined.yaml
    /usr/share/doc/hotlined/README.md /usr/share/doc/hotlined/DEPLOYMENT.md /usr/share/doc/hotlined/METRICS.md /usr/share/doc/hotlined/WALLBOARD.md /usr/share/doc/hotlined/examples/hotlined-rules.yml /usr/share/doc/hotlined/copyright
    /usr/share/man/man8/hotlined.8.gz /usr/share/man/man1/hotlinectl.1.gz /usr/share/man/man5/hotlined.yaml.5.gz
    /usr/share/bash-completion/completions/hotlinectl /usr/share/bash-completion/completions/hotlined
    /usr/share/zsh/vendor-completions/_hotlinectl /usr/share/zsh/vendor-completions/_hotlined
    /usr/share/fish/vendor_completions.d/hotlinectl.fish /usr/share/fish/vendor_completions.d/hotlined.fish
)
for f in "${files[@]}"; do [ -f "$root$f" ] && [ -s "$root$f" ] || fail "$f is not installed"; done
ls "$root/usr/share/doc/hotlined" | grep -q '^soak-' && fail "the soak runs' logs are shipped as documentation"
for f in /usr/bin/hotlined /usr/bin/hotlinectl /usr/lib/systemd/system-generators/hotlined-export-generator; do
    [ -x "$root$f" ] || fail "$f is not executable"
done
grep -q '^ExecStart=/usr/bin/hotlined --config /etc/hotlined/hotlined.yaml$' "$root/lib/systemd/system/hotlined.service" ||
    fail "hotlined.service does not run /usr/bin/hotlined with /etc/hotlined/hotlined.yaml"
gzip -t "$root/usr/share/man/man8/hotlined.8.gz" && zcat "$root/usr/share/man/man8/hotlined.8.gz" | grep -q '^\.SH SIGNALS' ||
    fail "hotlined.8.gz is not the roff of hotlined.8.scd"
for p in hotlinectl hotlined; do
    bash -c "source '$root/usr/share/bash-completion/completions/$p' && complete -p $p" > /dev/null 2>&1 ||
        fail "the bash completion of $p does not load"
done
[ "$(readlink "$root/etc/systemd/system/sockets.target.wants/hotlined.socket")" = /lib/systemd/system/hotlined.socket ] ||
    fail "hotlined.socket is not enabled"
exists /etc/systemd/system/multi-user.target.wants/hotlined.service && fail "hotlined.service is enabled: the socket starts it"
exists /etc/systemd/system/timers.target.wants/hotlined-export.timer && fail "the export timer is enabled before there is a key"
exists /etc/hotlined/hotlined.key && fail "the postinst made a key"
[ "$(ls -A "$root/etc/hotlined")" = hotlined.yaml ] || fail "/etc/hotlined holds more than hotlined.yaml: $(ls -A "$root/etc/hotlined")"
[ "$(stat -c '%a %U' "$root/etc/hotlined")" = "755 root" ] || fail "/etc/hotlined is not root's, 0755"
cmp -s "$root/etc/hotlined/hotlined.yaml" Config/hotlined.yaml || fail "the installed configuration is not the shipped one"
in_root dpkg --verify hotlined > "$work/verify.log" 2>&1 || { cat "$work/verify.log"; fail "dpkg --verify"; }
if [ "$mode" = --full ]; then
    # The static binaries run in a bare bookworm: no /opt/swift there.
    key=$(in_root /usr/bin/hotlinectl keygen) && [[ $key =~ ^[0-9a-f]{64}$ ]] || fail "hotlinectl keygen does not run in the root: $key"
    in_root /usr/bin/hotlined --check-config > "$work/check.log" 2>&1 || { cat "$work/check.log"; fail "hotlined --check-config"; }
    [ "$(in_root /usr/bin/hotlined --version)" = "$VERSION" ] || fail "hotlined --version is not $VERSION"
fi

step "the administrator makes a key, edits the configuration; the daemon writes its database"
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$root/etc/hotlined/hotlined.key")
chmod 0400 "$root/etc/hotlined/hotlined.key"
sed -i 's/^  max_connections: 512$/  max_connections: 500/' "$root/etc/hotlined/hotlined.yaml"
echo "# edited by the administrator" >> "$root/etc/hotlined/hotlined.yaml"
cmp -s "$root/etc/hotlined/hotlined.yaml" Config/hotlined.yaml && fail "the edit did not change the configuration"
install -d -m 0700 "$root/var/lib/hotlined" "$root/var/lib/hotlined/exports"
head -c 65536 /dev/urandom > "$root/var/lib/hotlined/hotlined.sqlite"
echo "night-2026-11-29.csv" > "$root/var/lib/hotlined/exports/night-2026-11-29.csv"
in_root chown -R hotlined:hotlined /var/lib/hotlined
config_sha=$(sha /etc/hotlined/hotlined.yaml) db_sha=$(sha /var/lib/hotlined/hotlined.sqlite) key_sha=$(sha /etc/hotlined/hotlined.key)
# Stands for the old version's binary, so that the upgrade shows it replaced (both builds
# are of one tree).
echo "the binary of $VERSION" > "$root/usr/bin/hotlined"

step "systemd runs from here on: stubs record what the maintainer scripts ask of it"
mkdir -p "$root/run/systemd/system" "$root/usr/local/sbin"
for tool in systemctl deb-systemd-invoke; do
    printf '#!/bin/sh\necho "%s $*" >> /tmp/systemd-calls.log\nexit 0\n' "$tool" > "$root/usr/local/sbin/$tool"
    chmod 0755 "$root/usr/local/sbin/$tool"
done
calls() { cat "$root/tmp/systemd-calls.log" 2> /dev/null || true; }
if [ "$mode" = --quick ]; then
    # The debug binaries the postinst runs (hotlined --check-config) need Swift's runtime.
    mkdir -p "$root/opt/swift" && mount --bind -o ro /opt/swift "$root/opt/swift"
fi

step "upgrade to $V2"
in_root dpkg -i "/tmp/$(basename "$deb2")" < /dev/null > "$work/upgrade.log" 2>&1 ||
    { cat "$work/upgrade.log"; fail "the upgrade failed"; }
[ "$(in_root dpkg-query -W -f='${Version} ${db:Status-Abbrev}' hotlined)" = "$V2 ii " ] ||
    fail "not $V2 installed after the upgrade: $(in_root dpkg-query -W -f='${Version} ${db:Status-Abbrev}' hotlined)"
mkdir -p "$work/x2" && dpkg-deb -x "$deb2" "$work/x2"
cmp -s "$root/usr/bin/hotlined" "$work/x2/usr/bin/hotlined" || fail "/usr/bin/hotlined is not the new version's"
[ "$(sha /etc/hotlined/hotlined.yaml)" = "$config_sha" ] || fail "the upgrade changed the edited configuration"
exists /etc/hotlined/hotlined.yaml.dpkg-new || exists /etc/hotlined/hotlined.yaml.dpkg-dist &&
    fail "the upgrade left a hotlined.yaml.dpkg-* beside an unchanged conffile"
[ "$(sha /var/lib/hotlined/hotlined.sqlite)" = "$db_sha" ] || fail "the upgrade changed the database"
[ "$(sha /etc/hotlined/hotlined.key)" = "$key_sha" ] || fail "the upgrade changed the key"
[ "$(stat -c '%a %U' "$root/etc/hotlined/hotlined.key")" = "400 root" ] || fail "the key is no longer root's, 0400"
exists /var/lib/hotlined/exports/night-2026-11-29.csv || fail "the upgrade lost the exports"
grep -q "no encryption key in" "$work/upgrade.log" && fail "the postinst asked for a key that exists"
[ -L "$root/etc/systemd/system/sockets.target.wants/hotlined.socket" ] || fail "hotlined.socket is no longer enabled"
in_root getent passwd hotlined > /dev/null || fail "no user hotlined after the upgrade"
in_root dpkg --verify hotlined > "$work/verify.log" 2>&1 || { cat "$work/verify.log"; fail "dpkg --verify after the upgrade"; }
calls | grep -qx 'deb-systemd-invoke try-restart hotlined.service' ||
    { calls; fail "the upgrade did not restart a running daemon (try-restart hotlined.service)"; }
calls | grep -q ' start ' && { calls; fail "the upgrade started something: a stopped daemon stays stopped"; }

step "an upgrade into a configuration the new version refuses leaves the running daemon alone"
cp -p "$root/etc/hotlined/hotlined.yaml" "$work/edited.yaml"
echo "metrics: {listen: \"0.0.0.0:9469\"}" >> "$root/etc/hotlined/hotlined.yaml"
: > "$root/tmp/systemd-calls.log"
in_root dpkg -i "/tmp/$(basename "$deb2")" < /dev/null > "$work/refused.log" 2>&1 ||
    { cat "$work/refused.log"; fail "reinstalling failed"; }
calls | grep -q 'try-restart' && { calls; fail "the daemon was restarted into a configuration it refuses"; }
grep -q "refuses /etc/hotlined/hotlined.yaml, so the running daemon was not restarted" "$work/refused.log" &&
    grep -q "metrics.listen" "$work/refused.log" || { cat "$work/refused.log"; fail "the postinst did not say why it did not restart"; }
cp -p "$work/edited.yaml" "$root/etc/hotlined/hotlined.yaml"
: > "$root/tmp/systemd-calls.log"

step "remove: the call log, the configuration and the key stay"
in_root dpkg -r hotlined < /dev/null > "$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "dpkg -r failed"; }
[ "$(in_root dpkg-query -W -f='${db:Status-Abbrev}' hotlined)" = "rc " ] || fail "not in state rc (config-files) after remove"
calls | grep -qx 'deb-systemd-invoke stop hotlined-export.timer hotlined-export.service hotlined.service hotlined.socket' ||
    { calls; fail "remove did not stop the units"; }
for f in /usr/bin/hotlined /usr/bin/hotlinectl /lib/systemd/system/hotlined.service /usr/share/man/man8/hotlined.8.gz; do
    exists "$f" && fail "$f is still there after remove"
done
[ "$(sha /var/lib/hotlined/hotlined.sqlite)" = "$db_sha" ] || fail "remove changed or deleted the database"
[ "$(sha /etc/hotlined/hotlined.yaml)" = "$config_sha" ] || fail "remove changed or deleted the configuration"
[ "$(sha /etc/hotlined/hotlined.key)" = "$key_sha" ] || fail "remove deleted the key"

step "purge: nothing of it is left, and nothing was asked"
in_root dpkg -P hotlined < /dev/null > "$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg -P failed"; }
in_root dpkg-query -W hotlined > /dev/null 2>&1 && fail "dpkg still knows hotlined after purge"
for f in /var/lib/hotlined /etc/hotlined /etc/systemd/system/sockets.target.wants/hotlined.socket; do
    exists "$f" && fail "$f is still there after purge"
done
ls "$root/var/lib/systemd/deb-systemd-helper-enabled" 2> /dev/null | grep -q hotlined &&
    fail "deb-systemd-helper's state of the units is still there after purge"
while read -r f; do
    f=${f#.}
    [ -d "$work/x2$f" ] && continue
    exists "$f" && fail "$f is still there after purge"
done < <(cd "$work/x2" && find . -mindepth 1)
# Debian leaves system users in place on purge (files elsewhere may still be theirs).
in_root getent passwd hotlined > /dev/null || fail "purge removed the user hotlined (Debian leaves it)"

step "done"
echo "package test ($mode): install, upgrade, remove and purge checked in $((SECONDS - start)) s"
