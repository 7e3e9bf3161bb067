#!/usr/bin/env bash
# Packs src/Dfer.Cli as the .NET tool `dfer` (package id dfer, version from Directory.Build.props) into
# artifacts/ (dfer.VERSION.nupkg and its symbols, dfer.VERSION.snupkg), installs it from there into a
# temporary --tool-path and runs the installed tool outside the repository: `dfer --version`, `dfer devices`
# and `dfer infer --model expression` with a PNG timeline on the demo video (scripts/make-demo-video.sh:
# FFmpeg and npm, as for the README's first command). Any failure stops the script with a non-zero exit
# (README, "Install as a .NET tool").
#
# The build for the package goes to artifacts/build (not the projects' bin/ and obj/), as a
# ContinuousIntegrationBuild: deterministic, with repository-relative paths in the PDBs.
# NuGet caches a package by id and version (~/.nuget/packages/dfer/VERSION), so a re-pack of the same
# version could install a stale copy from there: the install uses a private NuGet configuration (only
# artifacts/ as a source, no network) and a private, empty NUGET_PACKAGES folder, both removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

fail() { echo "pack-tool: $*" >&2; exit 1; }
command -v dotnet >/dev/null 2>&1 || fail "the .NET 10 SDK is required (dotnet not on PATH)"
version="$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)"
[[ -n "$version" ]] || fail "no <Version> in Directory.Build.props"
start=$SECONDS

rm -f artifacts/dfer.*.nupkg artifacts/dfer.*.snupkg
dotnet pack src/Dfer.Cli -c Release -o artifacts --artifacts-path artifacts/build \
    -p:ContinuousIntegrationBuild=true -nologo -v:quiet
package="artifacts/dfer.$version.nupkg"
[[ -s "$package" ]] || fail "$package was not made"
[[ -s "artifacts/dfer.$version.snupkg" ]] || fail "artifacts/dfer.$version.snupkg (symbols) was not made"
echo "pack-tool: $package ($(du -m "$package" | cut -f1) MB) and its .snupkg"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/nuget.config" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="dfer-artifacts" value="$repo/artifacts" />
  </packageSources>
</configuration>
EOF
NUGET_PACKAGES="$tmp/packages" dotnet tool install dfer --version "$version" --tool-path "$tmp/tool" \
    --configfile "$tmp/nuget.config" >/dev/null
dfer="$tmp/tool/dfer"
[[ -x "$dfer" ]] || fail "dotnet tool install made no $dfer"

# The demo video before leaving the repository (its script lives here); the tool runs from an empty folder.
video="$(./scripts/make-demo-video.sh)"
cd "$tmp"

printed="$("$dfer" --version)" || fail "dfer --version failed"
[[ "$printed" == "$version" || "$printed" == "$version+"* ]] || fail "dfer --version printed '$printed', not $version"
echo "pack-tool: dfer --version: $printed"

"$dfer" devices >"$tmp/devices.txt" || { cat "$tmp/devices.txt" >&2; fail "dfer devices failed"; }
grep -Eq '^cpu +yes' "$tmp/devices.txt" \
    || { cat "$tmp/devices.txt" >&2; fail "dfer devices lists no available cpu backend"; }

# A PNG timeline too: it draws through SkiaSharp's native library, which the package must carry.
"$dfer" infer --model expression "$video" --timeline "$tmp/timeline.png" >"$tmp/infer.txt" \
    || { cat "$tmp/infer.txt" >&2; fail "dfer infer --model expression failed"; }
first="$(head -n 1 "$tmp/infer.txt")"
[[ "$first" == "$video: happy ("* ]] || { cat "$tmp/infer.txt" >&2; fail "the demo video was not read as happy"; }
[[ "$(head -c 8 "$tmp/timeline.png" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]] \
    || fail "dfer infer --timeline wrote no PNG"
echo "pack-tool: dfer infer --model expression: $first"
echo "pack-tool: the installed tool works ($((SECONDS - start)) s)"
