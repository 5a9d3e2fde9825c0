# FindLiburing
# ------------
# Finds liburing, the io_uring userspace library (Debian: liburing-dev).
#
# Imported target:
#   Liburing::Liburing
# Result variables:
#   Liburing_FOUND, Liburing_VERSION, Liburing_INCLUDE_DIRS, Liburing_LIBRARIES
# Cache variables:
#   Liburing_INCLUDE_DIR, Liburing_LIBRARY
#
# pkg-config (`liburing`) is asked first; without it, or when it does not know the package,
# the header and library are searched for in the usual places. dally installs this file next
# to its package config, which uses it to link a static libdally.

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_Liburing QUIET IMPORTED_TARGET liburing)
endif()

# Also run when pkg-config found it: the paths feed the result variables and the fallback.
find_path(Liburing_INCLUDE_DIR NAMES liburing.h HINTS ${PC_Liburing_INCLUDE_DIRS})
find_library(Liburing_LIBRARY NAMES uring HINTS ${PC_Liburing_LIBRARY_DIRS})
mark_as_advanced(Liburing_INCLUDE_DIR Liburing_LIBRARY)

if(PC_Liburing_FOUND)
  set(Liburing_VERSION "${PC_Liburing_VERSION}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Liburing
  REQUIRED_VARS Liburing_LIBRARY Liburing_INCLUDE_DIR
  VERSION_VAR Liburing_VERSION)

if(Liburing_FOUND)
  set(Liburing_INCLUDE_DIRS "${Liburing_INCLUDE_DIR}")
  set(Liburing_LIBRARIES "${Liburing_LIBRARY}")
  if(NOT TARGET Liburing::Liburing)
    if(TARGET PkgConfig::PC_Liburing)
      # Wrap rather than alias: dally's exported targets name Liburing::Liburing, so that
      # name, not PkgConfig's, must be what consumers see.
      add_library(Liburing::Liburing INTERFACE IMPORTED)
      set_target_properties(Liburing::Liburing PROPERTIES
        INTERFACE_LINK_LIBRARIES PkgConfig::PC_Liburing)
    else()
      add_library(Liburing::Liburing UNKNOWN IMPORTED)
      set_target_properties(Liburing::Liburing PROPERTIES
        IMPORTED_LOCATION "${Liburing_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${Liburing_INCLUDE_DIR}")
    endif()
  endif()
endif()
