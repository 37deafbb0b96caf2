/* ----------------------------------------------------------------------
   pysoft: compute structure/atom, see doc/compute_structure_atom.md
------------------------------------------------------------------------- */

#include "compute_structure_atom.h"

#include "plugin_errors.h"
#include "plugin_io.h"
#include "neighbor_lists.h"
#include "structure_functions.h"

#include "atom.h"
#include "error.h"
#include "memory.h"
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

void StructureEvaluator::prepare(LAMMPS *lmp, bool after_first_run)
{
  if (!after_first_run)
    lmp->error->all(FLERR, "{} invoked before the first run: add 'run 0'", style_);
  const int nall = lmp->atom->nlocal + lmp->atom->nghost;
  const int *type = lmp->atom->type;
  atom_species_.resize(nall);
  for (int i = 0; i < nall; i++) atom_species_[i] = type2species_[type[i]];
  // atom->x is one contiguous block of 3 doubles per atom (Memory::create)
  const double *x = nall ? &lmp->atom->x[0][0] : nullptr;
  if (!cells_.build(nall, x, atom_species_.data(), cutoff()))
    pysoft_io::error_one(lmp, FLERR, fmt::format("{}: an atom has a non-finite coordinate", style_));
}

double StructureEvaluator::memory_usage() const
{
  return cells_.memory_usage() + sizeof(int) * (double) (atom_species_.capacity() + nbsp_.capacity()) +
      sizeof(double) * (double) disp_.capacity();
}

void StructureEvaluator::evaluate(int i, double *row)
{
  const int n = cells_.query(i, disp_, nbsp_);
  sf_->evaluate(n, disp_.data(), nbsp_.data(), row);
}

/* ---------------------------------------------------------------------- */

ComputeStructureAtom::ComputeStructureAtom(LAMMPS *lmp, int narg, char **arg) :
    Compute(lmp, narg, arg), nmax(0), features(nullptr), after_first_run(false)
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
  after_first_run = true;
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

  eval->prepare(lmp, after_first_run);

  const int nlocal = atom->nlocal;
  const int *mask = atom->mask;
  const int ncol = size_peratom_cols;
  for (const int i : eval->order()) {
    if (i >= nlocal) continue;
    if (mask[i] & groupbit)
      eval->evaluate(i, features[i]);
    else
      std::memset(features[i], 0, sizeof(double) * ncol);
  }
}

double ComputeStructureAtom::memory_usage()
{
  return (double) nmax * size_peratom_cols * sizeof(double) + eval->memory_usage();
}
