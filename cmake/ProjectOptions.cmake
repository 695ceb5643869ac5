# Warnings and sanitizers as INTERFACE targets: link them, never set global flags.
add_library(pn_warnings INTERFACE)
add_library(pn::warnings ALIAS pn_warnings)
target_compile_options(pn_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
  -Wimplicit-fallthrough)
if(PN_WERROR)
  target_compile_options(pn_warnings INTERFACE -Werror)
endif()
# 32-bit ARM GCC notes that passing some structs "changed in GCC 7.1" (hundreds of lines): only
# code mixed with objects from GCC < 7 could mind, and everything here is built with GCC 12.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_SYSTEM_PROCESSOR MATCHES "^arm")
  target_compile_options(pn_warnings INTERFACE -Wno-psabi)
endif()

add_library(pn_sanitizers INTERFACE)
add_library(pn::sanitizers ALIAS pn_sanitizers)
if(PN_SANITIZE)
  target_compile_options(pn_sanitizers INTERFACE -fsanitize=address,undefined
    -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(pn_sanitizers INTERFACE -fsanitize=address,undefined)
endif()
