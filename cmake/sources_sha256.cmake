# Writes OUT = one line: the lowercase hex SHA-256 of the text `sha256sum NAME.cu H1.cuh H2.cuh ...` prints in
# KERNEL_DIR, i.e. "<sha256 of the file>  <file name>\n" for NAME.cu and then every *.cuh in ordinal (byte-wise)
# name order. Dfer's KernelSources.Sha256 computes the same over its embedded copies, so the engine can tell
# whether prebuilt kernels match the sources it carries. Reproduce by hand:
#   (cd native/kernels && sha256sum conv3d.cu common.cuh | sha256sum)
# Each file is hashed with file(SHA256), which is byte-exact; reading sources into CMake strings is not
# (file(READ) drops the CR of CRLF line ends).
#   cmake -DKERNEL_DIR=native/kernels -DNAME=conv3d -DOUT=build/kernels/conv3d.sources.sha256 -P cmake/sources_sha256.cmake
foreach(v KERNEL_DIR NAME OUT)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "sources_sha256.cmake: -D${v}=... is required")
  endif()
endforeach()
file(GLOB headers LIST_DIRECTORIES false RELATIVE "${KERNEL_DIR}" "${KERNEL_DIR}/*.cuh")
list(SORT headers COMPARE STRING)
set(listing "")
foreach(f "${NAME}.cu" ${headers})
  file(SHA256 "${KERNEL_DIR}/${f}" h)
  string(APPEND listing "${h}  ${f}\n")
endforeach()
string(SHA256 hash "${listing}")
file(WRITE "${OUT}" "${hash}\n")
