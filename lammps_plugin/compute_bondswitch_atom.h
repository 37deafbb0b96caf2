/* -*- c++ -*- ----------------------------------------------------------
   pysoft: compute bondswitch/atom
   Coordination number and bond switching (UC/DC/IC/SC of Du et al. 2021)
   of each atom against a reference captured inside the run.
------------------------------------------------------------------------- */

#ifndef LMP_COMPUTE_BONDSWITCH_ATOM_H
#define LMP_COMPUTE_BONDSWITCH_ATOM_H

#include "compute_with_reference.h"

#include <cstdint>
#include <vector>

namespace LAMMPS_NS {

class ComputeBondSwitchAtom : public ComputeWithReference {
 public:
  // the reference: per atom the sorted IDs of its bonded neighbours, one entry each, captured
  // at the first invocation
  static constexpr ReferenceKind REFERENCE = {"bondswitch/atom", "BONDSWITCH/STORE", 1,
                                              ReferenceKind::AT_FIRST_INVOCATION};

  ComputeBondSwitchAtom(class LAMMPS *, int, char **);
  ~ComputeBondSwitchAtom() override;
  void init() override;
  void compute_peratom() override;
  double memory_usage() override;

 protected:
  void capture() override;
  void refuse_reference_word(const char *, const char *) override;

 private:
  double cutoff;
  int typelo, typehi;    // neighbour types counted
  int nmax;
  double **state;

  // bonded neighbour ids of each local atom now: ids_[first_[i] .. first_[i] + num_[i])
  std::vector<std::int64_t> ids_;
  std::vector<int> first_, num_;
  std::vector<std::int64_t> refids_;    // the reference ids of one atom

  void bonded_now();
};

}    // namespace LAMMPS_NS

#endif
