/* -*- c++ -*- ----------------------------------------------------------
   pysoft: compute nonaffine/atom
   Per-atom Falk-Langer D2min (sum over the neighbours within Rc in the
   reference configuration) relative to a stored reference that
   compute_modify ID reference current re-captures between runs.
------------------------------------------------------------------------- */

#ifndef LMP_COMPUTE_NONAFFINE_ATOM_H
#define LMP_COMPUTE_NONAFFINE_ATOM_H

#include "compute_with_reference.h"
#include "lmptype.h"

#include <vector>

namespace LAMMPS_NS {

class ComputeNonaffineAtom : public ComputeWithReference {
 public:
  // the reference: per atom its neighbours within Rc, an entry (neighbour atom ID as ubuf,
  // X_x, X_y, X_z) each, captured at the first run's set-up and by compute_modify
  static constexpr ReferenceKind REFERENCE = {"nonaffine/atom", "NONAFFINE/REFERENCE", 4,
                                              ReferenceKind::AT_RUN_SETUP};

  ComputeNonaffineAtom(class LAMMPS *, int, char **);
  ~ComputeNonaffineAtom() override;
  void init() override;
  void compute_peratom() override;
  double memory_usage() override;

 protected:
  void capture() override;
  void refuse_reference_word(const char *, const char *) override;

 private:
  double cutoff;
  int nmax;
  double *d2min;
  std::vector<double> X, d;
  bool list_after_init;    // see pysoft_io::build_current
  // what a capture is made with (FixReferenceStore::captured_with): the cutoff, the step, and
  // from WITH_BOX on the reference box xprd, yprd, zprd, xy, xz, yz
  enum { WITH_CUTOFF = 0, WITH_STEP = 1, WITH_BOX = 2 };

  void expected(const double A[3][3], const double *slot, double *p) const;
  int nearest_copy(int i, tagint jtag, const double *p, double acceptsq) const;
  bool far_from(int j, int i, const double *p) const;
  void fetch_far_neighbours(const FixReferenceStore *fix, const double A[3][3],
                            const std::vector<int> &pending, std::vector<tagint> &wanted);
};

}    // namespace LAMMPS_NS

#endif
