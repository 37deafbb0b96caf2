/* -*- c++ -*- ----------------------------------------------------------
   pysoft: which file a spec argument names.  The one rule, used by the
   LAMMPS plugin (compute structure/atom) and, through libpysoft_math, by
   Python (pysoft.spec.spec_path), so the two cannot drift apart.
   Plain C++, no LAMMPS types.
------------------------------------------------------------------------- */

#ifndef PYSOFT_SPEC_FILES_H
#define PYSOFT_SPEC_FILES_H

#include <string>
#include <vector>

namespace pysoft {

// pysoft's shipped data files (pysoft/data), found beside the library this code is linked into
// (pysoft/lib): the plugin and libpysoft_math are installed there together.
std::string data_dir();

// The file a spec argument names: the argument itself when such a path exists (a file, or
// anything else, which the reader then refuses); otherwise, for a bare name (no '/' and no
// '.', such as "default"), the spec shipped with pysoft as data_dir()/spec_NAME.json when it
// exists.  "" when the argument names neither.
std::string find_spec_file(const std::string &arg);

// The bare names of the shipped specs, sorted: those find_spec_file() maps to a shipped file.
std::vector<std::string> shipped_spec_names();

}    // namespace pysoft

#endif
