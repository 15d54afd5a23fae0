#!/bin/sh
# Builds the Debian package from this repository with one command:
#   packaging/deb/build.sh            -> .build-deb/dps_<version>_amd64.deb (its path on stdout)
# Needs the Swift toolchain and, from Debian, debhelper, dpkg-dev, libbpf-dev and libpcap-dev
# (.ci/setup installs them). The package itself needs no toolchain: the binary is built with the
# Swift runtime linked statically (packaging/build-release.sh).
#   DPS_DEB_DIR  where the package goes (default .build-deb in the repository)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${DPS_DEB_DIR:-$root/.build-deb}
say() { printf 'build.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

binary=$("$root/packaging/build-release.sh")
version=$("$binary" --version)
changelog=$(cd "$here" && dpkg-parsechangelog -S Version)
[ "$version" = "$changelog" ] ||
    die "dps --version says $version but debian/changelog says $changelog: add a changelog entry"

# The manual page (one, dps(1), with every subcommand) comes from the command's own help, through
# swift-argument-parser's generate-manual tool. Its plugin would rebuild the whole package to
# find the executables, so only the tool is built (asking the plugin for --help does that) and
# run on the binary above.
scratch=$root/.build-static
(cd "$root" && swift package --scratch-path "$scratch" generate-manual --help >/dev/null)
manual=$(find "$scratch" -type f -name generate-manual-tool -perm -u+x | head -n 1)
[ -n "$manual" ] || die "swift-argument-parser's generate-manual tool was not built under $scratch"

stage=$out/dps-$version
rm -rf "$stage"
mkdir -p "$stage/man" "$stage/completions"
cp -R "$here/debian" "$stage/debian"
cp "$binary" "$stage/dps"
cp "$root/systemd/dps.yaml" "$stage/dps.yaml"
cp "$root/systemd/dps.service" "$stage/debian/dps.service"
date=$(cd "$here" && date -u -d "@$(dpkg-parsechangelog -S Timestamp)" +%Y-%m-%d)
"$manual" "$binary" --date "$date" --output-directory "$stage/man" >&2
# Completion scripts are sourced, not run: no #! line.
"$binary" --generate-completion-script bash | sed '1{/^#!/d}' >"$stage/completions/dps"
"$binary" --generate-completion-script zsh >"$stage/completions/_dps"
"$binary" --generate-completion-script fish >"$stage/completions/dps.fish"

say "packaging dps $version in $stage"
(cd "$stage" && dpkg-buildpackage --build=binary --no-sign --no-check-builddeps >&2)
deb=$out/dps_${version}_amd64.deb
[ -f "$deb" ] || die "dpkg-buildpackage made no $deb"
say "built $deb ($(du -h "$deb" | cut -f1))"
echo "$deb"
