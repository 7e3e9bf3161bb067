#!/usr/bin/env bash
# Packs Dfer's two packages into artifacts/ and checks each the way a user meets it (README, "Three doors"):
#   - the library `Dfer` (src/Dfer): Dfer.VERSION.nupkg + .snupkg. Its ref/ folder must hold only
#     Dfer.Library.dll (the public API; the engine in lib/ is run-time only). samples/Dfer.Sample, copied outside
#     the repository, is restored from artifacts/ and run on the demo video: it must read the video as happy.
#   - the .NET tool `Dfer.Tool` (src/Dfer.Cli, command `dfer`): Dfer.Tool.VERSION.nupkg + .snupkg, installed into a
#     temporary --tool-path and run outside the repository: `dfer --version`, `dfer devices` and
#     `dfer infer --model expression` with a PNG timeline on the demo video.
# The demo video needs FFmpeg and npm, as for the README's first command. Any failure stops the script with a
# non-zero exit.
#
# The builds for the packages go to artifacts/build (not the projects' bin/ and obj/), as a
# ContinuousIntegrationBuild: deterministic, with repository-relative paths in the PDBs.
# NuGet caches a package by id and version (~/.nuget/packages/ID/VERSION), so a re-pack of the same version could
# be served stale from there: restores and installs here use a private NuGet configuration (artifacts/ first, then
# the machine's global package folder as an offline source for the dependencies) and a private, empty
# NUGET_PACKAGES folder, both removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

fail() { echo "pack: $*" >&2; exit 1; }
command -v dotnet >/dev/null 2>&1 || fail "the .NET 10 SDK is required (dotnet not on PATH)"
version="$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)"
[[ -n "$version" ]] || fail "no <Version> in Directory.Build.props"
start=$SECONDS

rm -f artifacts/*.nupkg artifacts/*.snupkg
for project in src/Dfer src/Dfer.Cli; do
    dotnet pack "$project" -c Release -o artifacts --artifacts-path artifacts/build \
        -p:ContinuousIntegrationBuild=true -nologo -v:quiet
done
for id in Dfer Dfer.Tool; do
    [[ -s "artifacts/$id.$version.nupkg" ]] || fail "artifacts/$id.$version.nupkg was not made"
    [[ -s "artifacts/$id.$version.snupkg" ]] || fail "artifacts/$id.$version.snupkg (symbols) was not made"
    echo "pack: artifacts/$id.$version.nupkg ($(du -m "artifacts/$id.$version.nupkg" | cut -f1) MB) and its .snupkg"
done
# The listings are read whole before they are searched: `unzip | grep -q` under pipefail fails at random when grep
# exits at its first match and unzip, still writing, dies of SIGPIPE.
listing="$(unzip -Z1 "artifacts/Dfer.$version.nupkg")" || fail "artifacts/Dfer.$version.nupkg is not a readable zip"
symbols="$(unzip -Z1 "artifacts/Dfer.$version.snupkg")" || fail "artifacts/Dfer.$version.snupkg is not a readable zip"
# What code that references the library compiles against: its API and nothing of the engine.
refs="$(grep '^ref/' <<<"$listing" | sort | tr '\n' ' ')"
[[ "$refs" == "ref/net10.0/Dfer.Library.dll ref/net10.0/Dfer.Library.xml " ]] \
    || fail "the library's ref/ folder holds '$refs', not just Dfer.Library.dll and its XML docs"
grep -qx 'lib/net10.0/Dfer.Engine.dll' <<<"$listing" || fail "the library package lacks lib/net10.0/Dfer.Engine.dll"
grep -qx 'lib/net10.0/Dfer.Engine.pdb' <<<"$symbols" \
    || fail "the library's symbols package lacks lib/net10.0/Dfer.Engine.pdb"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/nuget.config" <<EOF2
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="dfer-artifacts" value="$repo/artifacts" />
    <add key="global-packages" value="$(dotnet nuget locals global-packages --list | sed 's/^global-packages: *//')" />
  </packageSources>
</configuration>
EOF2
export NUGET_PACKAGES="$tmp/packages"

# The demo video before leaving the repository (its script lives here).
video="$(./scripts/make-demo-video.sh)"

# The library, as a user's project references it.
cp -r samples/Dfer.Sample "$tmp/sample"
rm -rf "$tmp/sample/bin" "$tmp/sample/obj"
(cd "$tmp/sample" && dotnet restore -p:DferVersion="$version" --configfile "$tmp/nuget.config" -nologo -v:quiet \
    && dotnet build --no-restore -c Release -p:DferVersion="$version" -nologo -v:quiet >/dev/null) \
    || fail "samples/Dfer.Sample does not build against the packed library"
(cd "$tmp" && dotnet "$tmp/sample/bin/Release/net10.0/Dfer.Sample.dll" "$video" >"$tmp/sample.txt") \
    || { cat "$tmp/sample.txt" >&2; fail "samples/Dfer.Sample failed on the demo video"; }
first="$(head -n 1 "$tmp/sample.txt")"
[[ "$first" == "$video: happy ("* ]] || { cat "$tmp/sample.txt" >&2; fail "the sample did not read the video as happy"; }
echo "pack: samples/Dfer.Sample on the packed library: $first, $(($(wc -l <"$tmp/sample.txt") - 1)) timeline lines"

# The tool.
dotnet tool install Dfer.Tool --version "$version" --tool-path "$tmp/tool" --configfile "$tmp/nuget.config" \
    >/dev/null
dfer="$tmp/tool/dfer"
[[ -x "$dfer" ]] || fail "dotnet tool install made no $dfer"
cd "$tmp"

printed="$("$dfer" --version)" || fail "dfer --version failed"
[[ "$printed" == "$version" || "$printed" == "$version+"* ]] || fail "dfer --version printed '$printed', not $version"
echo "pack: dfer --version: $printed"

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
echo "pack: dfer infer --model expression: $first"
echo "pack: the library, the sample and the installed tool work ($((SECONDS - start)) s)"
