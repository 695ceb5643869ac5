# Target description for 32-bit ARM Linux, hard-float (armhf: Raspberry Pi OS 32-bit, ARMv7
# boards), using Debian's crossbuild-essential-armhf and a sysroot of Debian armhf -dev packages
# built with mmdebstrap (scripts/install-armhf-sysroot.sh; dpkg gets no armhf architecture).
# Describes the target only: no project flags here. The code is generated for the compiler's
# default, Debian armhf's: -march=armv7-a+fp -mfloat-abi=hard -mthumb (so not ARMv6: Pi Zero/1).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)
set(CMAKE_LIBRARY_ARCHITECTURE arm-linux-gnueabihf)
set(CMAKE_SYSROOT /opt/processnow-cross/armhf/sysroot)
# pkg-config reads the sysroot's .pc files and prefixes the paths they give with the sysroot.
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${CMAKE_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR}
    "${CMAKE_SYSROOT}/usr/lib/arm-linux-gnueabihf/pkgconfig:${CMAKE_SYSROOT}/usr/share/pkgconfig")
# Everything the target links or includes comes from the sysroot (header-only packages too);
# programs (pkg-config, python3 for the tests) from the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
