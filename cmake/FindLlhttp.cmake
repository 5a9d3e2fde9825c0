# FindLlhttp
# ----------
# Finds llhttp's C sources (Debian ships them, not a library, in package node-llhttp:
# /usr/share/llhttp/{llhttp,api,http}.c and /usr/share/include/llhttp/llhttp.h) and compiles
# them in this build. Nothing is copied into the repository.
#
# Target:
#   Llhttp::Llhttp   an OBJECT library (dally_llhttp): whatever links it directly gets the
#                    three object files in its own archive or shared object. That is how
#                    libdally_web carries llhttp, so an installed dally::web needs no llhttp
#                    of its own and dally_llhttp is never installed.
# Result variables:
#   Llhttp_FOUND, Llhttp_VERSION, Llhttp_INCLUDE_DIR, Llhttp_SOURCE_DIR

find_path(Llhttp_INCLUDE_DIR NAMES llhttp.h
  PATHS /usr/share/include/llhttp /usr/local/share/include/llhttp
  PATH_SUFFIXES llhttp)
find_path(Llhttp_SOURCE_DIR NAMES llhttp.c api.c http.c
  PATHS /usr/share/llhttp /usr/local/share/llhttp)
mark_as_advanced(Llhttp_INCLUDE_DIR Llhttp_SOURCE_DIR)

if(Llhttp_INCLUDE_DIR AND EXISTS "${Llhttp_INCLUDE_DIR}/llhttp.h")
  file(STRINGS "${Llhttp_INCLUDE_DIR}/llhttp.h" _llhttp_lines
       REGEX "^#define LLHTTP_VERSION_(MAJOR|MINOR|PATCH) ")
  foreach(_part MAJOR MINOR PATCH)
    string(REGEX REPLACE ".*LLHTTP_VERSION_${_part} ([0-9]+).*" "\\1" _llhttp_${_part} "${_llhttp_lines}")
  endforeach()
  set(Llhttp_VERSION "${_llhttp_MAJOR}.${_llhttp_MINOR}.${_llhttp_PATCH}")
  unset(_llhttp_lines)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Llhttp
  REQUIRED_VARS Llhttp_INCLUDE_DIR Llhttp_SOURCE_DIR
  VERSION_VAR Llhttp_VERSION)

if(Llhttp_FOUND AND NOT TARGET Llhttp::Llhttp)
  add_library(dally_llhttp OBJECT
    "${Llhttp_SOURCE_DIR}/llhttp.c"
    "${Llhttp_SOURCE_DIR}/api.c"
    "${Llhttp_SOURCE_DIR}/http.c")
  target_include_directories(dally_llhttp SYSTEM PUBLIC "${Llhttp_INCLUDE_DIR}")
  set_target_properties(dally_llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON C_STANDARD 99)
  # Generated third-party code: not ours to warn about.
  target_compile_options(dally_llhttp PRIVATE -w)
  add_library(Llhttp::Llhttp ALIAS dally_llhttp)
endif()
