# Run with `cmake -DSOURCE_DIR=... -DOUTPUT=... -P GitCommit.cmake` before each build: writes the
# current commit into OUTPUT, touching the file only when the text changes.
set(commit "unknown")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse --short=12 HEAD
                  WORKING_DIRECTORY "${SOURCE_DIR}" OUTPUT_VARIABLE head
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
  if(rc EQUAL 0 AND head)
    set(commit "${head}")
    execute_process(COMMAND "${GIT_EXECUTABLE}" status --porcelain --untracked-files=no
                    WORKING_DIRECTORY "${SOURCE_DIR}" OUTPUT_VARIABLE dirty ERROR_QUIET)
    if(dirty)
      string(APPEND commit "+dirty")
    endif()
  endif()
endif()
file(CONFIGURE OUTPUT "${OUTPUT}"
     CONTENT "// Generated before each build; do not edit.\ninline constexpr const char* kEngramGitCommit = \"${commit}\";\n")
