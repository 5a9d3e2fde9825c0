# FindFmt
# -------
# Finds the {fmt} formatting library (Debian: libfmt-dev).
#
# Imported target:
#   Fmt::Fmt
# Result variables:
#   Fmt_FOUND, Fmt_VERSION, Fmt_INCLUDE_DIRS, Fmt_LIBRARIES
# Cache variables:
#   Fmt_INCLUDE_DIR, Fmt_LIBRARY
#
# pkg-config (`fmt`) is asked first; without it, or when it does not know the package, the
# header and library are searched for in the usual places (the version then comes from
# FMT_VERSION in fmt/core.h). dally installs this file next to its package config, which
# uses it to link a static libdally.

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_Fmt QUIET IMPORTED_TARGET fmt)
endif()

# Also run when pkg-config found it: the paths feed the result variables and the fallback.
find_path(Fmt_INCLUDE_DIR NAMES fmt/core.h HINTS ${PC_Fmt_INCLUDE_DIRS})
find_library(Fmt_LIBRARY NAMES fmt HINTS ${PC_Fmt_LIBRARY_DIRS})
mark_as_advanced(Fmt_INCLUDE_DIR Fmt_LIBRARY)

if(PC_Fmt_FOUND)
  set(Fmt_VERSION "${PC_Fmt_VERSION}")
elseif(Fmt_INCLUDE_DIR AND EXISTS "${Fmt_INCLUDE_DIR}/fmt/core.h")
  # FMT_VERSION is major * 10000 + minor * 100 + patch.
  file(STRINGS "${Fmt_INCLUDE_DIR}/fmt/core.h" _fmt_version_line
       REGEX "^#define[ \t]+FMT_VERSION[ \t]+[0-9]+")
  if(_fmt_version_line MATCHES "FMT_VERSION[ \t]+([0-9]+)")
    math(EXPR _fmt_major "${CMAKE_MATCH_1} / 10000")
    math(EXPR _fmt_minor "${CMAKE_MATCH_1} % 10000 / 100")
    math(EXPR _fmt_patch "${CMAKE_MATCH_1} % 100")
    set(Fmt_VERSION "${_fmt_major}.${_fmt_minor}.${_fmt_patch}")
  endif()
  unset(_fmt_version_line)
  unset(_fmt_major)
  unset(_fmt_minor)
  unset(_fmt_patch)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Fmt
  REQUIRED_VARS Fmt_LIBRARY Fmt_INCLUDE_DIR
  VERSION_VAR Fmt_VERSION)

if(Fmt_FOUND)
  set(Fmt_INCLUDE_DIRS "${Fmt_INCLUDE_DIR}")
  set(Fmt_LIBRARIES "${Fmt_LIBRARY}")
  if(NOT TARGET Fmt::Fmt)
    if(TARGET PkgConfig::PC_Fmt)
      # Wrap rather than alias: dally's exported targets name Fmt::Fmt, so that name, not
      # PkgConfig's, must be what consumers see.
      add_library(Fmt::Fmt INTERFACE IMPORTED)
      set_target_properties(Fmt::Fmt PROPERTIES INTERFACE_LINK_LIBRARIES PkgConfig::PC_Fmt)
    else()
      add_library(Fmt::Fmt UNKNOWN IMPORTED)
      set_target_properties(Fmt::Fmt PROPERTIES
        IMPORTED_LOCATION "${Fmt_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${Fmt_INCLUDE_DIR}")
    endif()
  endif()
endif()
