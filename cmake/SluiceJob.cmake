# cmake/SluiceJob.cmake — sluice_add_job(): build a job as a shared library that `sluice run` loads.
#
#   sluice_add_job(word_count word_count.cpp)
#
# The library links libsluice (Sluice::sluice, in this tree or installed) and exports the
# entry point that SLUICE_JOB_MAIN defines. It is named NAME.so, without a lib prefix.
function(sluice_add_job name)
  add_library(${name} MODULE ${ARGN})
  target_link_libraries(${name} PRIVATE Sluice::sluice)
  set_target_properties(${name} PROPERTIES PREFIX "")
endfunction()
