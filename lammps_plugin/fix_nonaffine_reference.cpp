/* ----------------------------------------------------------------------
   pysoft: fix NONAFFINE/REFERENCE, see fix_nonaffine_reference.h and
   doc/compute_nonaffine_atom.md
------------------------------------------------------------------------- */

#include "fix_nonaffine_reference.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "memory.h"

#include <cstring>

using namespace LAMMPS_NS;

namespace {
constexpr int NGLOBAL = 10;    // restart record: captured, cutoff, step, maxnb, box0[6]
}

FixNonaffineReference::FixNonaffineReference(LAMMPS *lmp, int narg, char **arg) :
    Fix(lmp, narg, arg), ref(nullptr), maxnb(0), captured(0), cutoff(0.0), step(0), nmax(0)
{
  if (narg != 3) error->all(FLERR, "Illegal fix {} command: it takes no arguments", style);
  for (double &b : box0) b = 0.0;

  restart_global = 1;
  restart_peratom = 1;
  create_attribute = 1;
  // the rows hold atom IDs, so commands that renumber atoms must refuse to run
  stores_ids = 1;
  // the row length is only known once a reference is captured, possibly mid-way between
  // Comm::init() and the exchanges of a run
  maxexchange_dynamic = 1;
  maxexchange = width();

  grow_arrays(atom->nmax);
  atom->add_callback(Atom::GROW);
  atom->add_callback(Atom::RESTART);
}

FixNonaffineReference::~FixNonaffineReference()
{
  atom->delete_callback(id, Atom::GROW);
  atom->delete_callback(id, Atom::RESTART);
  memory->destroy(ref);
}

int FixNonaffineReference::setmask()
{
  return 0;
}

void FixNonaffineReference::reset_rows(int maxnb_new)
{
  memory->destroy(ref);
  ref = nullptr;
  maxnb = maxnb_new;
  maxexchange = width();
  int n = nmax;
  nmax = 0;
  grow_arrays(n);
}

void FixNonaffineReference::write_restart(FILE *fp)
{
  if (comm->me != 0) return;
  double list[NGLOBAL] = {(double) captured, cutoff, (double) step, (double) maxnb,
                          box0[0], box0[1], box0[2], box0[3], box0[4], box0[5]};
  int size = NGLOBAL * sizeof(double);
  fwrite(&size, sizeof(int), 1, fp);
  fwrite(list, sizeof(double), NGLOBAL, fp);
}

void FixNonaffineReference::restart(char *buf)
{
  auto list = (double *) buf;
  captured = (int) list[0];
  cutoff = list[1];
  step = (bigint) list[2];
  for (int k = 0; k < 6; k++) box0[k] = list[4 + k];
  int nb = (int) list[3];
  // Modify restores the global record before the per-atom rows, so the rows are still empty
  if (nb != maxnb) reset_rows(nb);
}

void FixNonaffineReference::grow_arrays(int nmax_new)
{
  if (nmax_new <= nmax && ref) return;
  memory->grow(ref, nmax_new, width(), "nonaffine/reference:ref");
  // rows of atoms that will arrive by exchange are overwritten; the count makes any other
  // new row a valid "no reference" row
  for (int i = nmax; i < nmax_new; i++) ref[i][0] = 0.0;
  nmax = nmax_new;
}

void FixNonaffineReference::copy_arrays(int i, int j, int /*delflag*/)
{
  int n = (int) ref[i][0];
  std::memcpy(ref[j], ref[i], sizeof(double) * (1 + PER_NEIGHBOUR * n));
}

void FixNonaffineReference::set_arrays(int i)
{
  // an atom created after the capture has no reference neighbours until the next capture
  ref[i][0] = 0.0;
}

int FixNonaffineReference::pack_exchange(int i, double *buf)
{
  int m = 1 + PER_NEIGHBOUR * (int) ref[i][0];
  std::memcpy(buf, ref[i], sizeof(double) * m);
  return m;
}

int FixNonaffineReference::unpack_exchange(int nlocal, double *buf)
{
  int m = 1 + PER_NEIGHBOUR * (int) buf[0];
  std::memcpy(ref[nlocal], buf, sizeof(double) * m);
  return m;
}

int FixNonaffineReference::pack_restart(int i, double *buf)
{
  int m = 1 + PER_NEIGHBOUR * (int) ref[i][0];
  // restart blocks start with their own length, counted with the length field itself
  buf[0] = m + 1;
  std::memcpy(&buf[1], ref[i], sizeof(double) * m);
  return m + 1;
}

void FixNonaffineReference::unpack_restart(int nlocal, int nth)
{
  double **extra = atom->extra;
  int m = 0;
  for (int k = 0; k < nth; k++) m += static_cast<int>(extra[nlocal][m]);
  m++;
  int n = (int) extra[nlocal][m];
  if (n > maxnb)
    error->one(FLERR, "Fix {} restart data of an atom has {} neighbours, more than the {} of the "
               "global record", style, n, maxnb);
  std::memcpy(ref[nlocal], &extra[nlocal][m], sizeof(double) * (1 + PER_NEIGHBOUR * n));
}

int FixNonaffineReference::size_restart(int i)
{
  return 2 + PER_NEIGHBOUR * (int) ref[i][0];
}

int FixNonaffineReference::maxsize_restart()
{
  return 2 + PER_NEIGHBOUR * maxnb;
}

double FixNonaffineReference::memory_usage()
{
  return (double) nmax * width() * sizeof(double);
}
