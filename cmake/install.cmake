# Packaging: the combined library (libfloe.so / libfloe.a) built from the
# area libraries' objects, its ABI fence, and every install rule
# (docs/packaging.md). Included at the end of CMakeLists.txt, after the
# area targets exist.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The areas an embedding application needs. daemons/common stays out: it is
# the daemons' own plumbing (INI files, HTTP metrics, sd_notify) and would
# drag inih, libmicrohttpd and libsystemd into every embedder.
set(FLOE_LIB_AREAS runtime wg net ice signal actors)

# One set of objects serves both the shared and the static library, so the
# area libraries are compiled position-independent. Set here (properties are
# read at generate time) so floe.cmake stays as it is.
set(floe_objs "")
foreach(area ${FLOE_LIB_AREAS})
  get_target_property(kind floe_${area} TYPE)
  if(kind STREQUAL "STATIC_LIBRARY")
    set_property(TARGET floe_${area} PROPERTY POSITION_INDEPENDENT_CODE ON)
    list(APPEND floe_objs $<TARGET_OBJECTS:floe_${area}>)
  endif()
endforeach()

# The pkg-config modules behind each PkgConfig::<PREFIX> target that
# CMakeLists.txt creates. floe.pc (Requires.private) and floeConfig.cmake are
# generated from this one table; a dependency an area library gains without a
# row here stops the configure step rather than shipping a broken package.
set(FLOE_PC_SODIUM  "libsodium")
set(FLOE_PC_ZMQ     "libzmq")
set(FLOE_PC_NICE    "nice")
set(FLOE_PC_GLIB    "glib-2.0 gobject-2.0 gio-2.0")
set(FLOE_PC_MNL     "libmnl")
set(FLOE_PC_JANSSON "jansson")

# What a static link of libfloe.a needs (the shared library links the same
# privately): the union of the areas' own dependencies, less the areas.
# In the installed package the PkgConfig:: targets are recreated by
# floeConfig.cmake, and libb2 (no .pc file) becomes floe::b2.
set(floe_deps "")
set(floe_pc_prefixes "")
set(FLOE_PC_REQUIRES "")
foreach(area ${FLOE_LIB_AREAS})
  get_target_property(libs floe_${area} INTERFACE_LINK_LIBRARIES)
  foreach(lib ${libs})
    string(REGEX REPLACE "^floe_" "" bare "${lib}")
    if(bare IN_LIST FLOE_LIB_AREAS OR lib IN_LIST floe_deps)
      continue()
    elseif(lib STREQUAL "floe_b2")
      list(APPEND floe_deps $<BUILD_INTERFACE:floe_b2> $<INSTALL_INTERFACE:floe::b2>)
    elseif(lib MATCHES "^PkgConfig::(.+)$")
      set(prefix ${CMAKE_MATCH_1})
      if(NOT DEFINED FLOE_PC_${prefix})
        message(FATAL_ERROR "cmake/install.cmake: add FLOE_PC_${prefix} (the pkg-config "
                            "module of ${lib}, which floe_${area} links)")
      endif()
      list(APPEND floe_deps ${lib})
      list(APPEND floe_pc_prefixes ${prefix})
      string(APPEND FLOE_PC_REQUIRES " ${FLOE_PC_${prefix}}")
    else()
      list(APPEND floe_deps ${lib})
    endif()
  endforeach()
endforeach()
string(STRIP "${FLOE_PC_REQUIRES}" FLOE_PC_REQUIRES)
# "SODIUM=libsodium;GLIB=glib-2.0 gobject-2.0 gio-2.0;..." for floeConfig.cmake.
set(FLOE_CONFIG_PC_DEPS "")
foreach(prefix ${floe_pc_prefixes})
  list(APPEND FLOE_CONFIG_PC_DEPS "${prefix}=${FLOE_PC_${prefix}}")
endforeach()

# Only floe_-prefixed symbols leave libfloe.so (tests/system/abi_test.sh):
# -fvisibility=hidden already hides everything without FLOE_EXPORT; the
# version script is the second fence, and --exclude-libs keeps any static
# archive linked in from re-exporting its own symbols.
set(FLOE_VERSION_SCRIPT ${PROJECT_SOURCE_DIR}/packaging/floe.map)

add_library(floe SHARED ${floe_objs})
add_library(floe_static STATIC ${floe_objs})
foreach(t floe floe_static)
  target_include_directories(${t} INTERFACE
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${t} PRIVATE ${floe_deps})
endforeach()
set_target_properties(floe PROPERTIES
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
  LINK_DEPENDS ${FLOE_VERSION_SCRIPT})
target_link_options(floe PRIVATE
  -Wl,--version-script=${FLOE_VERSION_SCRIPT} -Wl,--exclude-libs,ALL)
# A dependency missing from floe_deps fails here, not in an embedder's link.
# Sanitizer runtimes are resolved by the executable, so not under them.
if(NOT FLOE_SANITIZE AND NOT FLOE_FUZZ)
  target_link_options(floe PRIVATE -Wl,--no-undefined)
endif()
# Both files are called libfloe: libfloe.so for -lfloe, libfloe.a for --static.
set_target_properties(floe_static PROPERTIES OUTPUT_NAME floe)

install(TARGETS floe floe_static EXPORT floeTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
file(GLOB floe_public_headers CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/include/floe/*.h)
install(FILES ${floe_public_headers} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/floe)

# pkg-config: floe.pc. libb2 ships no .pc file, so it goes in Libs.private.
# The prefix is found from the .pc file's own place (${pcfiledir}), so a tree
# installed with `cmake --install --prefix DIR` works wherever it lands.
file(RELATIVE_PATH FLOE_PC_TO_PREFIX
     /floe-prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /floe-prefix)
string(REGEX REPLACE "/$" "" FLOE_PC_TO_PREFIX "${FLOE_PC_TO_PREFIX}")
configure_file(${PROJECT_SOURCE_DIR}/packaging/pkgconfig/floe.pc.in
               ${PROJECT_BINARY_DIR}/floe.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/floe.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# CMake package: find_package(floe) -> floe::floe (shared), floe::floe_static.
set(FLOE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/floe)
install(EXPORT floeTargets NAMESPACE floe:: DESTINATION ${FLOE_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/packaging/cmake/floeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/floeConfig.cmake INSTALL_DESTINATION ${FLOE_CMAKE_DIR})
# 0.x: a minor bump may break the ABI, so only the same minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/floeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/floeConfig.cmake
              ${PROJECT_BINARY_DIR}/floeConfigVersion.cmake
        DESTINATION ${FLOE_CMAKE_DIR})

# systemd units and man pages.
file(GLOB floe_units CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/packaging/systemd/*.service)
foreach(unit ${floe_units})
  get_filename_component(name ${unit} NAME)
  configure_file(${unit} ${PROJECT_BINARY_DIR}/systemd/${name} @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/systemd/${name} DESTINATION lib/systemd/system)
endforeach()
file(GLOB floe_man8 CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/man/*.8)
install(FILES ${floe_man8} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)

# The documents the man pages point to (config.md, portal.md, floe-wg.md, ...).
file(GLOB floe_docs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${floe_docs} DESTINATION ${CMAKE_INSTALL_DOCDIR})
