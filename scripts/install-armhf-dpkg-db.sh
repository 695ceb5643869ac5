#!/usr/bin/env bash
# Makes a dpkg database describing the packages of the armhf sysroot, so that dpkg-shlibdeps can
# compute the armhf .deb's Depends from the sysroot's libraries (cmake/Packaging.cmake points
# DPKG_ADMINDIR at it when cpack runs in a cross build with a sysroot).
#
# Why: scripts/install-armhf-sysroot.sh unpacks the armhf packages with `mmdebstrap
# --variant=extract`, which leaves no dpkg database (this host has no armhf dpkg architecture,
# see toolchains/README.md), and dpkg-shlibdeps needs one: `dpkg-query --search` to learn which
# package ships a library, and that package's shlibs/symbols control files for the dependency
# and its minimal version.
#
# How: resolves the sysroot's package list (its stamp file) against the repositories written in
# the sysroot's /etc/apt/sources.list with a throwaway armhf apt configuration (the host's apt
# and dpkg are not touched), downloads the armhf runtime packages of that set (not -dev, not
# Architecture: all), and writes $DB/status and $DB/info/<pkg>.{list,md5sums,shlibs,symbols}
# from their control data. File lists carry the sysroot's path as a prefix
# (/opt/processnow-cross/armhf/sysroot/usr/lib/...), because that is where dpkg-shlibdeps finds
# the libraries. Every shared library listed is then checked against the sysroot by its md5sum:
# the database describes exactly the sysroot's files, or the script fails.
# Idempotent: rebuilt only when the sysroot's stamp or sources change, or a check fails. ~15 s.
# Runs as root directly, or through sudo.
# Usage: scripts/install-armhf-sysroot.sh && scripts/install-armhf-dpkg-db.sh
set -euo pipefail

ARCH=armhf
SYSROOT=${PN_ARMHF_SYSROOT:-/opt/processnow-cross/armhf/sysroot}
DB=${PN_ARMHF_DPKG_DB:-$(dirname "$SYSROOT")/dpkg}
RECIPE=2  # bump when the way the database is made changes

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
say() { echo "install-armhf-dpkg-db: $*"; }

if [ ! -f "$SYSROOT/.processnow-sysroot" ] || [ ! -f "$SYSROOT/etc/apt/sources.list" ]; then
  say "no sysroot in $SYSROOT: run scripts/install-armhf-sysroot.sh first" >&2
  exit 1
fi
want_stamp="dpkg db recipe $RECIPE for $SYSROOT: $(cat "$SYSROOT/.processnow-sysroot") |"
want_stamp+=" $(sha256sum <"$SYSROOT/etc/apt/sources.list" | cut -c1-16)"

# The database matches the sysroot: every shared library it lists has the md5sum its package
# gives. Prints the mismatches; returns 1 if there is any (or nothing was checked).
verify_db() {
  local db=$1 n=0 bad=0 f sum path
  for f in "$db"/info/*.md5sums; do
    while read -r sum path; do
      case "/$path" in
        */lib/*/lib*.so.*|*/lib/*/lib*-*.so) ;;
        *) continue ;;
      esac
      n=$((n + 1))
      if [ "$(md5sum <"$SYSROOT/$path" 2>/dev/null | cut -d' ' -f1)" != "$sum" ]; then
        echo "    $SYSROOT/$path differs from the package's ($f)" >&2
        bad=$((bad + 1))
      fi
    done <"$f"
  done
  [ "$n" -gt 0 ] && [ "$bad" -eq 0 ] && echo "$n"
}

if [ -f "$DB/.processnow-dpkg-db" ] && [ "$(cat "$DB/.processnow-dpkg-db")" = "$want_stamp" ] &&
  n=$(verify_db "$DB"); then
  say "$DB is up to date ($n libraries match the sysroot)"
  exit 0
fi

# The sysroot's package list: its stamp is "armhf recipe N: pkg pkg ...".
read -r -a packages <<<"$(sed -n 's/^[^:]*: //p' "$SYSROOT/.processnow-sysroot")"
[ "${#packages[@]}" -gt 0 ] || { say "cannot read the package list of $SYSROOT" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/parts" "$tmp/debs" "$tmp/ctl"
: >"$tmp/status"
# A private apt: armhf only, the sysroot's sources, an empty dpkg status (so it resolves the
# whole dependency closure, as mmdebstrap did), its own lists, cache and lock.
APT=(apt-get -q -o "APT::Architecture=$ARCH" -o "APT::Architectures=$ARCH"
  -o Dir::Etc::SourceList="$SYSROOT/etc/apt/sources.list" -o Dir::Etc::SourceParts="$tmp/parts"
  -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$tmp/parts"
  -o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache" -o Dir::State::status="$tmp/status"
  -o APT::Sandbox::User=root -o Debug::NoLocking=1)
say "resolving ${#packages[@]} packages for $ARCH from $SYSROOT/etc/apt/sources.list"
"${APT[@]}" update >"$tmp/update.log" 2>&1 || { cat "$tmp/update.log" >&2; exit 1; }
# "Inst libsqlite3-0 (3.40.1-2+deb12u1 Debian:12.8/stable [armhf])": the runtime packages.
"${APT[@]}" install -s -y --no-install-recommends "${packages[@]}" >"$tmp/sim.log" 2>&1 ||
  { cat "$tmp/sim.log" >&2; exit 1; }
# (apt may append " []", its ordering marks, to a line.)
mapfile -t want < <(awk -v a="[$ARCH])" '$1 == "Inst" && index($0, a) && $2 !~ /-dev$/ {
  sub(/^\(/, "", $3); print $2 "=" $3 }' "$tmp/sim.log")
[ "${#want[@]}" -gt 0 ] || { cat "$tmp/sim.log" >&2; say "nothing to download?" >&2; exit 1; }
say "downloading ${#want[@]} runtime packages"
(cd "$tmp/debs" && "${APT[@]}" download "${want[@]}" >"$tmp/download.log" 2>&1) ||
  { cat "$tmp/download.log" >&2; exit 1; }

new="$tmp/db"
mkdir -p "$new/info" "$new/updates" "$new/triggers" "$new/alternatives"
printf 'amd64\n%s\n' "$ARCH" >"$new/arch"
echo 1 >"$new/info/format"  # file lists named <pkg>:<arch>.list for Multi-Arch: same packages
for deb in "$tmp"/debs/*.deb; do
  pkg=$(dpkg-deb -f "$deb" Package)
  name=$pkg
  if [ "$(dpkg-deb -f "$deb" Multi-Arch)" = same ]; then name="$pkg:$ARCH"; fi
  rm -rf "$tmp/ctl" && dpkg-deb -e "$deb" "$tmp/ctl"
  for part in md5sums shlibs symbols triggers; do
    if [ -f "$tmp/ctl/$part" ]; then cp "$tmp/ctl/$part" "$new/info/$name.$part"; fi
  done
  # The file list as dpkg keeps it, each path prefixed with the sysroot's.
  dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's|^\./||' -e 's|/$||' |
    awk -v r="$SYSROOT" '{ print ($0 == "" ? r "/." : r "/" $0) }' >"$new/info/$name.list"
  # The status entry: the control fields with "Status:" after "Package:".
  awk '{ print } /^Package:/ { print "Status: install ok installed" }' "$tmp/ctl/control" \
    >>"$new/status"
  echo >>"$new/status"
done

if ! n=$(verify_db "$new"); then
  say "the downloaded packages do not match the libraries in $SYSROOT (the sysroot was made" \
    "from an older state of the mirror?): re-make it (rm $SYSROOT/.processnow-sysroot;" \
    "scripts/install-armhf-sysroot.sh), then run this again" >&2
  exit 1
fi
echo "$want_stamp" >"$new/.processnow-dpkg-db"
$SUDO rm -rf "$DB.new" "$DB.old"
$SUDO mkdir -p "$(dirname "$DB")"
$SUDO cp -a "$new" "$DB.new"
if [ -d "$DB" ]; then $SUDO mv "$DB" "$DB.old"; fi
$SUDO mv "$DB.new" "$DB"
$SUDO rm -rf "$DB.old"
say "done: $DB describes ${#want[@]} packages; $n shared libraries match the sysroot"
