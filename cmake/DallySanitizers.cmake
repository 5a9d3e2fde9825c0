# Sanitizer builds, driven by the cache variable DALLY_SANITIZE:
#   ""                   no sanitizers (default)
#   "address,undefined"  ASan + UBSan (the `asan` preset)
#   "thread"             TSan (the `tsan` preset)
#
# The flags are added to every target in the build (add_compile_options/add_link_options),
# so tests, examples and third-party code built here are instrumented alike. UBSan is made
# fatal (-fno-sanitize-recover=all): a finding fails the test instead of scrolling past.
#
# Sets DALLY_SANITIZER_FLAGS (a list, empty when off) for code that builds outside this
# project but links against it, such as the find_package consumer test.
include_guard(GLOBAL)

set(DALLY_SANITIZE "" CACHE STRING "Sanitizers: '', 'address,undefined' or 'thread'")
set_property(CACHE DALLY_SANITIZE PROPERTY STRINGS "" "address,undefined" "thread")

set(DALLY_SANITIZER_FLAGS "")

if(NOT DALLY_SANITIZE STREQUAL "")
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "DALLY_SANITIZE needs GCC or Clang, not ${CMAKE_CXX_COMPILER_ID}")
  endif()

  string(REPLACE "," ";" _dally_san_list "${DALLY_SANITIZE}")
  foreach(_san IN LISTS _dally_san_list)
    if(NOT _san MATCHES "^(address|undefined|leak|thread)$")
      message(FATAL_ERROR "DALLY_SANITIZE: unknown sanitizer '${_san}' in '${DALLY_SANITIZE}' "
                          "(use '', 'address,undefined' or 'thread')")
    endif()
  endforeach()
  if("thread" IN_LIST _dally_san_list AND
     ("address" IN_LIST _dally_san_list OR "leak" IN_LIST _dally_san_list))
    message(FATAL_ERROR "DALLY_SANITIZE: 'thread' cannot be combined with 'address' or 'leak'")
  endif()

  list(APPEND DALLY_SANITIZER_FLAGS "-fsanitize=${DALLY_SANITIZE}" -fno-omit-frame-pointer -g)
  if("undefined" IN_LIST _dally_san_list)
    list(APPEND DALLY_SANITIZER_FLAGS -fno-sanitize-recover=all)
  endif()

  add_compile_options(${DALLY_SANITIZER_FLAGS})
  add_link_options(${DALLY_SANITIZER_FLAGS})
  message(STATUS "dally: sanitizers enabled: ${DALLY_SANITIZE}")

  unset(_dally_san_list)
  unset(_san)
endif()
