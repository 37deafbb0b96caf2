/* ----------------------------------------------------------------------
   pysoft: argument and file handling shared by the plugin's styles
------------------------------------------------------------------------- */

#include "plugin_io.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "neighbor.h"
#include "update.h"
#include "pair.h"
#include "utils.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <sys/stat.h>
#include <sstream>

// The wheel ships no neigh_request.h; set_cutoff() is the one member we call, a plain
// exported function of liblammps, so declaring just that member is enough.
namespace LAMMPS_NS {
class NeighRequest {
 public:
  void set_cutoff(double);
};
}    // namespace LAMMPS_NS

using namespace LAMMPS_NS;

void pysoft_io::request_full_occasional(LAMMPS *lmp, Compute *compute, double cutoff)
{
  lmp->neighbor->add_request(compute, NeighConst::REQ_FULL | NeighConst::REQ_OCCASIONAL)
      ->set_cutoff(cutoff);
}

void pysoft_io::build_current(LAMMPS *lmp, NeighList *list, bool &after_init)
{
  Neighbor *neighbor = lmp->neighbor;
  if (!after_init) {
    neighbor->build_one(list);
    return;
  }
  // build_one() rebuilds only a list older than neighbor->lastcall, and remakes the list's
  // stencil only if it is older than neighbor->last_setup_bins; a run's set-up re-neighbours
  // and re-bins at an unchanged timestep, so move both past this step for the call
  const bigint saved_call = neighbor->lastcall, saved_bins = neighbor->last_setup_bins;
  neighbor->lastcall = lmp->update->ntimestep + 1;
  neighbor->last_setup_bins = lmp->update->ntimestep + 1;
  neighbor->build_one(list);
  neighbor->lastcall = saved_call;
  neighbor->last_setup_bins = saved_bins;
  after_init = false;
}

void pysoft_io::check_ghost_range(LAMMPS *lmp, const std::string &style, double cutoff)
{
  // like compute rdf and fix nonaffine/displacement: the occasional list reaches out to
  // cutoff + skin, and ghost atoms must exist that far
  // (checked in init(), before Neighbor::init(), so the ghost range is rebuilt from its parts
  // the way Comm will: the pair cutoff plus skin, or the user's comm_modify cutoff)
  double need = cutoff + lmp->neighbor->skin;
  double have = lmp->comm->cutghostuser;
  if (lmp->force->pair) have = std::max(have, lmp->force->pair->cutforce + lmp->neighbor->skin);
  if (need > have)
    lmp->error->all(FLERR,
                    "{} cutoff {} + neighbor skin {} exceeds the ghost-atom range {}; "
                    "use comm_modify cutoff {}",
                    style, cutoff, lmp->neighbor->skin, have, need);
}

void pysoft_io::request_full_perpetual(LAMMPS *lmp, Compute *compute, double cutoff)
{
  lmp->neighbor->add_request(compute, NeighConst::REQ_FULL)->set_cutoff(cutoff);
}

std::string pysoft_io::data_dir()
{
  Dl_info info;
  if (dladdr((void *) &pysoft_io::data_dir, &info) && info.dli_fname) {
    std::string so = info.dli_fname;
    auto slash = so.rfind('/');
    std::string libdir = slash == std::string::npos ? "." : so.substr(0, slash);
    return libdir + "/../data";
  }
  return "";
}

std::string pysoft_io::read_file(LAMMPS *lmp, const std::string &style, const std::string &what,
                                 const std::string &path)
{
  std::string text, problem;
  if (lmp->comm->me == 0) {
    std::string name = path;
    std::ifstream in(name);
    // a bare word such as "default" names a spec shipped with pysoft
    if (!in && name.find('/') == std::string::npos && name.find('.') == std::string::npos) {
      std::string shipped = data_dir() + "/spec_" + name + ".json";
      in.open(shipped);
      if (in) name = shipped;
    }
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
