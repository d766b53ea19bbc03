# Registers the GoogleTest tests of one binary with CTest in groups, when
# CTest starts (CMakeLists.txt adds this file to TEST_INCLUDE_FILES).
#
# One process per test costs what an ASan binary of this size costs to start
# and stop (about half a CPU-second: registering and unregistering its
# globals), which over hundreds of tests was minutes of the test command.
# So the tests of a suite run in one process, up to SLUICE_TEST_GROUP_SIZE at
# a time (entries named `Suite` or `Suite#2`, ...), except the suites that
# SLUICE_TEST_SPLIT_SUITES matches: their tests are long, run one per entry
# (named `Suite.Test`) and start first, so that two CTest slots stay busy to
# the end. Inputs: TEST_BINARY, TEST_GROUP_SIZE, TEST_SPLIT_SUITES,
# TEST_TIMEOUT.

if(NOT EXISTS "${TEST_BINARY}")
  add_test(sluice_tests_missing "${TEST_BINARY}")
  return()
endif()

execute_process(
  COMMAND "${TEST_BINARY}" --gtest_list_tests
  OUTPUT_VARIABLE listing
  RESULT_VARIABLE listed
  TIMEOUT 120)
if(NOT listed EQUAL 0)
  # A binary that cannot list its tests is a failure CTest shows, not no tests.
  add_test(sluice_tests_cannot_list "${TEST_BINARY}" --gtest_list_tests)
  return()
endif()

set(suite "")
set(chunk "")
set(chunk_size 0)
set(chunk_number 0)

# Adds the pending chunk of `suite` as one CTest entry.
macro(flush_chunk)
  if(chunk_size GREATER 0)
    math(EXPR chunk_number "${chunk_number} + 1")
    if(chunk_number EQUAL 1)
      set(entry "${suite_name}")
    else()
      set(entry "${suite_name}#${chunk_number}")
    endif()
    add_test("${entry}" "${TEST_BINARY}" "--gtest_filter=${chunk}")
    set_tests_properties("${entry}" PROPERTIES TIMEOUT ${TEST_TIMEOUT} COST ${chunk_size})
    set(chunk "")
    set(chunk_size 0)
  endif()
endmacro()

string(REPLACE "\n" ";" lines "${listing}")
foreach(line IN LISTS lines)
  # A parameterised test numbered /0, /1 is named by its "# GetParam() = VALUE".
  set(param "")
  if(line MATCHES "# GetParam\\(\\) = (.*)$")
    string(REPLACE "\"" "" param "${CMAKE_MATCH_1}")
  endif()
  string(REGEX REPLACE "[ ]+#.*$" "" line "${line}")
  if(line STREQUAL "")
    continue()
  endif()
  if(line MATCHES "^[^ ]")
    flush_chunk()
    set(suite "${line}")  # "Suite." with its dot
    string(REGEX REPLACE "\\.$" "" suite_name "${suite}")
    set(chunk_number 0)
    continue()
  endif()
  string(STRIP "${line}" test)
  if(suite_name MATCHES "${TEST_SPLIT_SUITES}")
    set(entry "${suite}${test}")
    if(NOT param STREQUAL "" AND test MATCHES "/[0-9]+$")
      string(APPEND entry " (${param})")
    endif()
    add_test("${entry}" "${TEST_BINARY}" "--gtest_filter=${suite}${test}")
    set_tests_properties("${entry}" PROPERTIES TIMEOUT ${TEST_TIMEOUT} COST 1000)
    continue()
  endif()
  if(chunk_size GREATER 0)
    string(APPEND chunk ":")
  endif()
  string(APPEND chunk "${suite}${test}")
  math(EXPR chunk_size "${chunk_size} + 1")
  if(chunk_size GREATER_EQUAL TEST_GROUP_SIZE)
    flush_chunk()
  endif()
endforeach()
flush_chunk()
