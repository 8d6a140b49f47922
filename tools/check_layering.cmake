cmake_minimum_required(VERSION 3.25)
# Fails the build when a file includes a project header from a folder its own folder
# may not depend on (DESIGN.md, "Layout"). Run by the `layering` target on every build:
#   cmake -DROOT=<source dir> -P tools/check_layering.cmake
#
# Each rule: a folder, "|", then the project folders its files may include from.
set(rules
  "events|events"
  "src/store|events,src/store"
  "src/domain|events,src/domain"
  "projections|events,src/store,projections"
  "src/auth|events,src/auth"
  "src/csv|events,src/domain,src/csv"
  "src/mail|events,src/store,src/mail"
  "src/app|events,src/store,src/domain,projections,src/auth,src/csv,src/mail,src/app"
  "src/http|events,src/store,src/domain,projections,src/auth,src/csv,src/mail,src/app,src/http"
  "tools|events,src/store,src/domain,projections,src/auth,src/csv,src/mail,src/app,tools"
)
set(project_folders events src/store src/domain projections src/auth src/csv src/mail src/app src/http tools tests bench)

set(violations "")
foreach(rule IN LISTS rules)
  string(REPLACE "|" ";" parts "${rule}")
  list(GET parts 0 folder)
  list(GET parts 1 allowed)
  string(REPLACE "," ";" allowed "${allowed}")
  file(GLOB_RECURSE files "${ROOT}/${folder}/*.h" "${ROOT}/${folder}/*.cc")
  foreach(f IN LISTS files)
    file(STRINGS "${f}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
    foreach(line IN LISTS includes)
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*" "\\1" path "${line}")
      set(target_folder "")
      foreach(pf IN LISTS project_folders)
        string(LENGTH "${pf}/" n)
        string(SUBSTRING "${path}" 0 ${n} head)
        if(head STREQUAL "${pf}/")
          set(target_folder "${pf}")
        endif()
      endforeach()
      if(target_folder AND NOT target_folder IN_LIST allowed)
        file(RELATIVE_PATH rel "${ROOT}" "${f}")
        string(APPEND violations "  ${rel} includes \"${path}\" (${folder} may not depend on ${target_folder})\n")
      endif()
    endforeach()
  endforeach()
endforeach()

if(violations)
  message(FATAL_ERROR "wrong-way includes:\n${violations}")
endif()
