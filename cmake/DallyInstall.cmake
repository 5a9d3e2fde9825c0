# Install rules for dally: headers, the library, a CMake package and a pkg-config file.
#
# After `cmake --install <build> --prefix <p>`, a consumer can use either
#   find_package(dally 0.1 REQUIRED)          # with CMAKE_PREFIX_PATH=<p>
#   target_link_libraries(app PRIVATE dally::dally)
# or
#   c++ -std=c++20 main.cpp $(pkg-config --cflags --libs dally)   # PKG_CONFIG_PATH=<p>/<libdir>/pkgconfig
# tests/consumer checks both against a fresh install.
include_guard(GLOBAL)

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

option(DALLY_INSTALL "Generate dally's install rules" ${PROJECT_IS_TOP_LEVEL})
if(NOT DALLY_INSTALL)
  return()
endif()

set(DALLY_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/dally"
    CACHE STRING "Where dally-config.cmake is installed, relative to the prefix")
mark_as_advanced(DALLY_INSTALL_CMAKEDIR)

get_target_property(_dally_type dally TYPE)
if(_dally_type STREQUAL "STATIC_LIBRARY")
  set(DALLY_STATIC ON)
  # lib/CMakeLists.txt links liburing and fmt as $<BUILD_INTERFACE:...>, which keeps them out
  # of the export. A static libdally.a still needs them on its consumers' link line, so name
  # them for the install export only; CMake exports PRIVATE links of a static library as
  # $<LINK_ONLY:...>, i.e. link dependencies, not usage requirements. dally-config.cmake finds
  # the two targets with the find modules installed next to it.
  target_link_libraries(dally PRIVATE
    $<INSTALL_INTERFACE:Liburing::Liburing>
    $<INSTALL_INTERFACE:Fmt::Fmt>)
else()
  set(DALLY_STATIC OFF)
endif()
unset(_dally_type)

# --- headers and library ---------------------------------------------------------------------
# dally::web is built for this tree's apps and examples only (not installed yet), so its
# headers stay out of the install too.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/dally"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        PATTERN "web" EXCLUDE)

# lib/CMakeLists.txt names $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>, but on a first
# configure it is read before GNUInstallDirs has defined that variable; add the installed
# include directory here unless it is already there.
get_target_property(_dally_includes dally INTERFACE_INCLUDE_DIRECTORIES)
if("$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>" IN_LIST _dally_includes)
  set(_dally_includes_arg "")
else()
  set(_dally_includes_arg INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
endif()
install(TARGETS dally EXPORT dallyTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
  ${_dally_includes_arg})
unset(_dally_includes)
unset(_dally_includes_arg)

# --- CMake package ---------------------------------------------------------------------------
install(EXPORT dallyTargets
  NAMESPACE dally::
  FILE dallyTargets.cmake
  DESTINATION "${DALLY_INSTALL_CMAKEDIR}")

configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/dally-config.cmake.in"
  "${PROJECT_BINARY_DIR}/dally-config.cmake"
  INSTALL_DESTINATION "${DALLY_INSTALL_CMAKEDIR}")
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/dally-config-version.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMajorVersion)

install(FILES
  "${PROJECT_BINARY_DIR}/dally-config.cmake"
  "${PROJECT_BINARY_DIR}/dally-config-version.cmake"
  "${CMAKE_CURRENT_LIST_DIR}/FindLiburing.cmake"
  "${CMAKE_CURRENT_LIST_DIR}/FindFmt.cmake"
  DESTINATION "${DALLY_INSTALL_CMAKEDIR}")

# --- pkg-config ------------------------------------------------------------------------------
# A static libdally.a needs liburing and fmt on every link line, so there they are plain
# Requires (plain `pkg-config --libs dally` must work); a shared libdally.so links them itself,
# so there they are Requires.private and stay off consumers' link lines.
if(DALLY_STATIC)
  set(DALLY_PC_REQUIRES "Requires: liburing fmt")
else()
  set(DALLY_PC_REQUIRES "Requires.private: liburing fmt")
endif()
foreach(_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(DALLY_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(DALLY_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
unset(_dir)

# The prefix is only known at install time (`cmake --install --prefix` overrides the configured
# one), so the file is configured twice: everything but the prefix now, the prefix on install.
set(DALLY_PC_PREFIX "@DALLY_PC_PREFIX@")
configure_file("${CMAKE_CURRENT_LIST_DIR}/dally.pc.in"
               "${PROJECT_BINARY_DIR}/dally-pc/dally.pc.in" @ONLY)
install(CODE "
  set(DALLY_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${PROJECT_BINARY_DIR}/dally-pc/dally.pc.in\"
                 \"${PROJECT_BINARY_DIR}/dally-pc/dally.pc\" @ONLY)
")
install(FILES "${PROJECT_BINARY_DIR}/dally-pc/dally.pc"
        DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
