# syntax=docker/dockerfile:1
# The image of `dfer serve`, the Open Inference Protocol (KServe v2) server, and of dataset runs (`dfer infer
# --dataset --shard I/N`, `dfer merge`): docs/deploy.md walks through building, running and deploying it.
#
#   docker build -t dfer .                                   # cpu, ilgpu-cuda (a GPU needs only its driver)
#   docker build --build-arg KERNELS=cuda -t dfer:cuda .     # also --backend cuda: prebuilt CUDA kernels
#
# Stages: build (the CLI, framework-dependent), face-api (the pretrained face-api weights, from npm), kernels-none or
# kernels-cuda (picked by KERNELS; only the one picked is built), and the runtime image, last.

# none: no prebuilt CUDA kernels (--backend cuda then needs NVRTC, which the image lacks); cuda: build them with nvcc.
ARG KERNELS=none
# The commit being built, recorded in every results file's dfer_version: --build-arg SOURCE_REVISION=$(git rev-parse
# HEAD). The build context has no .git (.dockerignore), so without it the version is the bare 0.1.0.
ARG SOURCE_REVISION=

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG SOURCE_REVISION
WORKDIR /src
COPY . .
RUN dotnet publish src/Dfer.Cli -c Release -o /app --no-self-contained -p:UseAppHost=false \
        ${SOURCE_REVISION:+-p:SourceRevisionId=$SOURCE_REVISION}

# `infer --model expression` and the face stage of every model run face-api's pretrained networks; the engine reads
# them from $DFER_FACE_API (src/Dfer.Engine/Weights/TfJs/FaceApiPackage.cs, docs/environment.md), the folder
# scripts/fetch-face-api.sh fills from the npm package.
FROM node:22-bookworm-slim AS face-api
COPY scripts/fetch-face-api.sh /usr/local/bin/fetch-face-api.sh
RUN DFER_FACE_API=/opt/dfer/face-api bash /usr/local/bin/fetch-face-api.sh

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS kernels-none
RUN mkdir -p /kernels

# native/kernels/*.cu as PTX and sm_80/sm_90 cubins (CMakeLists.txt), with the source hashes the engine checks them
# against; the engine finds them in kernels/ next to Dfer.Engine.dll (src/Dfer.Engine/Devices/Cuda/KernelLocator.cs).
FROM nvidia/cuda:12.6.3-devel-ubuntu24.04 AS kernels-cuda
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY native/kernels native/kernels
RUN cmake -S . -B build && cmake --build build -j "$(nproc)" && mkdir -p /kernels && cp build/kernels/* /kernels/

FROM kernels-${KERNELS} AS kernels

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
# FFmpeg decodes video files (src/Dfer.Engine/Media/VideoDecoder.cs runs ffmpeg and ffprobe).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /app /app
COPY --from=kernels /kernels /app/kernels
COPY --from=face-api /opt/dfer/face-api /opt/dfer/face-api
ENV DFER_FACE_API=/opt/dfer/face-api \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
# 1654 is the unprivileged 'app' user of the .NET images; a number, so that Kubernetes' runAsNonRoot can verify it.
USER 1654
WORKDIR /home/app
EXPOSE 8080 8081
# No HEALTHCHECK: the image has no curl or wget to call /v2/health/ready with, and installing one only for that would
# widen it. Kubernetes probes the HTTP endpoints itself (deploy/kserve/cluster-serving-runtime.yaml), and with plain
# Docker, `curl localhost:8080/v2/health/ready` from the host does the same (docs/deploy.md).
ENTRYPOINT ["dotnet", "/app/dfer.dll"]
CMD ["serve", "--host", "0.0.0.0", "--http-port", "8080", "--grpc-port", "8081"]
