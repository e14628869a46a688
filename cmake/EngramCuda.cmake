# Resolves ENGRAM_CUDA (AUTO|ON|OFF) into ENGRAM_HAVE_CUDA and enables the CUDA language when on.
# AUTO turns CUDA on when a working nvcc is found and quietly builds CPU-only otherwise; ON fails
# the configure step when nvcc is missing.
string(TOUPPER "${ENGRAM_CUDA}" _engram_cuda)
if(NOT _engram_cuda MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "ENGRAM_CUDA must be AUTO, ON or OFF (got '${ENGRAM_CUDA}')")
endif()

set(ENGRAM_HAVE_CUDA OFF)
if(NOT _engram_cuda STREQUAL "OFF")
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80 90)  # A100, H100/H200
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(CMAKE_CUDA_STANDARD 17)  # CMake 3.25 does not know nvcc's C++20 flag; .cu files need only 17
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(ENGRAM_HAVE_CUDA ON)
  elseif(_engram_cuda STREQUAL "ON")
    message(FATAL_ERROR "ENGRAM_CUDA=ON but no CUDA compiler was found; install the CUDA toolkit "
                        "(nvcc on PATH) or configure with -DENGRAM_CUDA=AUTO or OFF")
  else()
    message(STATUS "engram: nvcc not found, building without CUDA (ENGRAM_CUDA=AUTO)")
  endif()
endif()
