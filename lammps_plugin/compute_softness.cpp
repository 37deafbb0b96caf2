/* ----------------------------------------------------------------------
   pysoft: compute softness, see doc/compute_softness.md
------------------------------------------------------------------------- */

#include "compute_softness.h"

#include "compute_structure_atom.h"
#include "plugin_io.h"
#include "neighbor_lists.h"
#include "softness_model.h"

#include "atom.h"
#include "error.h"
#include "memory.h"
#include "update.h"

#include <cstring>

using namespace LAMMPS_NS;

ComputeSoftness::ComputeSoftness(LAMMPS *lmp, int narg, char **arg) :
    Compute(lmp, narg, arg), nmax(0), softness(nullptr), after_first_run(false)
{
  if (narg < 5) utils::missing_cmd_args(FLERR, "compute softness", error);
  const int ntypes = atom->ntypes;
  std::string text = pysoft_io::read_file(lmp, "Compute softness", "model", arg[3]);
  try {
    model = std::make_unique<pysoft::SoftnessModel>(pysoft::SoftnessModel::from_json(text));
  } catch (pysoft::SpecError &e) {
    error->all(FLERR, "Compute softness {}: {}", arg[3], e.what());
  }
  eval = std::make_unique<StructureEvaluator>(lmp, "Compute softness", model->spec, narg - 4,
                                              &arg[4]);
  for (int iarg = 4 + ntypes; iarg < narg; iarg++) {
    if (strcmp(arg[iarg], "NULL") == 0 || model->spec.species_index(arg[iarg]) >= 0)
      error->all(FLERR, "Compute softness got more element names than the {} atom types", ntypes);
    error->all(FLERR, "Unknown compute softness keyword: {}", arg[iarg]);
  }
  row.resize(eval->ncols());
  peratom_flag = 1;
  size_peratom_cols = 0;
}

ComputeSoftness::~ComputeSoftness()
{
  memory->destroy(softness);
}

void ComputeSoftness::init()
{
  eval->check_ghost_range(lmp);
  after_first_run = true;
}

void ComputeSoftness::compute_peratom()
{
  invoked_peratom = update->ntimestep;

  if (atom->nmax > nmax) {
    memory->destroy(softness);
    nmax = atom->nmax;
    memory->create(softness, nmax, "softness:softness");
    vector_atom = softness;
  }
  eval->prepare(lmp, after_first_run);

  const int nlocal = atom->nlocal;
  const int *mask = atom->mask;
  for (const int i : eval->order()) {
    if (i >= nlocal) continue;
    if (mask[i] & groupbit) {
      eval->evaluate(i, row.data());
      softness[i] = model->softness(row.data());
    } else {
      softness[i] = 0.0;
    }
  }
}

double ComputeSoftness::memory_usage()
{
  return (double) nmax * sizeof(double) + eval->memory_usage();
}
