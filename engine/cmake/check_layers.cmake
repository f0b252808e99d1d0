# Fails the build when a file of one engine area includes a header of an area it may not
# use. Run by the build (engine/CMakeLists.txt) as
#   cmake -DENGINE_DIR=... -DSTAMP=... -P check_layers.cmake
#
# An area is a folder of engine/src (milter/ is one too). A public header,
# include/gateway/NAME.h, belongs to the area whose folder holds NAME.cpp, or to the area
# kHeaderOnly names. The table below is the layering, lowest first: an area may include
# its own headers and those of the areas listed for it, nothing else.
cmake_minimum_required(VERSION 3.20)
set(kLayers
  "base:"
  "rules:base"
  "store:base,rules"
  "service:base,rules,store"
  "mail:base,rules,store"
  "smtp:base"
  "dns:base,rules,service"
  "continuity:base,rules,mail,smtp,store"
  "lookups:base,rules,mail,continuity"
  "instances:base"
  "config:base,rules"
  "alerts:base"
  "api:base,rules,service,continuity"
  "milter:base,rules,smtp,api,config"
  "gatewayd:base,rules,store,service,mail,smtp,dns,continuity,lookups,instances,api,config,alerts")
set(kHeaderOnly "status:base" "store:store" "delivery_transports:base")

foreach(entry IN LISTS kLayers)
  string(REPLACE ":" ";" parts "${entry}")
  list(GET parts 0 area)
  list(LENGTH parts count)
  set(allowed_${area} "${area}")
  if(count GREATER 1)
    list(GET parts 1 uses)
    string(REPLACE "," ";" uses "${uses}")
    list(APPEND allowed_${area} ${uses})
  endif()
  list(APPEND areas ${area})
endforeach()

# The area of each public header.
file(GLOB public_headers "${ENGINE_DIR}/include/gateway/*.h")
foreach(header IN LISTS public_headers)
  get_filename_component(name "${header}" NAME_WE)
  unset(owner)
  foreach(pair IN LISTS kHeaderOnly)
    if(pair MATCHES "^${name}:(.*)$")
      set(owner "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  if(NOT owner)
    file(GLOB_RECURSE impl "${ENGINE_DIR}/src/*/${name}.cpp" "${ENGINE_DIR}/milter/${name}.cpp")
    list(LENGTH impl found)
    if(NOT found EQUAL 1)
      message(FATAL_ERROR "include/gateway/${name}.h: no one ${name}.cpp names its area; "
                          "add it to kHeaderOnly in ${CMAKE_CURRENT_LIST_FILE}")
    endif()
    file(RELATIVE_PATH where "${ENGINE_DIR}" "${impl}")
    if(where MATCHES "^src/([^/]+)/")
      set(owner "${CMAKE_MATCH_1}")
    else()
      set(owner milter)
    endif()
  endif()
  set(area_of_${name} "${owner}")
endforeach()

file(GLOB_RECURSE sources "${ENGINE_DIR}/src/*.h" "${ENGINE_DIR}/src/*.cpp"
     "${ENGINE_DIR}/milter/*.h" "${ENGINE_DIR}/milter/*.cpp" "${ENGINE_DIR}/include/gateway/*.h")
set(problems "")
foreach(file IN LISTS sources)
  file(RELATIVE_PATH where "${ENGINE_DIR}" "${file}")
  if(where MATCHES "^src/([^/]+)/")
    set(area "${CMAKE_MATCH_1}")
  elseif(where MATCHES "^milter/")
    set(area milter)
  else()
    get_filename_component(name "${file}" NAME_WE)
    set(area "${area_of_${name}}")
  endif()
  if(NOT area IN_LIST areas)
    string(APPEND problems "\n  ${where}: area '${area}' is not in the layering table")
    continue()
  endif()
  file(STRINGS "${file}" includes REGEX "^#include \"")
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^#include \"([^\"]+)\".*" "\\1" included "${line}")
    if(included MATCHES "^gateway/([^/]+)\\.h$")
      set(target "${area_of_${CMAKE_MATCH_1}}")
    elseif(included MATCHES "^([^/]+)/")
      set(target "${CMAKE_MATCH_1}")
    else()
      continue()  # a header beside the file
    endif()
    if(NOT target IN_LIST allowed_${area})
      string(APPEND problems "\n  ${where} includes \"${included}\" (${target}); "
                             "${area} may use only: ${allowed_${area}}")
    endif()
  endforeach()
endforeach()
if(problems)
  message(FATAL_ERROR "engine layering broken:${problems}\n"
                      "(the table is in ${CMAKE_CURRENT_LIST_FILE})")
endif()
file(WRITE "${STAMP}" "ok\n")
