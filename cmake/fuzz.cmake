# The libFuzzer targets of tests/fuzz (SLUICE_FUZZ=ON; scripts/fuzz.sh makes
# this build in build-fuzz/). libFuzzer ships with clang only, so a g++ build
# never comes here. The targets link a library of just the sources they
# reach, compiled with the fuzzer's coverage and ASan + UBSan.

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

# What the targets reach: every core and engine source but the Postgres
# ones, the web server, and the worker pieces that the loader's checks and the
# routes call. tests/fuzz/unreached.cc stands in for the Postgres store, which
# these sources name but the targets never call; building it would bring in
# libpqxx and double this build's time. A target
# links only the objects it uses.
file(GLOB FUZZ_SOURCES CONFIGURE_DEPENDS core/*.cc core/sqlite/*.cc core/task_types/*.cc engine/*.cc
     web/*.cc)
list(FILTER FUZZ_SOURCES EXCLUDE REGEX ".*/core/(pg_|postgres_)[^/]*$")
add_library(sluice_fuzz_lib STATIC ${FUZZ_SOURCES}
  worker/mapping.cc worker/template_context.cc
  tests/fuzz/unreached.cc ${MIGRATIONS_CC} ${ASSETS_CC} ${API_DOCUMENTS_CC})
target_include_directories(sluice_fuzz_lib PUBLIC ${CMAKE_SOURCE_DIR})
target_compile_options(sluice_fuzz_lib PUBLIC ${FUZZ_COMPILE_FLAGS})
target_link_libraries(sluice_fuzz_lib PUBLIC
  PkgConfig::HTTPLIB PkgConfig::SQLITE yaml-cpp nlohmann_json::nlohmann_json date::date-tz
  OpenSSL::SSL OpenSSL::Crypto Threads::Threads ZLIB::ZLIB)
target_precompile_headers(sluice_fuzz_lib PRIVATE
  <nlohmann/json.hpp> <string> <vector> <map> <memory> <optional> <functional>)

foreach(target dag_loader_fuzz http_request_fuzz)
  add_executable(${target} tests/fuzz/${target}.cc)
  target_link_libraries(${target} PRIVATE sluice_fuzz_lib)
  target_link_options(${target} PRIVATE -fsanitize=fuzzer,${FUZZ_SANITIZERS})
  target_compile_definitions(${target} PRIVATE SLUICE_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
endforeach()
