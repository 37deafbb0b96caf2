/* ----------------------------------------------------------------------
   pysoft: fix BONDSWITCH/STORE, the reference of compute bondswitch/atom
   (see doc/compute_bondswitch_atom.md).

   Created and deleted by the compute, never by users.  Per atom it keeps
   the reference coordination number and the sorted ids of the reference
   neighbours.  The atom callbacks move them with their atom between ranks
   (exchange) and within a rank (sorting, deletion), and write them to
   restart files, together with a global record (captured or not, the
   width, Rc and types).  After read_restart, a compute re-defined with the
   same ID creates this fix with the same ID and style, and Modify::add_fix
   hands it both records.
------------------------------------------------------------------------- */

#include "fix_bondswitch_store.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "memory.h"

#include <algorithm>
#include <cstring>

using namespace LAMMPS_NS;

namespace {
// global restart record: captured, width, cutoff, typelo, typehi
constexpr int NGLOBAL = 5;
}    // namespace

FixBondSwitchStore::FixBondSwitchStore(LAMMPS *lmp, int narg, char **arg) :
    Fix(lmp, narg, arg), captured_(false), width(0), ncols(1), refcn(nullptr), refids(nullptr),
    cutoff_(0.0), typelo_(0), typehi_(0)
{
  if (narg != 3)
    error->all(FLERR, "Illegal fix {} command: it is internal to compute bondswitch/atom and "
               "takes no arguments", style);

  restart_global = 1;
  restart_peratom = 1;
  // a reference keeps atom ids: renumbering atoms (reset_atoms id) would scramble it
  stores_ids = 1;
  // atoms created after the capture get "no reference" (set_arrays)
  create_attribute = 1;
  // an exchanged atom carries its reference CN and up to `width` ids; the width changes when
  // a new reference is captured, possibly in the middle of a run, so Comm asks again
  maxexchange = 1;
  maxexchange_dynamic = 1;

  FixBondSwitchStore::grow_arrays(atom->nmax);
  atom->add_callback(Atom::GROW);
  atom->add_callback(Atom::RESTART);
  for (int i = 0; i < atom->nlocal; i++) refcn[i] = -1;
}

FixBondSwitchStore::~FixBondSwitchStore()
{
  atom->delete_callback(id, Atom::GROW);
  atom->delete_callback(id, Atom::RESTART);
  memory->destroy(refcn);
  memory->destroy(refids);
}

int FixBondSwitchStore::setmask()
{
  return 0;
}

/* ----------------------------------------------------------------------
   the reference, as captured by the compute
------------------------------------------------------------------------- */

void FixBondSwitchStore::set_width(int w)
{
  width = w;
  maxexchange = 1 + width;
  if (width <= ncols) return;
  // the rows are copied over, so widening never loses a stored reference, whoever calls it
  std::int64_t **wider = nullptr;
  const int nmax = atom->nmax;
  memory->create(wider, std::max(nmax, 1), width, "bondswitch/store:refids");
  for (int i = 0; i < nmax; i++) std::copy(refids[i], refids[i] + ncols, wider[i]);
  memory->destroy(refids);
  refids = wider;
  ncols = width;
}

void FixBondSwitchStore::begin_capture(int w, double cutoff, int typelo, int typehi)
{
  set_width(w);
  cutoff_ = cutoff;
  typelo_ = typelo;
  typehi_ = typehi;
}

void FixBondSwitchStore::set_reference(int i, const std::int64_t *ids, int n)
{
  if (n > width)
    error->one(FLERR, "Fix {}: reference of {} neighbours exceeds the captured width {}", style, n,
               width);
  refcn[i] = n;
  if (n > 0) std::copy(ids, ids + n, refids[i]);
}

/* ----------------------------------------------------------------------
   global restart data: whether a reference exists, and what it was captured with
------------------------------------------------------------------------- */

void FixBondSwitchStore::write_restart(FILE *fp)
{
  double list[NGLOBAL] = {captured_ ? 1.0 : 0.0, (double) width, cutoff_, (double) typelo_,
                          (double) typehi_};
  if (comm->me == 0) {
    int size = NGLOBAL * sizeof(double);
    fwrite(&size, sizeof(int), 1, fp);
    fwrite(list, sizeof(double), NGLOBAL, fp);
  }
}

void FixBondSwitchStore::restart(char *buf)
{
  // called before unpack_restart() (Modify::add_fix), so the width is known when the
  // per-atom ids arrive
  auto *list = (double *) buf;
  captured_ = list[0] != 0.0;
  set_width(static_cast<int>(list[1]));
  cutoff_ = list[2];
  typelo_ = static_cast<int>(list[3]);
  typehi_ = static_cast<int>(list[4]);
}

/* ----------------------------------------------------------------------
   per-atom callbacks
------------------------------------------------------------------------- */

void FixBondSwitchStore::grow_arrays(int nmax)
{
  memory->grow(refcn, nmax, "bondswitch/store:refcn");
  memory->grow(refids, std::max(nmax, 1), ncols, "bondswitch/store:refids");
}

void FixBondSwitchStore::copy_arrays(int i, int j, int /*delflag*/)
{
  refcn[j] = refcn[i];
  if (refcn[i] > 0) std::copy(refids[i], refids[i] + refcn[i], refids[j]);
}

void FixBondSwitchStore::set_arrays(int i)
{
  refcn[i] = -1;
}

int FixBondSwitchStore::pack_exchange(int i, double *buf)
{
  const int n = std::max(refcn[i], 0);
  buf[0] = refcn[i];
  for (int k = 0; k < n; k++) buf[1 + k] = ubuf(refids[i][k]).d;
  return 1 + n;
}

int FixBondSwitchStore::unpack_exchange(int nlocal, double *buf)
{
  refcn[nlocal] = static_cast<int>(buf[0]);
  const int n = std::max(refcn[nlocal], 0);
  for (int k = 0; k < n; k++) refids[nlocal][k] = ubuf(buf[1 + k]).i;
  return 1 + n;
}

int FixBondSwitchStore::pack_restart(int i, double *buf)
{
  // buf[0] is the length of this fix's record, read as a plain double by every fix that walks
  // atom->extra to find its own record
  const int n = std::max(refcn[i], 0);
  buf[0] = 2 + n;
  buf[1] = refcn[i];
  for (int k = 0; k < n; k++) buf[2 + k] = ubuf(refids[i][k]).d;
  return 2 + n;
}

void FixBondSwitchStore::unpack_restart(int nlocal, int nth)
{
  double **extra = atom->extra;
  int m = 0;
  for (int k = 0; k < nth; k++) m += static_cast<int>(extra[nlocal][m]);
  m++;
  const int cn = static_cast<int>(extra[nlocal][m++]);
  if (cn > width)
    error->one(FLERR, "Fix {} restart data holds {} ids for atom {}, more than its width {}",
               style, cn, atom->tag[nlocal], width);
  refcn[nlocal] = cn;
  for (int k = 0; k < cn; k++) refids[nlocal][k] = ubuf(extra[nlocal][m++]).i;
}

int FixBondSwitchStore::size_restart(int i)
{
  return 2 + std::max(refcn[i], 0);
}

int FixBondSwitchStore::maxsize_restart()
{
  return 2 + width;
}

double FixBondSwitchStore::memory_usage()
{
  return (double) atom->nmax * (sizeof(int) + ncols * sizeof(std::int64_t));
}
