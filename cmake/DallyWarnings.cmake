# dally_target_warnings(<target>)
#
# Turns on the warning set every dally target is held to (-Wall -Wextra -Wpedantic), and
# -Werror when DALLY_WERROR is ON (all CMakePresets.json presets, hence CI). The flags are
# PRIVATE: they apply to the target's own sources, never to the code of its consumers.
include_guard(GLOBAL)

function(dally_target_warnings tgt)
  if(NOT TARGET ${tgt})
    message(FATAL_ERROR "dally_target_warnings: '${tgt}' is not a target")
  endif()
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(WARNING "dally_target_warnings: unknown compiler '${CMAKE_CXX_COMPILER_ID}', "
                    "no warning flags added to ${tgt}")
    return()
  endif()
  set(flags -Wall -Wextra -Wpedantic)
  if(DALLY_WERROR)
    list(APPEND flags -Werror)
  endif()
  target_compile_options(${tgt} PRIVATE "$<$<COMPILE_LANGUAGE:C,CXX>:${flags}>")
endfunction()
