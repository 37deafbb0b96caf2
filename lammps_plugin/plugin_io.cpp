/* ----------------------------------------------------------------------
   pysoft: argument and file handling shared by the plugin's styles
------------------------------------------------------------------------- */

#include "plugin_io.h"

#include "spec_files.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "utils.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sys/stat.h>
#include <sstream>

using namespace LAMMPS_NS;

std::string pysoft_io::read_file(LAMMPS *lmp, const std::string &style, const std::string &what,
                                 const std::string &path)
{
  std::string text, problem;
  if (lmp->comm->me == 0) {
    // a model is always a path; a path that names nothing is opened as given, for the
    // system's word on why it cannot be
    std::string name = what == "spec" ? pysoft::find_spec_file(path) : path;
    if (name.empty()) name = path;
    std::ifstream in(name);
    struct stat st;
    if (in && stat(name.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
      problem = fmt::format("{} {} file {} is not a regular file", style, what, path);
    } else if (!in) {
      problem = fmt::format("{} cannot open {} file {}: {}", style, what, path, utils::getsyserror());
    } else {
      std::stringstream ss;
      ss << in.rdbuf();
      text = ss.str();
      if (text.empty()) problem = fmt::format("{} {} file {} is empty", style, what, path);
    }
  }
  int n = problem.size();
  MPI_Bcast(&n, 1, MPI_INT, 0, lmp->world);
  if (n) {
    problem.resize(n);
    MPI_Bcast(&problem[0], n, MPI_CHAR, 0, lmp->world);
    lmp->error->all(FLERR, problem);
  }
  n = text.size();
  MPI_Bcast(&n, 1, MPI_INT, 0, lmp->world);
  text.resize(n);
  MPI_Bcast(&text[0], n, MPI_CHAR, 0, lmp->world);
  return text;
}

std::vector<int> pysoft_io::map_elements(LAMMPS *lmp, const std::string &style,
                                         const pysoft::StructureSpec &spec, int narg, char **arg)
{
  const int ntypes = lmp->atom->ntypes;
  if (narg < ntypes)
    lmp->error->all(FLERR,
                    "{} needs one element name (or NULL) per atom type: {} types, {} name(s) given",
                    style, ntypes, narg);
  std::vector<int> map(ntypes + 1, -1);
  int used = 0;
  for (int t = 1; t <= ntypes; t++) {
    std::string name = arg[t - 1];
    if (name == "NULL") continue;
    int s = spec.species_index(name);
    if (s < 0) {
      std::string known;
      for (const auto &sp : spec.species) known += " " + sp;
      lmp->error->all(FLERR, "{} element {} for atom type {} is not a species of the spec (species:{})",
                      style, name, t, known);
    }
    map[t] = s;
    used++;
  }
  if (!used) lmp->error->all(FLERR, "{} maps every atom type to NULL: no neighbours to count", style);
  return map;
}
