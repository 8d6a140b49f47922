cmake_minimum_required(VERSION 3.25)
# Writes OUT, a header naming the commit the sources are at (`git describe --always
# --dirty`, "unknown" outside a git checkout), only when that changed: run by the
# `portal_version_header` target on every build, so that --version and /metrics
# name what was built, and only version.cc recompiles after a commit.
#   cmake -DROOT=<source dir> -DOUT=<header> -P tools/version.cmake
execute_process(
  COMMAND git -C "${ROOT}" describe --always --dirty --abbrev=12
  OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE status)
if(NOT status EQUAL 0 OR commit STREQUAL "")
  set(commit "unknown")
endif()
set(text "#pragma once\n// Made by tools/version.cmake at build time.\n#define PORTAL_COMMIT \"${commit}\"\n")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
