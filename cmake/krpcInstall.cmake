# Install rules: headers, static libraries, tools, protoc-gen-krpc, the CMake package
# (find_package(krpc CONFIG REQUIRED) -> krpc::krpc, krpc::server, krpc::client, krpc::node, ...,
# krpc_generate()), a pkg-config file (krpc.pc), and the .deb through CPack (cpack -G DEB).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Everything a user program needs: the node runner (server side) and the client SDK.
add_library(krpc_all INTERFACE)
target_link_libraries(krpc_all INTERFACE krpc_node krpc_client krpc_client_metrics)
add_library(krpc::krpc ALIAS krpc_all)

set(KRPC_EXPORTED
  krpc_proto krpc_codec krpc_common_base krpc_log krpc_common krpc_net krpc_admin
  krpc_server krpc_server_metrics krpc_node krpc_client krpc_client_metrics krpc_all zookeeper_mt)
foreach(t ${KRPC_EXPORTED})
  string(REGEX REPLACE "^krpc_" "" name ${t})
  if(t STREQUAL "krpc_all")
    set(name krpc)
  endif()
  set_target_properties(${t} PROPERTIES EXPORT_NAME ${name})
endforeach()

install(TARGETS ${KRPC_EXPORTED} EXPORT krpcTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS protoc-gen-krpc EXPORT krpcTargets RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS krpc-node krpc krpc-bench krpc-loadgen RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Only the public API: krpc/impl/ and the net headers marked "Internal header" (OpenSSL, Asio
# and nghttp2 types) stay in the source tree; scripts/test-install proves that every installed
# header compiles with what is installed.
foreach(dir common/include net/include proto/codec/include observability/include node/include client-sdk/include)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
          PATTERN impl EXCLUDE
          PATTERN framed_connection.h EXCLUDE PATTERN h2_connection.h EXCLUDE PATTERN h2_settings.h EXCLUDE PATTERN stream.h EXCLUDE
          PATTERN tls_context.h EXCLUDE PATTERN tls_session.h EXCLUDE)
endforeach()
install(FILES ${PROJECT_BINARY_DIR}/proto/krpc/wire.pb.h ${PROJECT_BINARY_DIR}/proto/krpc/health.pb.h
              ${PROJECT_SOURCE_DIR}/proto/krpc/wire.proto ${PROJECT_SOURCE_DIR}/proto/krpc/health.proto
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/krpc)

set(KRPC_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/krpc)
install(EXPORT krpcTargets NAMESPACE krpc:: DESTINATION ${KRPC_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/krpcConfig.cmake.in
  ${PROJECT_BINARY_DIR}/krpcConfig.cmake INSTALL_DESTINATION ${KRPC_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/krpcConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/krpcConfig.cmake ${PROJECT_BINARY_DIR}/krpcConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/krpcGenerate.cmake
        DESTINATION ${KRPC_CMAKE_DIR})

configure_file(${PROJECT_SOURCE_DIR}/cmake/krpc.pc.in ${PROJECT_BINARY_DIR}/krpc.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/krpc.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(FILES ${PROJECT_SOURCE_DIR}/docs/getting-started.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The Debian package: library, headers, tools. Its dependencies are the -dev packages a build
# against krpc needs, and the runtime libraries of the tools.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME krpc)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "krpc developers <krpc@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "C++20 RPC framework and service-mesh node: library, headers, tools")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)  # executables only; the static libraries keep their symbols
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "cmake, make | ninja-build, g++ | clang, libboost1.81-dev, libprotobuf-dev, libprotoc-dev, protobuf-compiler, libzookeeper-mt-dev, prometheus-cpp-dev, libspdlog-dev, libnghttp2-dev, zlib1g-dev, libssl-dev, pkg-config")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
include(CPack)
