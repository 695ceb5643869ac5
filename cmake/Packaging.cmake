# Debian package (CPack DEB): `cpack -G DEB` in a build directory gives
# processnow_<version>_<arch>.deb holding
#   /usr/bin/processnow                          the daemon (stripped)
#   /usr/lib/processnow/processnow-http.so       the health endpoint's HTTP module (dlopen)
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
include(CPack)
