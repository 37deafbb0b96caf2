/* -*- c++ -*- ----------------------------------------------------------
   pysoft: argument and file handling shared by the plugin's styles
------------------------------------------------------------------------- */

#ifndef PYSOFT_PLUGIN_IO_H
#define PYSOFT_PLUGIN_IO_H

#include "pointers.h"
#include "structure_spec.h"

#include <string>
#include <vector>

namespace LAMMPS_NS {
namespace pysoft_io {

  // Read a whole text file on rank 0 and broadcast it.  For a spec (what = "spec") the path
  // may also be the bare name of a spec shipped with pysoft, such as "default", by the rule of
  // pysoft::find_spec_file.  Errors name the style and what the file is for.
  std::string read_file(LAMMPS *lmp, const std::string &style, const std::string &what,
                        const std::string &path);

  // Map the element names arg[0..ntypes) (one per atom type, or NULL) to species indices of
  // the spec, -1 for NULL.  Index 0 of the result is unused (types count from 1).
  std::vector<int> map_elements(LAMMPS *lmp, const std::string &style,
                                const pysoft::StructureSpec &spec, int narg, char **arg);

}    // namespace pysoft_io
}    // namespace LAMMPS_NS

#endif
