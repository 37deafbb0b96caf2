/* -*- c++ -*- ----------------------------------------------------------
   pysoft: fix NONAFFINE/REFERENCE, the internal store of compute
   nonaffine/atom.  Per atom: its reference neighbours (atom ID and the
   reference separation vector X of each).  Globally: the reference box,
   the cutoff and the step of capture.  It moves the per-atom rows with
   their atoms and saves everything in restart files, as fix STORE/ATOM
   does for its values (the wheel ships no fix_store_atom.h, and its rows
   have a fixed length, where the neighbour count varies from atom to atom).
------------------------------------------------------------------------- */

#ifndef LMP_FIX_NONAFFINE_REFERENCE_H
#define LMP_FIX_NONAFFINE_REFERENCE_H

#include "fix.h"

namespace LAMMPS_NS {

class FixNonaffineReference : public Fix {
 public:
  FixNonaffineReference(class LAMMPS *, int, char **);
  ~FixNonaffineReference() override;
  int setmask() override;

  void write_restart(FILE *) override;
  void restart(char *) override;
  void grow_arrays(int) override;
  void copy_arrays(int, int, int) override;
  void set_arrays(int) override;
  int pack_exchange(int, double *) override;
  int unpack_exchange(int, double *) override;
  int pack_restart(int, double *) override;
  void unpack_restart(int, int) override;
  int size_restart(int) override;
  int maxsize_restart() override;
  double memory_usage() override;

  // Make room for maxnb neighbours per atom (every rank must pass the same value, the global
  // maximum, since atoms migrate); the rows are emptied.
  void reset_rows(int maxnb);

  // Row layout: ref[i][0] = number of neighbours n, then n times
  // (neighbour atom ID as ubuf, X_x, X_y, X_z).
  static constexpr int PER_NEIGHBOUR = 4;
  double **ref;
  int maxnb;

  int captured;          // 1 once a reference is stored
  double cutoff;         // the cutoff it was captured with
  bigint step;           // timestep of capture
  double box0[6];        // reference box: xprd, yprd, zprd, xy, xz, yz

 private:
  int nmax;
  int width() const { return 1 + PER_NEIGHBOUR * maxnb; }
};

}    // namespace LAMMPS_NS

#endif
