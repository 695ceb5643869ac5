# Debian package (CPack DEB): `cpack -G DEB` in a build directory gives
# processnow_<version>_<arch>.deb (<arch>: amd64 natively, arm64/armhf from the cross presets;
# scripts/build-packages.sh builds all three) holding
#   /usr/bin/processnow                          the daemon (stripped)
#   /usr/lib/processnow/processnow-http.so       the health endpoint's HTTP module (dlopen)
#   /usr/lib/processnow/processnow-kafka.so      the Kafka upstream's module (dlopen; librdkafka)
#   /usr/lib/systemd/system/processnow.service   the hardened notify unit
#   /usr/lib/sysusers.d/processnow.conf          the system user (and dialout membership)
#   /usr/lib/tmpfiles.d/processnow.conf          /var/lib/processnow, /etc/processnow modes
#   /etc/processnow/gateway.toml                 the reference config (conffile)
#   /etc/processnow/demo.toml, rules.d/demo.toml the demo and its example rule (conffiles)
#   /usr/share/doc/processnow/                   README, rule test example
# Maintainer scripts (cmake/deb/) create the user, fix directory modes and reload systemd; the
# service is not enabled or started on install (the reference config has no drivers yet).
include(GNUInstallDirs)

set(PN_SYSTEMD_DIR ${PROJECT_SOURCE_DIR}/systemd)
install(FILES ${PN_SYSTEMD_DIR}/processnow.service DESTINATION lib/systemd/system)
install(FILES ${PN_SYSTEMD_DIR}/processnow.sysusers DESTINATION lib/sysusers.d
        RENAME processnow.conf)
install(FILES ${PN_SYSTEMD_DIR}/processnow.tmpfiles DESTINATION lib/tmpfiles.d
        RENAME processnow.conf)
# Absolute destinations: /etc is outside the /usr prefix.
install(FILES ${PROJECT_SOURCE_DIR}/config/gateway.toml ${PROJECT_SOURCE_DIR}/config/demo.toml
        DESTINATION /etc/processnow)
install(FILES ${PROJECT_SOURCE_DIR}/config/rules.d/demo.toml
        DESTINATION /etc/processnow/rules.d)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/config/tests/demo_rules_test.toml
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "processnow")
set(CPACK_PACKAGE_VENDOR "processnow")
set(CPACK_PACKAGE_CONTACT "processnow maintainers <processnow@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Edge IoT sensor gateway daemon")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Edge IoT sensor gateway daemon\nPolls Modbus, serial, MQTT and simulated sensors, runs "
    "anomaly and alarm rules, buffers durably in SQLite and forwards to Kafka or MQTT; runs as a "
    "hardened systemd service.")
# Library dependencies from the binary (dpkg-shlibdeps, in dpkg-dev).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
# Every file under /etc is a conffile (Debian policy 10.7.2): dpkg keeps local edits.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_LIST_DIR}/deb/conffiles
    ${CMAKE_CURRENT_LIST_DIR}/deb/postinst
    ${CMAKE_CURRENT_LIST_DIR}/deb/prerm
    ${CMAKE_CURRENT_LIST_DIR}/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# Cross builds (toolchains/*.cmake): the package is for the target. Its Architecture is Debian's
# name for the target's multiarch triplet (aarch64-linux-gnu -> arm64, arm-linux-gnueabihf ->
# armhf), and dpkg-shlibdeps computes Depends from the TARGET's libraries:
#   - DEB_HOST_ARCH makes it search /lib/<triplet> and /usr/lib/<triplet> and read symbols files
#     for that architecture; for aarch64 the :arm64 libraries are installed there (multiarch),
#     so the host's dpkg database knows their packages, shlibs and symbols files.
#   - With a sysroot (armhf, no armhf dpkg architecture on this host), the sysroot's library
#     directories are searched first (-l), and dpkg-query (DPKG_ADMINDIR) reads a dpkg database
#     describing the sysroot's packages, made by scripts/install-armhf-dpkg-db.sh from the armhf
#     .debs of the sysroot's package set (every library checked against the sysroot by md5sum).
# CPack runs dpkg-shlibdeps with --ignore-missing-info, which would drop a library it cannot map
# to a package without a word: scripts/build-packages.sh checks every NEEDED library against the
# package's Depends.
if(CMAKE_CROSSCOMPILING)
  if(NOT CPACK_DEBIAN_PACKAGE_ARCHITECTURE)
    if(NOT CMAKE_LIBRARY_ARCHITECTURE)
      message(FATAL_ERROR "Packaging: cross build without CMAKE_LIBRARY_ARCHITECTURE (the "
                          "target's multiarch triplet); set CPACK_DEBIAN_PACKAGE_ARCHITECTURE")
    endif()
    execute_process(COMMAND dpkg-architecture -t${CMAKE_LIBRARY_ARCHITECTURE} -qDEB_HOST_ARCH
                    OUTPUT_VARIABLE _pn_deb_arch OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                    RESULT_VARIABLE _pn_rc)
    if(NOT _pn_rc EQUAL 0 OR NOT _pn_deb_arch)
      message(FATAL_ERROR "Packaging: dpkg-architecture (dpkg-dev) found no Debian architecture "
                          "for ${CMAKE_LIBRARY_ARCHITECTURE}; set CPACK_DEBIAN_PACKAGE_ARCHITECTURE")
    endif()
    set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${_pn_deb_arch})
  endif()
  set(_pn_cpack_env "set(ENV{DEB_HOST_ARCH} \"${CPACK_DEBIAN_PACKAGE_ARCHITECTURE}\")\n")
  if(CMAKE_SYSROOT)
    get_filename_component(_pn_sysroot_parent ${CMAKE_SYSROOT} DIRECTORY)
    set(PN_DEB_SYSROOT_ADMINDIR ${_pn_sysroot_parent}/dpkg CACHE PATH
        "dpkg database of the sysroot's packages, for dpkg-shlibdeps (scripts/install-armhf-dpkg-db.sh)")
    set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS
        ${CMAKE_SYSROOT}/lib/${CMAKE_LIBRARY_ARCHITECTURE}
        ${CMAKE_SYSROOT}/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE})
    string(APPEND _pn_cpack_env
           "if(NOT EXISTS \"${PN_DEB_SYSROOT_ADMINDIR}/status\")\n"
           "  message(FATAL_ERROR \"no dpkg database of the sysroot's packages in "
           "${PN_DEB_SYSROOT_ADMINDIR}: dpkg-shlibdeps could not compute Depends; run "
           "scripts/install-armhf-dpkg-db.sh\")\n"
           "endif()\n"
           "set(ENV{DPKG_ADMINDIR} \"${PN_DEB_SYSROOT_ADMINDIR}\")\n")
  endif()
  # Read by cpack before it packages: the environment dpkg-shlibdeps runs in.
  file(WRITE ${PROJECT_BINARY_DIR}/CPackCrossEnv.cmake
       "# Generated by cmake/Packaging.cmake for a cross build.\n${_pn_cpack_env}")
  set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_BINARY_DIR}/CPackCrossEnv.cmake)
endif()
include(CPack)
