/* ----------------------------------------------------------------------
   pysoft: compute nonaffine/atom, see doc/compute_nonaffine_atom.md
------------------------------------------------------------------------- */

#include "compute_nonaffine_atom.h"

#include "nonaffine.h"
#include "neighbor_lists.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <vector>

using namespace LAMMPS_NS;

ComputeNonaffineAtom::ComputeNonaffineAtom(LAMMPS *lmp, int narg, char **arg) :
    ComputeWithReference(lmp, narg, arg, REFERENCE), cutoff(0.0), nmax(0), d2min(nullptr),
    list_after_init(true)
{
  if (narg < 4) utils::missing_cmd_args(FLERR, "compute nonaffine/atom", error);
  cutoff = utils::numeric(FLERR, arg[3], false, lmp);
  if (cutoff <= 0.0)
    error->all(FLERR, "Compute nonaffine/atom cutoff must be positive, got {}", arg[3]);
  if (narg > 4) error->all(FLERR, "Unknown compute nonaffine/atom keyword: {}", arg[4]);

  if (!atom->tag_enable) error->all(FLERR, "Compute nonaffine/atom requires atom IDs");
  // the reference neighbours are stored by atom ID and found again through the atom map
  if (atom->map_style == Atom::MAP_NONE)
    error->all(FLERR, "Compute nonaffine/atom requires an atom map, see atom_modify");

  peratom_flag = 1;
  size_peratom_cols = 0;

  if (attach_store() && store()->captured_with()[WITH_CUTOFF] != cutoff)
    error->all(FLERR,
               "Compute nonaffine/atom {}: the reference in the restart file was captured with "
               "cutoff {}, not {}; define the compute with that cutoff, or with a new ID to start "
               "from a new reference",
               id, store()->captured_with()[WITH_CUTOFF], cutoff);
}

ComputeNonaffineAtom::~ComputeNonaffineAtom()
{
  memory->destroy(d2min);
}

void ComputeNonaffineAtom::init()
{
  // the list is built only to capture a reference; unbuilt, an occasional list costs nothing
  pysoft_neigh::check_ghost_range(lmp, "Compute nonaffine/atom", cutoff);
  pysoft_neigh::request_full_occasional(lmp, this, cutoff);
  list_after_init = true;
}

void ComputeNonaffineAtom::refuse_reference_word(const char *word, const char *how)
{
  error->all(FLERR, "Compute nonaffine/atom: {} reference takes 'current', not '{}'",
             how, word);
}

void ComputeNonaffineAtom::capture()
{
  const int nlocal = atom->nlocal;
  double **x = atom->x;
  const tagint *tag = atom->tag;
  const int *mask = atom->mask;
  const double cutsq = cutoff * cutoff;
  pysoft_neigh::build_current(lmp, list, list_after_init);

  auto within = [&](int i, int j, double *dx) {
    dx[0] = x[j][0] - x[i][0];
    dx[1] = x[j][1] - x[i][1];
    dx[2] = x[j][2] - x[i][2];
    return dx[0] * dx[0] + dx[1] * dx[1] + dx[2] * dx[2] < cutsq;
  };

  // count first, so that the store is as wide as the most neighbours of any atom; atoms outside
  // the group get "no reference"
  std::vector<int> count(nlocal, -1);
  bigint mypairs = 0;
  double dx[3];
  for (int ii = 0; ii < list->inum; ii++) {
    int i = list->ilist[ii];
    if (i >= nlocal || !(mask[i] & groupbit)) continue;
    int n = 0;
    for (int jj = 0; jj < list->numneigh[i]; jj++)
      if (within(i, list->firstneigh[i][jj] & NEIGHMASK, dx)) n++;
    count[i] = n;
    mypairs += n;
  }
  FixReferenceStore *fix = store();
  fix->begin_capture(count.data());

  for (int i = 0; i < nlocal; i++) {
    if (count[i] < 0) continue;
    double *slot = fix->entries(i);
    for (int jj = 0; jj < list->numneigh[i]; jj++) {
      int j = list->firstneigh[i][jj] & NEIGHMASK;
      if (!within(i, j, dx)) continue;
      slot[0] = ubuf(tag[j]).d;
      slot[1] = dx[0];
      slot[2] = dx[1];
      slot[3] = dx[2];
      slot += REFERENCE.entry_size;
    }
  }
  fix->end_capture({cutoff, (double) update->ntimestep, domain->xprd, domain->yprd, domain->zprd,
                    domain->xy, domain->xz, domain->yz});

  bigint pairs;
  MPI_Allreduce(&mypairs, &pairs, 1, MPI_LMP_BIGINT, MPI_SUM, world);
  if (comm->me == 0)
    utils::logmesg(lmp,
                   "Compute nonaffine/atom {}: reference captured at step {}, {} neighbours "
                   "within {} (at most {} per atom)\n",
                   id, update->ntimestep, pairs, cutoff, fix->width());
}

void ComputeNonaffineAtom::compute_peratom()
{
  invoked_peratom = update->ntimestep;

  if (atom->nmax > nmax) {
    memory->destroy(d2min);
    nmax = atom->nmax;
    memory->create(d2min, nmax, "nonaffine/atom:d2min");
    vector_atom = d2min;
  }
  const FixReferenceStore *fix = reference();

  // A = H H0^-1 carries a reference separation along with the deformation of the box since the
  // capture.  It only picks the periodic image of each neighbour (the one nearest to A X), so
  // that the box may stretch and shear between the two configurations.
  const double *b0 = &fix->captured_with()[WITH_BOX];
  const double H[3][3] = {{domain->xprd, domain->xy, domain->xz},
                          {0.0, domain->yprd, domain->yz},
                          {0.0, 0.0, domain->zprd}};
  const double H0inv[3][3] = {{1.0 / b0[0], -b0[3] / (b0[0] * b0[1]),
                               (b0[3] * b0[5] - b0[1] * b0[4]) / (b0[0] * b0[1] * b0[2])},
                              {0.0, 1.0 / b0[1], -b0[5] / (b0[1] * b0[2])},
                              {0.0, 0.0, 1.0 / b0[2]}};
  double A[3][3];
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 3; b++)
      A[a][b] = H[a][0] * H0inv[0][b] + H[a][1] * H0inv[1][b] + H[a][2] * H0inv[2][b];

  // a copy further than half the shortest period from where the neighbour should be is
  // another image: the right one is then missing from this rank's ghost atoms.  No lattice
  // vector of the cell is shorter than the shortest of xprd, yprd, zprd.
  double period = std::numeric_limits<double>::infinity();
  for (int k = 0; k < 3; k++)
    if (domain->periodicity[k]) period = std::min(period, domain->prd[k]);
  const double acceptsq = 0.25 * period * period;

  double **x = atom->x;
  const int *mask = atom->mask;
  const int nlocal = atom->nlocal;

  // A neighbour is looked up among this rank's owned and ghost atoms.  One that moved beyond the
  // ghost range since the capture (an atom thrown off a breaking ligament into an opening crack
  // travels several Å in a step) is fetched from its owner instead, below: rare, so a collective
  // exchange of just those atoms costs nothing in the common case.
  std::vector<int> pending;                      // local atoms with a neighbour not found here
  std::vector<tagint> wanted;                    // the atom IDs of those neighbours
  for (int i = 0; i < nlocal; i++) {
    d2min[i] = 0.0;
    if (!(mask[i] & groupbit)) continue;
    // an atom with no reference (created, or joined the group, since the capture) has no
    // neighbours to follow
    const double *entries = nullptr;
    const int n = std::max(fix->reference(i, &entries), 0);
    X.resize(3 * (size_t) n);
    d.resize(3 * (size_t) n);
    bool complete = true;
    for (int k = 0; k < n; k++) {
      const double *slot = entries + REFERENCE.entry_size * k;
      const tagint jtag = (tagint) ubuf(slot[0]).i;
      double p[3];
      expected(A, slot, p);
      const int best = nearest_copy(i, jtag, p, acceptsq);
      if (best < 0) {
        complete = false;
        wanted.push_back(jtag);
        continue;
      }
      for (int a = 0; a < 3; a++) {
        X[3 * k + a] = slot[1 + a];
        d[3 * k + a] = x[best][a] - x[i][a];
      }
    }
    if (complete)
      d2min[i] = pysoft::nonaffine_d2min(n, X.data(), d.data());
    else
      pending.push_back(i);
  }

  bigint mine = (bigint) pending.size(), npending;
  MPI_Allreduce(&mine, &npending, 1, MPI_LMP_BIGINT, MPI_SUM, world);
  if (npending) fetch_far_neighbours(fix, A, pending, wanted);
}

void ComputeNonaffineAtom::expected(const double A[3][3], const double *slot, double *p) const
{
  for (int a = 0; a < 3; a++) p[a] = A[a][0] * slot[1] + A[a][1] * slot[2] + A[a][2] * slot[3];
}

int ComputeNonaffineAtom::nearest_copy(int i, tagint jtag, const double *p, double acceptsq) const
{
  double **x = atom->x;
  int best = -1;
  double bestsq = acceptsq;
  // an array map has no slot past the largest atom ID present (the atom was deleted)
  if (jtag <= atom->map_tag_max || atom->map_style == Atom::MAP_HASH)
    for (int j = atom->map(jtag); j >= 0; j = atom->sametag[j]) {
      const double e0 = x[j][0] - x[i][0] - p[0];
      const double e1 = x[j][1] - x[i][1] - p[1];
      const double e2 = x[j][2] - x[i][2] - p[2];
      const double esq = e0 * e0 + e1 * e1 + e2 * e2;
      if (esq < bestsq) {
        bestsq = esq;
        best = j;
      }
    }
  return best;
}

void ComputeNonaffineAtom::fetch_far_neighbours(const FixReferenceStore *fix, const double A[3][3],
                                                const std::vector<int> &pending,
                                                std::vector<tagint> &wanted)
{
  // every rank learns which atom IDs are wanted, their owners post the positions (one owner
  // each, so a sum over ranks is the position itself), and the wanting ranks finish their atoms
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  const int nprocs = comm->nprocs;
  int nmine = (int) wanted.size();
  std::vector<int> counts(nprocs), displs(nprocs, 0);
  MPI_Allgather(&nmine, 1, MPI_INT, counts.data(), 1, MPI_INT, world);
  for (int r = 1; r < nprocs; r++) displs[r] = displs[r - 1] + counts[r - 1];
  const int total = displs[nprocs - 1] + counts[nprocs - 1];
  std::vector<tagint> all(total);
  MPI_Allgatherv(wanted.data(), nmine, MPI_LMP_TAGINT, all.data(), counts.data(), displs.data(),
                 MPI_LMP_TAGINT, world);

  double **x = atom->x;
  const int nlocal = atom->nlocal;
  std::vector<double> posted(4 * (size_t) total, 0.0), pos(4 * (size_t) total);
  std::unordered_map<tagint, int> where;
  for (int t = 0; t < total; t++) {
    where.emplace(all[t], t);
    const tagint tag = all[t];
    if (tag > atom->map_tag_max && atom->map_style != Atom::MAP_HASH) continue;
    for (int j = atom->map(tag); j >= 0; j = atom->sametag[j])
      if (j < nlocal) {
        for (int a = 0; a < 3; a++) posted[4 * t + a] = x[j][a];
        posted[4 * t + 3] = 1.0;
        break;
      }
  }
  MPI_Allreduce(posted.data(), pos.data(), 4 * total, MPI_DOUBLE, MPI_SUM, world);

  // the period images of a separation: the copy of the neighbour nearest to where the affine
  // map puts it, over the box's images (fractional rounding, then the 27 cells around it)
  const double h[3][3] = {{domain->xprd, domain->xy, domain->xz},
                          {0.0, domain->yprd, domain->yz},
                          {0.0, 0.0, domain->zprd}};
  const int *periodic = domain->periodicity;
  bigint deleted = 0;
  tagint deleted_tag = 0, deleted_of = 0;
  for (int i : pending) {
    // an atom with no reference (created, or joined the group, since the capture) has no
    // neighbours to follow
    const double *entries = nullptr;
    const int n = std::max(fix->reference(i, &entries), 0);
    X.resize(3 * (size_t) n);
    d.resize(3 * (size_t) n);
    int found = 0;
    for (int k = 0; k < n; k++) {
      const double *slot = entries + REFERENCE.entry_size * k;
      const tagint jtag = (tagint) ubuf(slot[0]).i;
      double p[3];
      expected(A, slot, p);
      double sep[3];
      const int best = nearest_copy(i, jtag, p, std::numeric_limits<double>::infinity());
      if (best >= 0 && !far_from(best, i, p)) {
        for (int a = 0; a < 3; a++) sep[a] = x[best][a] - x[i][a];
      } else {
        const auto it = where.find(jtag);
        if (it == where.end() || pos[4 * it->second + 3] == 0.0) {
          if (!deleted) {
            deleted_tag = jtag;
            deleted_of = atom->tag[i];
          }
          deleted++;
          continue;
        }
        const double *q = &pos[4 * it->second];
        double e[3] = {q[0] - x[i][0] - p[0], q[1] - x[i][1] - p[1], q[2] - x[i][2] - p[2]};
        // fractional coordinates of e in the cell (h is upper triangular)
        double f[3];
        f[2] = e[2] / h[2][2];
        f[1] = (e[1] - h[1][2] * f[2]) / h[1][1];
        f[0] = (e[0] - h[0][1] * f[1] - h[0][2] * f[2]) / h[0][0];
        for (int a = 0; a < 3; a++)
          if (periodic[a]) f[a] -= std::nearbyint(f[a]);
        double bestsq = std::numeric_limits<double>::infinity(), beste[3] = {0.0, 0.0, 0.0};
        for (int s0 = -1; s0 <= 1; s0++)
          for (int s1 = -1; s1 <= 1; s1++)
            for (int s2 = -1; s2 <= 1; s2++) {
              if ((s0 && !periodic[0]) || (s1 && !periodic[1]) || (s2 && !periodic[2])) continue;
              const double g0 = f[0] + s0, g1 = f[1] + s1, g2 = f[2] + s2;
              const double c0 = h[0][0] * g0 + h[0][1] * g1 + h[0][2] * g2;
              const double c1 = h[1][1] * g1 + h[1][2] * g2;
              const double c2 = h[2][2] * g2;
              const double sq = c0 * c0 + c1 * c1 + c2 * c2;
              if (sq < bestsq) {
                bestsq = sq;
                beste[0] = c0;
                beste[1] = c1;
                beste[2] = c2;
              }
            }
        for (int a = 0; a < 3; a++) sep[a] = p[a] + beste[a];
      }
      for (int a = 0; a < 3; a++) {
        X[3 * found + a] = slot[1 + a];
        d[3 * found + a] = sep[a];
      }
      found++;
    }
    d2min[i] = pysoft::nonaffine_d2min(found, X.data(), d.data());
  }

  bigint deletedall;
  MPI_Allreduce(&deleted, &deletedall, 1, MPI_LMP_BIGINT, MPI_SUM, world);
  if (deletedall) {
    tagint first[2] = {deleted ? deleted_of : MAXTAGINT, 0}, got[2];
    MPI_Allreduce(&first[0], &got[0], 1, MPI_LMP_TAGINT, MPI_MIN, world);
    first[1] = (deleted && deleted_of == got[0]) ? deleted_tag : 0;
    MPI_Allreduce(&first[1], &got[1], 1, MPI_LMP_TAGINT, MPI_MAX, world);
    error->all(FLERR,
               "Compute nonaffine/atom {}: {} reference neighbour(s) no longer exist, e.g. atom {} "
               "of atom {}: atoms were deleted since the reference was captured (capture a new "
               "reference with compute_modify {} reference current)",
               id, deletedall, got[1], got[0], id);
  }
}

bool ComputeNonaffineAtom::far_from(int j, int i, const double *p) const
{
  // a copy found with no distance limit may be a wrong periodic image: accept it only within
  // half the shortest period of where the affine map puts it, as the first pass does
  double period = std::numeric_limits<double>::infinity();
  for (int k = 0; k < 3; k++)
    if (domain->periodicity[k]) period = std::min(period, domain->prd[k]);
  double **x = atom->x;
  const double e0 = x[j][0] - x[i][0] - p[0], e1 = x[j][1] - x[i][1] - p[1], e2 = x[j][2] - x[i][2] - p[2];
  return e0 * e0 + e1 * e1 + e2 * e2 >= 0.25 * period * period;
}

double ComputeNonaffineAtom::memory_usage()
{
  return (double) nmax * sizeof(double);
}
