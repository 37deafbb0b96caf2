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

  // Read a whole text file on rank 0 and broadcast it.  A bare name that is not a file, such
  // as "default", is looked up among the specs shipped with pysoft (pysoft/data/spec_NAME.json
  // beside the plugin).  Errors name the style and what the file is for.
  std::string read_file(LAMMPS *lmp, const std::string &style, const std::string &what,
                        const std::string &path);

  // Map the element names arg[0..ntypes) (one per atom type, or NULL) to species indices of
  // the spec, -1 for NULL.  Index 0 of the result is unused (types count from 1).
  std::vector<int> map_elements(LAMMPS *lmp, const std::string &style,
                                const pysoft::StructureSpec &spec, int narg, char **arg);

  // The directory of pysoft's shipped data files (pysoft/data), found from the plugin's path.
  std::string data_dir();

}    // namespace pysoft_io
}    // namespace LAMMPS_NS

#endif
