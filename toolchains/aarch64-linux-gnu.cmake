# Target description for 64-bit ARM Linux (Raspberry Pi OS 64-bit, most ARM gateways), using
# Debian's crossbuild-essential-arm64 and the :arm64 -dev packages installed beside amd64
# (scripts/install-cross-deps.sh). Describes the target only: no project flags here.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
# libsimdjson-dev is not Multi-Arch: same on Debian 12; the install script unpacks its arm64
# build here instead of replacing the amd64 one.
list(APPEND CMAKE_PREFIX_PATH /opt/processnow-cross/aarch64/usr)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
