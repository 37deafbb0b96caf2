/* -*- c++ -*- ----------------------------------------------------------
   pysoft: stopping the run from one rank without losing the message
------------------------------------------------------------------------- */

#ifndef PYSOFT_PLUGIN_ERRORS_H
#define PYSOFT_PLUGIN_ERRORS_H

#include "error.h"
#include "lammps.h"

#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>

namespace LAMMPS_NS {
namespace pysoft_io {

  // error->one, for a failure found on one rank while the others go on (into a collective,
  // where only the abort can reach them).  LAMMPS prints the message on this rank and aborts
  // all ranks; MPICH's launcher then kills the job and, about one run in ten
  // (tests/test_invoke.py), drops what this rank had just written.  Flushing and a short pause
  // before the abort propagates let the message through.  A LAMMPS without exceptions has
  // aborted inside error->one already.
  [[noreturn]] inline void error_one(LAMMPS *lmp, const char *file, int line, const std::string &message)
  {
    try {
      lmp->error->one(file, line, message);
    } catch (std::exception &) {
      fflush(nullptr);
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      throw;
    }
    throw std::runtime_error(message);    // not reached: error->one does not return
  }

}    // namespace pysoft_io
}    // namespace LAMMPS_NS

#endif
