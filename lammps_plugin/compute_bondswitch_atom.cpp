/* ----------------------------------------------------------------------
   pysoft: compute bondswitch/atom, see doc/compute_bondswitch_atom.md
------------------------------------------------------------------------- */

#include "compute_bondswitch_atom.h"

#include "bond_switching.h"
#include "neighbor_lists.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"

#include <algorithm>
#include <cstring>

using namespace LAMMPS_NS;

ComputeBondSwitchAtom::ComputeBondSwitchAtom(LAMMPS *lmp, int narg, char **arg) :
    ComputeWithReference(lmp, narg, arg, REFERENCE), cutoff(0.0), typelo(0), typehi(0),
    nmax(0), state(nullptr)
{
  if (narg < 5) utils::missing_cmd_args(FLERR, "compute bondswitch/atom", error);
  if (narg > 5)
    error->all(FLERR,
               "Illegal compute bondswitch/atom command: it takes 2 arguments (Rc TYPES), "
               "got {}; first extra argument: {}",
               narg - 3, arg[5]);

  if (!utils::is_double(arg[3]) || (cutoff = utils::numeric(FLERR, arg[3], false, lmp)) <= 0.0)
    error->all(FLERR, "Compute bondswitch/atom bond cutoff Rc must be a positive number, not {}",
               arg[3]);

  // no Error pointer: out-of-range and malformed ranges both get the message below, which
  // names this compute and the valid types
  const int ntypes = atom->ntypes;
  utils::bounds(FLERR, arg[4], 1, ntypes, typelo, typehi, nullptr);
  if (typelo < 1 || typehi > ntypes || typelo > typehi)
    error->all(FLERR,
               "Compute bondswitch/atom neighbour types {} are not a type or type range "
               "within 1-{}",
               arg[4], ntypes);

  peratom_flag = 1;
  size_peratom_cols = 3;

  if (attach_store()) {
    // the reference from the restart file is kept; a mismatch is pointed out
    const auto &with = store()->captured_with();
    const double rc = with[0];
    const int lo = static_cast<int>(with[1]), hi = static_cast<int>(with[2]);
    if ((rc != cutoff || lo != typelo || hi != typehi) && comm->me == 0)
      error->warning(FLERR,
                     "Compute bondswitch/atom {}: the reference from the restart file was "
                     "captured with Rc {} and types {}-{}, now Rc {} and types {}-{}; use "
                     "compute_modify {} reference current to capture a new one",
                     id, rc, lo, hi, cutoff, typelo, typehi, id);
  }
}

ComputeBondSwitchAtom::~ComputeBondSwitchAtom()
{
  memory->destroy(state);
}

void ComputeBondSwitchAtom::init()
{
  // a store deleted by hand stops the run here, before any invocation
  store();
  pysoft_neigh::check_ghost_range(lmp, "Compute bondswitch/atom", cutoff);
  // perpetual, not occasional: the list must follow atoms moved between two runs at the same
  // timestep (a strain step, then run 0), or a reference captured before would be compared
  // with stale neighbours; with the short bond cutoff it costs little at each re-neighboring
  pysoft_neigh::request_full_perpetual(lmp, this, cutoff);
}

void ComputeBondSwitchAtom::refuse_reference_word(const char *word, const char *how)
{
  error->all(FLERR, "Compute bondswitch/atom: {} reference takes 'current', not {}",
             how, word);
}

void ComputeBondSwitchAtom::bonded_now()
{
  const int nlocal = atom->nlocal;
  const int *mask = atom->mask;
  const int *type = atom->type;
  const tagint *tag = atom->tag;
  double **x = atom->x;
  const double cutsq = cutoff * cutoff;

  ids_.clear();
  first_.assign(nlocal, 0);
  num_.assign(nlocal, -1);
  for (int ii = 0; ii < list->inum; ii++) {
    const int i = list->ilist[ii];
    if (i >= nlocal || !(mask[i] & groupbit)) continue;
    const int jnum = list->numneigh[i];
    const int *jlist = list->firstneigh[i];
    const std::size_t start = ids_.size();
    // each periodic image of a neighbour is a ghost atom of its own, so an atom bonded to
    // two images of one neighbour lists that id twice (possible only in boxes thinner
    // than 2 Rc), as compute coord/atom counts both
    for (int jj = 0; jj < jnum; jj++) {
      const int j = jlist[jj] & NEIGHMASK;
      if (type[j] < typelo || type[j] > typehi) continue;
      const double dx = x[j][0] - x[i][0];
      const double dy = x[j][1] - x[i][1];
      const double dz = x[j][2] - x[i][2];
      if (dx * dx + dy * dy + dz * dz < cutsq) ids_.push_back(tag[j]);
    }
    std::sort(ids_.begin() + start, ids_.end());
    first_[i] = (int) start;
    num_[i] = (int) (ids_.size() - start);
  }
}

void ComputeBondSwitchAtom::capture()
{
  // no fixed limit on the neighbours kept: the store is as wide as the largest reference CN;
  // atoms outside the group (num_ < 0) get "no reference"
  FixReferenceStore *fix = store();
  fix->begin_capture(num_.data());
  for (int i = 0; i < atom->nlocal; i++) {
    double *entries = fix->entries(i);
    for (int k = 0; k < num_[i]; k++) entries[k] = ubuf(ids_[first_[i] + k]).d;
  }
  fix->end_capture({cutoff, (double) typelo, (double) typehi});
}

void ComputeBondSwitchAtom::compute_peratom()
{
  invoked_peratom = update->ntimestep;

  if (atom->nmax > nmax) {
    memory->destroy(state);
    nmax = atom->nmax;
    memory->create(state, nmax, size_peratom_cols, "bondswitch/atom:state");
    array_atom = state;
  }

  if (!list)
    error->all(FLERR, "Compute bondswitch/atom invoked before the first run: add 'run 0'");
  bonded_now();
  const FixReferenceStore *fix = reference();

  const int nlocal = atom->nlocal;
  for (int i = 0; i < nlocal; i++) {
    double *row = state[i];
    row[0] = row[1] = row[2] = 0.0;
    // num_ < 0: outside the group.  No reference: the atom was created, or joined the
    // group, after the capture; both stay zero until the next capture
    if (num_[i] < 0) continue;
    const double *entries = nullptr;
    const int nref = fix->reference(i, &entries);
    if (nref < 0) continue;
    refids_.resize(nref);
    for (int k = 0; k < nref; k++) refids_[k] = ubuf(entries[k]).i;
    row[0] = nref;
    row[1] = num_[i];
    row[2] = pysoft::classify_bond_switch(refids_.data(), nref, ids_.data() + first_[i], num_[i]);
  }
}

double ComputeBondSwitchAtom::memory_usage()
{
  return (double) nmax * size_peratom_cols * sizeof(double) +
      (double) (ids_.capacity() + refids_.capacity()) * sizeof(std::int64_t) +
      (double) (first_.capacity() + num_.capacity()) * sizeof(int);
}
