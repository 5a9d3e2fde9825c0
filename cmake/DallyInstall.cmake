# Install rules for dally and dally::web: headers, the two libraries, a CMake package with an
# optional `web` component, and a pkg-config file for each library.
#
# After `cmake --install <build> --prefix <p>`, a consumer can use either
#   find_package(dally 0.1 REQUIRED)          # with CMAKE_PREFIX_PATH=<p>
#   target_link_libraries(app PRIVATE dally::dally)
# or
#   c++ -std=c++20 main.cpp $(pkg-config --cflags --libs dally)   # PKG_CONFIG_PATH=<p>/<libdir>/pkgconfig
# and for the HTTP/WebSocket library
#   find_package(dally 0.1 REQUIRED COMPONENTS web)
#   target_link_libraries(app PRIVATE dally::web)         # brings dally::dally along
# or
#   c++ -std=c++20 main.cpp $(pkg-config --cflags --libs dally-web)
# The core package file (dallyTargets.cmake) never mentions web, so a consumer of dally::dally
# alone needs neither OpenSSL nor wslay; dally-web-targets.cmake is read only when the web
# component is asked for. llhttp is compiled into libdally_web (see FindLlhttp.cmake), so
# nothing of it is installed. tests/consumer checks all four ways against a fresh install.
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

get_target_property(_dally_web_type dally_web TYPE)
if(_dally_web_type STREQUAL "STATIC_LIBRARY")
  set(DALLY_WEB_STATIC ON)
  # As for dally above: lib/web/CMakeLists.txt links wslay and libcrypto as
  # $<BUILD_INTERFACE:...>; a static libdally_web.a still needs them at the consumer's link, so
  # the export names them (as $<LINK_ONLY:...>) and dally-config.cmake finds them when the web
  # component is requested. llhttp needs nothing: its objects are inside libdally_web.a.
  target_link_libraries(dally_web PRIVATE
    $<INSTALL_INTERFACE:wslay>
    $<INSTALL_INTERFACE:OpenSSL::Crypto>)
else()
  set(DALLY_WEB_STATIC OFF)
endif()
unset(_dally_web_type)

# --- headers and libraries -------------------------------------------------------------------
# All of include/dally, dally/web (and its detail/) included: they are one include tree.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/dally"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

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

# A separate export set, so that dallyTargets.cmake stays free of the web dependencies. Its
# include directory comes with dally::dally.
install(TARGETS dally_web EXPORT dallyWebTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")

# --- CMake package ---------------------------------------------------------------------------
install(EXPORT dallyTargets
  NAMESPACE dally::
  FILE dallyTargets.cmake
  DESTINATION "${DALLY_INSTALL_CMAKEDIR}")
# dally::web refers to dally::dally, which this file expects dallyTargets.cmake to have
# defined first; dally-config.cmake includes it after that one.
install(EXPORT dallyWebTargets
  NAMESPACE dally::
  FILE dally-web-targets.cmake
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
# dally-web.pc: dally and fmt are always Requires (public: dally/web/json.hpp uses fmt). libcrypto
# and wslay follow the same rule as above; wslay has no .pc file, so it is a -l flag in Libs
# (static) or Libs.private (shared). llhttp is inside libdally_web.
set(DALLY_WEB_PC_REQUIRES "Requires: dally = ${PROJECT_VERSION}, fmt")
if(DALLY_WEB_STATIC)
  string(APPEND DALLY_WEB_PC_REQUIRES ", libcrypto")
  set(DALLY_WEB_PC_REQUIRES_PRIVATE "")
  set(DALLY_WEB_PC_LIBS " -lwslay")
  set(DALLY_WEB_PC_LIBS_PRIVATE "")
else()
  set(DALLY_WEB_PC_REQUIRES_PRIVATE "Requires.private: libcrypto")
  set(DALLY_WEB_PC_LIBS "")
  set(DALLY_WEB_PC_LIBS_PRIVATE "Libs.private: -lwslay")
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
# one), so each file is configured twice: everything but the prefix now, the prefix on install.
set(DALLY_PC_PREFIX "@DALLY_PC_PREFIX@")
foreach(_pc dally dally-web)
  configure_file("${CMAKE_CURRENT_LIST_DIR}/${_pc}.pc.in"
                 "${PROJECT_BINARY_DIR}/dally-pc/${_pc}.pc.in" @ONLY)
  install(CODE "
    set(DALLY_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
    configure_file(\"${PROJECT_BINARY_DIR}/dally-pc/${_pc}.pc.in\"
                   \"${PROJECT_BINARY_DIR}/dally-pc/${_pc}.pc\" @ONLY)
  ")
  install(FILES "${PROJECT_BINARY_DIR}/dally-pc/${_pc}.pc"
          DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
endforeach()
unset(_pc)
