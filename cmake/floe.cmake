# Build helpers: one static library per folder, one test binary per
# tests/<area>/<module>_test.c, one program per daemon, bench and example.

set(FLOE_AREAS "")

function(floe_area name dir)
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${dir}/*.c)
  if(srcs)
    add_library(floe_${name} STATIC ${srcs})
    target_include_directories(floe_${name} PUBLIC
      ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/include)
    target_link_libraries(floe_${name} PUBLIC ${ARGN})
  else()
    add_library(floe_${name} INTERFACE)
    target_include_directories(floe_${name} INTERFACE
      ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/include)
    target_link_libraries(floe_${name} INTERFACE ${ARGN})
  endif()
  set(FLOE_AREAS ${FLOE_AREAS} ${name} PARENT_SCOPE)
endfunction()

# tests/<area>/<module>_test.c -> test_<area>_<module>, linked to floe_<area>.
# tests/system/*.sh -> ctest entries labelled "system" (root, namespaces).
# Labels: the area name; "tsan" for runtime and actors (run under TSan too).
function(floe_tests)
  foreach(area ${FLOE_AREAS})
    file(GLOB tests CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/${area}/*_test.c)
    foreach(src ${tests})
      get_filename_component(mod ${src} NAME_WE)
      string(REGEX REPLACE "_test$" "" mod ${mod})
      set(exe test_${area}_${mod})
      add_executable(${exe} ${src})
      target_link_libraries(${exe} PRIVATE floe_${area} PkgConfig::CRITERION)
      if(FLOE_SANITIZE STREQUAL "thread")
        # Criterion cannot place its arena under TSan without this (see the file).
        target_sources(${exe} PRIVATE ${PROJECT_SOURCE_DIR}/tests/sanitizers/criterion_tsan.c)
      endif()
      target_compile_definitions(${exe} PRIVATE
        FLOE_SOURCE_DIR="${PROJECT_SOURCE_DIR}" FLOE_BINARY_DIR="${PROJECT_BINARY_DIR}")
      add_test(NAME ${area}/${mod} COMMAND ${exe} --jobs 2)
      set(labels ${area} unit)
      # The node is actors/ code; its test lives beside the portal it needs.
      if(area STREQUAL "runtime" OR area STREQUAL "actors" OR exe STREQUAL "test_daemons_node")
        list(APPEND labels tsan)
      endif()
      set_tests_properties(${area}/${mod} PROPERTIES LABELS "${labels}" TIMEOUT 300
        ENVIRONMENT "FLOE_SOURCE_DIR=${PROJECT_SOURCE_DIR};FLOE_BINARY_DIR=${PROJECT_BINARY_DIR}")
    endforeach()
  endforeach()
  # The logger's suite parses every line it produces back with jansson.
  if(TARGET test_runtime_log)
    target_link_libraries(test_runtime_log PRIVATE PkgConfig::JANSSON)
  endif()
  file(GLOB sys CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/system/*_test.sh)
  foreach(src ${sys})
    get_filename_component(name ${src} NAME_WE)
    string(REGEX REPLACE "_test$" "" name ${name})
    add_test(NAME system/${name} COMMAND bash ${src})
    # 77 = the test could not run here (not root, tool missing): it says why.
    set_tests_properties(system/${name} PROPERTIES LABELS "system" TIMEOUT 600
      SKIP_RETURN_CODE 77 RESOURCE_LOCK netns
      ENVIRONMENT "FLOE_SOURCE_DIR=${PROJECT_SOURCE_DIR};FLOE_BINARY_DIR=${PROJECT_BINARY_DIR}")
  endforeach()
endfunction()

# daemons/<name>.c -> program <name> (floe-wg, floe-portal, ...).
function(floe_daemons)
  file(GLOB progs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/daemons/*.c)
  foreach(src ${progs})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_link_libraries(${name} PRIVATE floe_daemons)
    install(TARGETS ${name} RUNTIME DESTINATION bin)
  endforeach()
endfunction()

# bench/<name>.c -> bench_<name>, printing units (docs/perf.md).
function(floe_benches)
  file(GLOB progs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/bench/*.c)
  foreach(src ${progs})
    get_filename_component(name ${src} NAME_WE)
    add_executable(bench_${name} ${src})
    target_link_libraries(bench_${name} PRIVATE floe_daemons)
  endforeach()
endfunction()

function(floe_examples)
  file(GLOB progs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/examples/*.c)
  foreach(src ${progs})
    get_filename_component(name ${src} NAME_WE)
    # examples/custom-signalling.c -> example_custom_signalling
    string(REPLACE "-" "_" name ${name})
    add_executable(example_${name} ${src})
    target_link_libraries(example_${name} PRIVATE floe_daemons)
  endforeach()
endfunction()

# tests/fuzz/<name>_fuzz.c -> fuzz_<name>, clang -fsanitize=fuzzer,address.
# The short run in scripts/test is a ctest labelled "fuzz".
function(floe_fuzzers)
  file(GLOB progs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/fuzz/*_fuzz.c)
  foreach(src ${progs})
    get_filename_component(name ${src} NAME_WE)
    string(REGEX REPLACE "_fuzz$" "" name ${name})
    add_executable(fuzz_${name} ${src})
    target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(fuzz_${name} PRIVATE floe_daemons)
    set(corpus ${PROJECT_BINARY_DIR}/fuzz-corpus/${name})
    file(MAKE_DIRECTORY ${corpus})
    add_test(NAME fuzz/${name} COMMAND fuzz_${name} -max_total_time=${FLOE_FUZZ_SECONDS}
             -timeout=10 -rss_limit_mb=2048 ${corpus})
    set_tests_properties(fuzz/${name} PROPERTIES LABELS fuzz TIMEOUT 900)
  endforeach()
endfunction()
