#!/usr/bin/env bash
# Prints an APT source for Debian's non-free component, derived from the sources this machine
# already has configured (so the mirror, the snapshot and the signing key are the machine's own,
# never a host named here). Reads both formats:
#   deb822 (*.sources):   Types/URIs/Suites/Components/Signed-By paragraphs;
#   one-line (*.list):    deb [options] URI SUITE COMPONENT...
# For each configured Debian 'deb' source whose suites include the release codename itself (not
# -security or -updates), it prints the same source with Components: non-free. Output is in
# deb822 form; nothing is printed (exit 1) when no such source exists.
#
# Usage: .ci/apt-non-free.sh [CODENAME] [APT_DIR]   (defaults: /etc/os-release's VERSION_CODENAME, /etc/apt)
set -euo pipefail
codename=${1:-}
apt_dir=${2:-/etc/apt}
if [ -z "$codename" ]; then
  # shellcheck disable=SC1091
  codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
fi
[ -n "$codename" ] || { echo "apt-non-free: cannot tell the Debian release codename" >&2; exit 1; }

files=()
[ -f "$apt_dir/sources.list" ] && files+=("$apt_dir/sources.list")
for f in "$apt_dir"/sources.list.d/*.list "$apt_dir"/sources.list.d/*.sources; do
  [ -f "$f" ] && files+=("$f")
done
[ ${#files[@]} -gt 0 ] || { echo "apt-non-free: no APT sources under $apt_dir" >&2; exit 1; }

out=$(
  for f in "${files[@]}"; do
    case "$f" in
      *.sources)
        # One paragraph per record; fields may be folded, we only need single-line ones.
        awk -v want="$codename" '
          function flush() {
            if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " want " ") && uris != "") {
              printf "Types: deb\nURIs: %s\nSuites: %s\nComponents: non-free\n", uris, want
              if (signed != "") printf "Signed-By: %s\n", signed
              printf "\n"
            }
            types = uris = suites = signed = enabled = ""
          }
          /^[[:space:]]*#/ { next }
          /^[[:space:]]*$/ { flush(); next }
          {
            key = $1; sub(/:$/, "", key); val = $0; sub(/^[^:]*:[[:space:]]*/, "", val)
            key = tolower(key)
            if (key == "types") types = val
            else if (key == "uris") uris = val
            else if (key == "suites") suites = val
            else if (key == "signed-by") signed = val
            else if (key == "enabled") enabled = tolower(val)
          }
          END { flush() }' "$f"
        ;;
      *)
        awk -v want="$codename" '
          /^[[:space:]]*deb[[:space:]]/ {
            i = 2; signed = ""
            if ($2 ~ /^\[/) {
              # Options in brackets, possibly several words: keep signed-by, drop the rest.
              opts = ""
              while (i <= NF) { opts = opts " " $i; if ($i ~ /\]$/) { i++; break } i++ }
              if (match(opts, /signed-by=[^] ]+/)) signed = substr(opts, RSTART + 10, RLENGTH - 10)
            }
            uri = $i; suite = $(i + 1)
            if (suite == want && uri != "") {
              printf "Types: deb\nURIs: %s\nSuites: %s\nComponents: non-free\n", uri, want
              if (signed != "") printf "Signed-By: %s\n", signed
              printf "\n"
            }
          }' "$f"
        ;;
    esac
  done
)
[ -n "$out" ] || { echo "apt-non-free: no configured Debian source for '$codename' to derive non-free from" >&2; exit 1; }
# The same mirror may be configured twice (say, in both formats); print each source once.
printf '%s\n' "$out" | awk 'BEGIN { RS = ""; ORS = "\n\n" } !seen[$0]++'
