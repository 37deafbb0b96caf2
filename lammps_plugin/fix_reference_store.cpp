/* ----------------------------------------------------------------------
   pysoft: the per-atom reference store of compute bondswitch/atom and
   compute nonaffine/atom, see fix_reference_store.h and the two computes'
   doc pages.

   Created and deleted by its compute, never by users; they only name it in
   `fix_modify ID reference current`.  The atom callbacks
   move each row with its atom between ranks (exchange) and within a rank
   (sorting, deletion), and write it to restart files, together with the
   global record.  After read_restart, a compute re-defined with the same ID
   creates its store with the same ID and style, and Modify::add_fix hands it
   both records: restart() first, then unpack_restart() for each atom.
------------------------------------------------------------------------- */

#include "fix_reference_store.h"

#include "compute_with_reference.h"
#include "plugin_errors.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "memory.h"
#include "modify.h"

#include <algorithm>
#include <cstring>

using namespace LAMMPS_NS;

namespace {
// The global restart record: LAYOUT, captured, width, the number of captured-with values, and
// those values.  The records of pysoft before this store (one design per compute) began with
// their captured flag, 0 or 1, so LAYOUT tells them apart rather than misreading them.
constexpr double LAYOUT = 2.0;
constexpr int NHEAD = 4;
constexpr double NONE = -1.0;
}    // namespace

FixReferenceStore::FixReferenceStore(LAMMPS *lmp, int narg, char **arg,
                                     const ReferenceKind &kind_in) :
    Fix(lmp, narg, arg), kind(kind_in), captured_(false), width_(0), nmax(0), rows(nullptr)
{
  if (narg != 3)
    error->all(FLERR, "Illegal fix {} command: it is internal to compute {} and takes no arguments",
               style, kind.compute_style);

  restart_global = 1;
  restart_peratom = 1;
  // a reference keeps atom IDs: renumbering atoms (reset_atoms id) would scramble it
  stores_ids = 1;
  // atoms created after the capture get "no reference" (set_arrays)
  create_attribute = 1;
  // an exchanged atom carries its count and up to `width` entries; the width changes when a new
  // reference is captured, possibly in the middle of a run, so Comm asks again
  maxexchange = row_length();
  maxexchange_dynamic = 1;

  FixReferenceStore::grow_arrays(atom->nmax);
  atom->add_callback(Atom::GROW);
  atom->add_callback(Atom::RESTART);
}

FixReferenceStore::~FixReferenceStore()
{
  atom->delete_callback(id, Atom::GROW);
  atom->delete_callback(id, Atom::RESTART);
  memory->destroy(rows);
}

int FixReferenceStore::setmask()
{
  return 0;
}

int FixReferenceStore::modify_param(int narg, char **arg)
{
  if (strcmp(arg[0], "reference") != 0) return 0;
  // this fix is the store of the compute whose ID store_id() extends
  const std::string mine = id;
  const std::string tail = kind.store_id("");
  const std::string owner_id = mine.substr(0, mine.size() - tail.size());
  auto *owner = dynamic_cast<ComputeWithReference *>(modify->get_compute_by_id(owner_id));
  if (!owner || kind.store_id(owner_id) != mine)
    error->all(FLERR, "Fix {}: the compute {} whose reference it keeps is gone", id, owner_id);
  owner->renew_reference(narg, arg, "fix_modify");
  return 2;
}

/* ----------------------------------------------------------------------
   the reference, as the compute captures it
------------------------------------------------------------------------- */

void FixReferenceStore::reset_rows(int width_new)
{
  width_ = width_new;
  maxexchange = row_length();
  memory->destroy(rows);
  const int n = nmax;
  nmax = 0;
  grow_arrays(n);
}

void FixReferenceStore::begin_capture(const int *count)
{
  const int nlocal = atom->nlocal;
  int mine = 0, widest = 0;
  for (int i = 0; i < nlocal; i++) mine = std::max(mine, count[i]);
  MPI_Allreduce(&mine, &widest, 1, MPI_INT, MPI_MAX, world);
  captured_ = false;
  reset_rows(widest);
  for (int i = 0; i < nlocal; i++) rows[i][0] = count[i];
}

void FixReferenceStore::end_capture(const std::vector<double> &with)
{
  with_ = with;
  captured_ = true;
}

/* ----------------------------------------------------------------------
   global restart data: whether a reference exists, its width, and what it was captured with
------------------------------------------------------------------------- */

void FixReferenceStore::write_restart(FILE *fp)
{
  if (comm->me != 0) return;
  std::vector<double> list = {LAYOUT, captured_ ? 1.0 : 0.0, (double) width_, (double) with_.size()};
  list.insert(list.end(), with_.begin(), with_.end());
  int size = list.size() * sizeof(double);
  fwrite(&size, sizeof(int), 1, fp);
  fwrite(list.data(), sizeof(double), list.size(), fp);
}

void FixReferenceStore::restart(char *buf)
{
  auto *list = (double *) buf;
  if (list[0] != LAYOUT)
    error->all(FLERR,
               "Fix {} {}: the restart file holds a reference written by an older pysoft, in a "
               "layout this one cannot read; define compute {} with another ID to capture a new "
               "reference",
               style, id, kind.compute_style);
  captured_ = list[1] != 0.0;
  // the rows must be wide enough before the per-atom records arrive
  reset_rows(static_cast<int>(list[2]));
  with_.assign(list + NHEAD, list + NHEAD + static_cast<int>(list[3]));
}

/* ----------------------------------------------------------------------
   per-atom callbacks
------------------------------------------------------------------------- */

int FixReferenceStore::row_used(double count) const
{
  return 1 + kind.entry_size * std::max(static_cast<int>(count), 0);
}

void FixReferenceStore::grow_arrays(int nmax_new)
{
  memory->grow(rows, nmax_new, row_length(), "reference/store:rows");
  // rows of atoms that arrive by exchange or from a restart file are overwritten; any other
  // new row is a valid "no reference" row
  for (int i = nmax; i < nmax_new; i++) rows[i][0] = NONE;
  nmax = nmax_new;
}

void FixReferenceStore::copy_arrays(int i, int j, int /*delflag*/)
{
  std::memcpy(rows[j], rows[i], sizeof(double) * row_used(rows[i][0]));
}

void FixReferenceStore::set_arrays(int i)
{
  rows[i][0] = NONE;
}

int FixReferenceStore::pack_exchange(int i, double *buf)
{
  const int m = row_used(rows[i][0]);
  std::memcpy(buf, rows[i], sizeof(double) * m);
  return m;
}

int FixReferenceStore::unpack_exchange(int nlocal, double *buf)
{
  const int m = row_used(buf[0]);
  std::memcpy(rows[nlocal], buf, sizeof(double) * m);
  return m;
}

int FixReferenceStore::pack_restart(int i, double *buf)
{
  // buf[0] is the length of this fix's record, read as a plain double by every fix that walks
  // atom->extra to find its own record
  const int m = row_used(rows[i][0]);
  buf[0] = m + 1;
  std::memcpy(&buf[1], rows[i], sizeof(double) * m);
  return m + 1;
}

void FixReferenceStore::unpack_restart(int nlocal, int nth)
{
  double **extra = atom->extra;
  int m = 0;
  for (int k = 0; k < nth; k++) m += static_cast<int>(extra[nlocal][m]);
  m++;
  const double *record = &extra[nlocal][m];
  if (record[0] > width_)
    pysoft_io::error_one(lmp, FLERR, fmt::format("Fix {} restart data holds {} entries for atom {}, more than its width {}",
                                                 style, record[0], atom->tag[nlocal], width_));
  std::memcpy(rows[nlocal], record, sizeof(double) * row_used(record[0]));
}

int FixReferenceStore::size_restart(int i)
{
  return 1 + row_used(rows[i][0]);
}

int FixReferenceStore::maxsize_restart()
{
  return 1 + row_length();
}

double FixReferenceStore::memory_usage()
{
  return (double) nmax * row_length() * sizeof(double);
}
