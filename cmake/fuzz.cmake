# The libFuzzer targets of tests/fuzz (SLUICE_FUZZ=ON; scripts/fuzz.sh makes
# this build in build-fuzz/). libFuzzer ships with clang only, so a g++ build
# never comes here. Each target links a library of just the sources it
# reaches, compiled with the fuzzer's coverage and ASan + UBSan.

if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR
    "SLUICE_FUZZ=ON needs clang, which ships libFuzzer; this compiler is "
    "${CMAKE_CXX_COMPILER_ID}. Configure a separate build folder with "
    "CC=clang CXX=clang++, or run scripts/fuzz.sh.")
endif()

# -Wno-restrict above is GCC's; clang does not know it.
add_compile_options(-Wno-unknown-warning-option)
set(FUZZ_SANITIZERS address,undefined)
set(FUZZ_COMPILE_FLAGS -fsanitize=fuzzer-no-link,${FUZZ_SANITIZERS}
    -fno-omit-frame-pointer -fno-sanitize-recover=undefined)

function(sluice_fuzz_library name)
  add_library(${name} STATIC ${ARGN})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR})
  target_compile_options(${name} PUBLIC ${FUZZ_COMPILE_FLAGS})
  target_link_libraries(${name} PUBLIC
    PkgConfig::HTTPLIB PkgConfig::SQLITE yaml-cpp nlohmann_json::nlohmann_json date::date-tz
    OpenSSL::SSL OpenSSL::Crypto Threads::Threads ZLIB::ZLIB)
endfunction()

function(sluice_fuzz_target name library)
  add_executable(${name} tests/fuzz/${name}.cc)
  target_link_libraries(${name} PRIVATE ${library})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer,${FUZZ_SANITIZERS})
  target_compile_definitions(${name} PRIVATE SLUICE_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
endfunction()

# The loader, and what the scheduler and a worker do with a DAG.
sluice_fuzz_library(sluice_fuzz_dag
  core/config.cc core/cron.cc core/dag.cc core/dag_loader.cc core/posix_tz.cc core/secrets.cc
  core/schedule.cc core/states.cc core/template.cc core/text.cc core/time.cc
  scheduler/readiness.cc worker/mapping.cc worker/template_context.cc)
target_precompile_headers(sluice_fuzz_dag PRIVATE
  <nlohmann/json.hpp> <string> <vector> <map> <memory> <optional> <functional>)
sluice_fuzz_target(dag_loader_fuzz sluice_fuzz_dag)

# The web server and what its routes reach: the SQLite store, runs, backfills
# and alerts. tests/fuzz/unreached.cc stands in for the Postgres store and the
# scheduler loop, which these sources name but never call here; building them
# would bring in libpqxx and double this build's time.
file(GLOB FUZZ_WEB_SOURCES CONFIGURE_DEPENDS web/*.cc)
sluice_fuzz_library(sluice_fuzz_web ${FUZZ_WEB_SOURCES}
  core/log.cc core/sqlite_store.cc core/store.cc
  scheduler/alerts.cc scheduler/backfill.cc scheduler/dag_cache.cc scheduler/run_factory.cc
  scheduler/trigger.cc tests/fuzz/unreached.cc
  ${MIGRATIONS_CC} ${ASSETS_CC})
target_link_libraries(sluice_fuzz_web PUBLIC sluice_fuzz_dag)
target_precompile_headers(sluice_fuzz_web REUSE_FROM sluice_fuzz_dag)
sluice_fuzz_target(http_request_fuzz sluice_fuzz_web)
