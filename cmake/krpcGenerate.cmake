# krpc_generate(<target> PROTOS a.proto... [IMPORT_DIRS dir...] [OUT_DIR dir] [STUBS_ONLY])
#
# Runs protoc on the given .proto files with protoc-gen-krpc and adds the generated sources to
# <target>: the messages (x.pb.h/.cc, protobuf's C++ generator) and the typed coroutine client
# and service base (x.krpc.h/.cc). Include them as "x.pb.h" / "x.krpc.h" relative to the import
# directory that holds x.proto (the first of IMPORT_DIRS; default: the current source dir).
# <target> gets the output directory on its include path and links krpc::krpc.
# STUBS_ONLY: generate only x.krpc.*, when the messages come from another library.
function(krpc_generate target)
  cmake_parse_arguments(K "STUBS_ONLY" "OUT_DIR" "PROTOS;IMPORT_DIRS" ${ARGN})
  if(NOT K_PROTOS)
    message(FATAL_ERROR "krpc_generate(${target}): PROTOS is empty")
  endif()
  if(NOT K_OUT_DIR)
    set(K_OUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/krpc_generated)
  endif()
  if(NOT K_IMPORT_DIRS)
    set(K_IMPORT_DIRS ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  set(import_args)
  set(import_abs)
  foreach(dir ${K_IMPORT_DIRS})
    get_filename_component(abs ${dir} ABSOLUTE)
    list(APPEND import_args -I ${abs})
    list(APPEND import_abs ${abs})
  endforeach()
  file(MAKE_DIRECTORY ${K_OUT_DIR})
  set(sources)
  foreach(proto ${K_PROTOS})
    get_filename_component(abs ${proto} ABSOLUTE)
    set(rel "")
    foreach(dir ${import_abs})
      file(RELATIVE_PATH candidate ${dir} ${abs})
      if(NOT candidate MATCHES "^\\.\\./")
        set(rel ${candidate})
        break()
      endif()
    endforeach()
    if(rel STREQUAL "")
      message(FATAL_ERROR "krpc_generate(${target}): ${proto} is under none of IMPORT_DIRS (${K_IMPORT_DIRS})")
    endif()
    string(REGEX REPLACE "\\.proto$" "" stem ${rel})
    set(outputs ${K_OUT_DIR}/${stem}.krpc.h ${K_OUT_DIR}/${stem}.krpc.cc)
    set(cpp_out)
    if(NOT K_STUBS_ONLY)
      list(APPEND outputs ${K_OUT_DIR}/${stem}.pb.h ${K_OUT_DIR}/${stem}.pb.cc)
      set(cpp_out --cpp_out=${K_OUT_DIR})
      list(APPEND sources ${K_OUT_DIR}/${stem}.pb.cc)
    endif()
    list(APPEND sources ${K_OUT_DIR}/${stem}.krpc.cc)
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND protobuf::protoc ${cpp_out} --krpc_out=${K_OUT_DIR}
              --plugin=protoc-gen-krpc=$<TARGET_FILE:krpc::protoc-gen-krpc> ${import_args} ${abs}
      DEPENDS ${abs} protobuf::protoc krpc::protoc-gen-krpc
      COMMENT "krpc_generate ${rel}"
      VERBATIM)
  endforeach()
  target_sources(${target} PRIVATE ${sources})
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${K_OUT_DIR}>)
  target_link_libraries(${target} PUBLIC krpc::krpc protobuf::libprotobuf)
endfunction()
