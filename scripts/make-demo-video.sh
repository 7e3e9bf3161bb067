#!/usr/bin/env bash
# Makes the demo clip from a photo that ships with @vladmandic/face-api (fetched by
# fetch-face-api.sh; no photo is kept in this repository): a 3-second, 25 frames/s slow zoom
# from a group of three towards the middle face of demo/sample3.jpg. Idempotent: prints the
# video's path, making it only when it is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="$("$here/fetch-face-api.sh")"
out="$dir/demo-video/sample3-zoom.mp4"
if [[ ! -s "$out" ]]; then
    command -v ffmpeg >/dev/null 2>&1 || { echo "error: ffmpeg is needed to make the demo video (Debian: apt-get install ffmpeg)" >&2; exit 1; }
    mkdir -p "$dir/demo-video"
    # Upscale first so zoompan's integer crop offsets move smoothly; zoom 1.5 → 2.7 around (0.55, 0.24).
    ffmpeg -v error -y -loop 1 -i "$dir/demo/sample3.jpg" -frames:v 75 \
        -vf "scale=3840:-2,zoompan=z='1.5+0.016*on':x='iw*0.55-iw/zoom/2':y='ih*0.24-ih/zoom/2':d=1:s=640x480:fps=25" \
        -pix_fmt yuv420p "$out.tmp.mp4"
    mv "$out.tmp.mp4" "$out"
    echo "demo video written to $out" >&2
fi
echo "$out"
