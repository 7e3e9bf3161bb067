#!/usr/bin/env bash
# Fetches @vladmandic/face-api 1.7.15 (MIT) with npm into Dfer's cache and unpacks the parts Dfer
# reads: model/ (TF.js weights), src/ (the TypeScript the networks are written from), demo/ (the
# sample photos the demo video is made of). Idempotent: an existing complete cache is left alone.
# The cache is ${DFER_FACE_API:-${XDG_CACHE_HOME:-$HOME/.cache}/dfer/face-api-1.7.15}.
set -euo pipefail

version=1.7.15
dest="${DFER_FACE_API:-${XDG_CACHE_HOME:-$HOME/.cache}/dfer/face-api-$version}"
stamp="$dest/.complete"

if [[ -f "$stamp" ]]; then
    echo "face-api $version already in $dest" >&2
    echo "$dest"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is needed to fetch @vladmandic/face-api (Debian: apt-get install npm)" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@vladmandic/face-api@$version" >/dev/null)
tarball="$(ls "$work"/*.tgz)"
mkdir -p "$work/x"
tar -xzf "$tarball" -C "$work/x" package/model package/src package/demo package/LICENSE package/package.json
mkdir -p "$dest"
for part in model src demo LICENSE package.json; do
    rm -rf "${dest:?}/$part"
    mv "$work/x/package/$part" "$dest/$part"
done
for f in face_expression_model tiny_face_detector_model ssd_mobilenetv1_model; do
    [[ -s "$dest/model/$f-weights_manifest.json" && -s "$dest/model/$f.bin" ]] || { echo "error: $f missing from the package" >&2; exit 1; }
done
touch "$stamp"
echo "face-api $version fetched into $dest" >&2
echo "$dest"
