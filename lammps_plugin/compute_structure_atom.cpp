/* ----------------------------------------------------------------------
   pysoft: compute structure/atom, see doc/compute_structure_atom.md
------------------------------------------------------------------------- */

#include "compute_structure_atom.h"

#include "plugin_io.h"
#include "neighbor_lists.h"
#include "structure_functions.h"

#include "atom.h"
#include "error.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"

#include <cstring>

using namespace LAMMPS_NS;

/* ---------------------------------------------------------------------- */

StructureEvaluator::StructureEvaluator(LAMMPS *lmp, const std::string &style,
                                       const pysoft::StructureSpec &spec, int nelem, char **elem) :
    style_(style)
{
  type2species_ = pysoft_io::map_elements(lmp, style, spec, nelem, elem);
  sf_ = std::make_unique<pysoft::StructureFunctions>(spec);
}

StructureEvaluator::~StructureEvaluator() = default;

int StructureEvaluator::ncols() const { return sf_->ncols(); }
double StructureEvaluator::cutoff() const { return sf_->spec().max_cutoff(); }
const pysoft::StructureSpec &StructureEvaluator::spec() const { return sf_->spec(); }

void StructureEvaluator::check_ghost_range(LAMMPS *lmp) const
{
  pysoft_neigh::check_ghost_range(lmp, style_, cutoff());
}

void StructureEvaluator::evaluate(LAMMPS *lmp, NeighList *list, int i, double *row)
{
  double **x = lmp->atom->x;
  int *type = lmp->atom->type;
  const int jnum = list->numneigh[i];
  const int *jlist = list->firstneigh[i];
  const double cutsq = cutoff() * cutoff();

  disp_.resize(3 * (size_t) jnum);
  nbsp_.resize(jnum);
  int n = 0;
  for (int jj = 0; jj < jnum; jj++) {
    int j = jlist[jj] & NEIGHMASK;
    int s = type2species_[type[j]];
    if (s < 0) continue;
    double dx = x[j][0] - x[i][0];
    double dy = x[j][1] - x[i][1];
    double dz = x[j][2] - x[i][2];
    if (dx * dx + dy * dy + dz * dz >= cutsq) continue;
    disp_[3 * n] = dx;
    disp_[3 * n + 1] = dy;
    disp_[3 * n + 2] = dz;
    nbsp_[n] = s;
    n++;
  }
  sf_->evaluate(n, disp_.data(), nbsp_.data(), row);
}

/* ---------------------------------------------------------------------- */

ComputeStructureAtom::ComputeStructureAtom(LAMMPS *lmp, int narg, char **arg) :
    Compute(lmp, narg, arg), nmax(0), list_after_init(true), features(nullptr), list(nullptr)
{
  if (narg < 5) utils::missing_cmd_args(FLERR, "compute structure/atom", error);
  const int ntypes = atom->ntypes;
  std::string text = pysoft_io::read_file(lmp, "Compute structure/atom", "spec", arg[3]);
  pysoft::StructureSpec spec;
  try {
    spec = pysoft::StructureSpec::from_json(text);
  } catch (pysoft::SpecError &e) {
    error->all(FLERR, "Compute structure/atom: {}", e.what());
  }
  eval = std::make_unique<StructureEvaluator>(lmp, "Compute structure/atom", spec, narg - 4, &arg[4]);

  // after the element names there are no keywords (yet): say what the extra word is
  for (int iarg = 4 + ntypes; iarg < narg; iarg++) {
    if (strcmp(arg[iarg], "NULL") == 0 || eval->spec().species_index(arg[iarg]) >= 0)
      error->all(FLERR, "Compute structure/atom got more element names than the {} atom types",
                 ntypes);
    error->all(FLERR, "Unknown compute structure/atom keyword: {}", arg[iarg]);
  }

  peratom_flag = 1;
  size_peratom_cols = eval->ncols();
}

ComputeStructureAtom::~ComputeStructureAtom()
{
  memory->destroy(features);
}

void ComputeStructureAtom::init()
{
  eval->check_ghost_range(lmp);
  pysoft_neigh::request_full_occasional(lmp, this, eval->cutoff());
  list_after_init = true;
}

void ComputeStructureAtom::init_list(int /*id*/, NeighList *ptr)
{
  list = ptr;
}

void ComputeStructureAtom::compute_peratom()
{
  invoked_peratom = update->ntimestep;

  if (atom->nmax > nmax) {
    memory->destroy(features);
    nmax = atom->nmax;
    memory->create(features, nmax, size_peratom_cols, "structure/atom:features");
    array_atom = features;
  }

  if (!list) error->all(FLERR, "Compute structure/atom invoked before the first run: add 'run 0'");
  pysoft_neigh::build_current(lmp, list, list_after_init);

  const int nlocal = atom->nlocal;
  const int *mask = atom->mask;
  const int ncol = size_peratom_cols;
  for (int ii = 0; ii < list->inum; ii++) {
    int i = list->ilist[ii];
    if (i >= nlocal) continue;
    if (mask[i] & groupbit)
      eval->evaluate(lmp, list, i, features[i]);
    else
      std::memset(features[i], 0, sizeof(double) * ncol);
  }
}

double ComputeStructureAtom::memory_usage()
{
  return (double) nmax * size_peratom_cols * sizeof(double);
}
