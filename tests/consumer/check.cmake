# Driven by tests/consumer/CMakeLists.txt (the consumer_find_package test), in script mode:
#   1. cmake --install DALLY_BUILD_DIR into WORK_DIR/prefix
#   2. configure, build and run PROJECT_DIR against it via find_package(dally): `consumer`
#      (main.cpp, the core alone) and `web_consumer` (web_main.cpp, COMPONENTS web)
#   3. compile and run PROJECT_DIR/main.cpp with `pkg-config --cflags --libs dally`, and
#      PROJECT_DIR/web_main.cpp with `pkg-config --cflags --libs dally-web`
# Any failing step fails the test with a message naming the step.
cmake_minimum_required(VERSION 3.25)

foreach(var DALLY_BUILD_DIR INSTALL_LIBDIR PROJECT_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check.cmake: -D${var}=... is required")
  endif()
endforeach()

set(prefix "${WORK_DIR}/prefix")
set(consumer_build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# run(<what> <command>...): runs a command, output to the test log, fatal on failure.
function(run what)
  message(STATUS "consumer: ${what}")
  execute_process(COMMAND ${ARGN}
                  WORKING_DIRECTORY "${WORK_DIR}"
                  RESULT_VARIABLE rc
                  TIMEOUT 240)
  if(NOT rc STREQUAL "0")
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "consumer: ${what} failed (${rc})\n  command: ${cmd}")
  endif()
endfunction()

# --- 1. install ------------------------------------------------------------------------------
set(config_args "")
if(DALLY_CONFIG)
  set(config_args --config "${DALLY_CONFIG}")
endif()
run("install dally into ${prefix}"
    "${CMAKE_COMMAND}" --install "${DALLY_BUILD_DIR}" --prefix "${prefix}" ${config_args})

# --- 2. find_package -------------------------------------------------------------------------
set(build_type_arg "")
if(DALLY_CONFIG)
  set(build_type_arg "-DCMAKE_BUILD_TYPE=${DALLY_CONFIG}")
endif()
run("configure the consumer project (find_package)"
    "${CMAKE_COMMAND}" -S "${PROJECT_DIR}" -B "${consumer_build}" -G "${GENERATOR}"
    "-DCMAKE_PREFIX_PATH=${prefix}"
    "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
    "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
    "-DCMAKE_EXE_LINKER_FLAGS=${EXE_LINKER_FLAGS}"
    ${build_type_arg})

# Make sure the package came from the fresh prefix, not from a dally installed on the system.
file(STRINGS "${consumer_build}/CMakeCache.txt" dally_dir_line REGEX "^dally_DIR:")
string(REGEX REPLACE "^dally_DIR:[A-Z]+=" "" dally_dir "${dally_dir_line}")
file(REAL_PATH "${prefix}" real_prefix)
file(REAL_PATH "${dally_dir}" real_dally_dir)
string(FIND "${real_dally_dir}" "${real_prefix}/" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "consumer: find_package(dally) used '${dally_dir}', not the test "
                      "prefix '${prefix}'")
endif()

run("build the consumer project" "${CMAKE_COMMAND}" --build "${consumer_build}")
run("run the find_package consumer" "${consumer_build}/consumer")
run("run the find_package web consumer" "${consumer_build}/web_consumer")

# --- 3. pkg-config ---------------------------------------------------------------------------
if(NOT PKG_CONFIG)
  message(FATAL_ERROR "consumer: pkg-config was not found when dally was configured; "
                      "install it (scripts/install-deps.sh) to test dally.pc")
endif()
set(ENV{PKG_CONFIG_PATH} "${prefix}/${INSTALL_LIBDIR}/pkgconfig")
separate_arguments(cxx_flags UNIX_COMMAND "${CXX_FLAGS} ${EXE_LINKER_FLAGS}")

# pc_consumer(<module> <source> <exe>): compiles <source> with the module's flags and runs it.
function(pc_consumer module source exe)
  execute_process(COMMAND "${PKG_CONFIG}" --cflags --libs ${module}
                  OUTPUT_VARIABLE pc_flags
                  RESULT_VARIABLE rc
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "consumer: pkg-config --cflags --libs ${module} failed (${rc}), "
                        "PKG_CONFIG_PATH=$ENV{PKG_CONFIG_PATH}")
  endif()
  message(STATUS "consumer: pkg-config --cflags --libs ${module}: ${pc_flags}")
  separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
  run("compile ${source} with pkg-config ${module} flags"
      "${CXX_COMPILER}" -std=c++20 ${cxx_flags} "${PROJECT_DIR}/${source}"
      -o "${WORK_DIR}/${exe}" ${pc_flags}
      # pkg-config gives no run path; shared libraries in the temp prefix need one.
      "-Wl,-rpath,${prefix}/${INSTALL_LIBDIR}")
  run("run the pkg-config ${module} consumer" "${WORK_DIR}/${exe}")
endfunction()

pc_consumer(dally main.cpp consumer_pc)
pc_consumer(dally-web web_main.cpp web_consumer_pc)

message(STATUS "consumer: find_package(dally [COMPONENTS web]) and pkg-config dally, "
               "dally-web all work")
