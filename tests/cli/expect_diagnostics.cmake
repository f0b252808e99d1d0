# Runs `gwctl validate .` inside DIR and compares its output with DIR/expected.txt
# (exit code on the first line as "exit N", then the exact stdout).
execute_process(COMMAND ${GWCTL} validate . WORKING_DIRECTORY ${DIR}
                OUTPUT_VARIABLE output ERROR_VARIABLE errors RESULT_VARIABLE code)
set(actual "exit ${code}\n${output}")
file(READ ${DIR}/expected.txt expected)
if(NOT actual STREQUAL expected)
  message(FATAL_ERROR "gwctl validate ${DIR} differs from expected.txt\n--- expected\n${expected}--- actual\n${actual}--- stderr\n${errors}")
endif()
