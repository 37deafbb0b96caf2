/* -*- c++ -*- ----------------------------------------------------------
   pysoft: compute nonaffine/atom
   Per-atom Falk-Langer D2min (sum over the neighbours within Rc in the
   reference configuration) relative to a stored reference that
   compute_modify ID reference current re-captures between runs.
------------------------------------------------------------------------- */

#ifndef LMP_COMPUTE_NONAFFINE_ATOM_H
#define LMP_COMPUTE_NONAFFINE_ATOM_H

#include "compute.h"
#include "lmptype.h"

#include <string>
#include <vector>

namespace LAMMPS_NS {

class ComputeNonaffineAtom : public Compute {
 public:
  ComputeNonaffineAtom(class LAMMPS *, int, char **);
  ~ComputeNonaffineAtom() override;
  void init() override;
  void init_list(int, class NeighList *) override;
  void setup() override;
  void compute_peratom() override;
  int modify_param(int, char **) override;
  double memory_usage() override;

 private:
  double cutoff;
  int nmax;
  double *d2min;
  class NeighList *list;
  std::string id_fix;
  class FixNonaffineReference *fix;
  std::vector<double> X, d;
  bool list_after_init;    // see pysoft_io::build_current
  std::string rearm[2];

  void capture();
  void refresh_between_runs();
  void expected(const double A[3][3], const double *slot, double *p) const;
  int nearest_copy(int i, tagint jtag, const double *p, double acceptsq) const;
  bool far_from(int j, int i, const double *p) const;
  void fetch_far_neighbours(const double A[3][3], const std::vector<int> &pending,
                            std::vector<tagint> &wanted);
};

}    // namespace LAMMPS_NS

#endif
