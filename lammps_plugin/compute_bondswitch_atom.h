/* -*- c++ -*- ----------------------------------------------------------
   pysoft: compute bondswitch/atom
   Coordination number and bond switching (UC/DC/IC/SC of Du et al. 2021)
   of each atom against a reference captured inside the run.
------------------------------------------------------------------------- */

#ifndef LMP_COMPUTE_BONDSWITCH_ATOM_H
#define LMP_COMPUTE_BONDSWITCH_ATOM_H

#include "compute.h"

#include <cstdint>
#include <string>
#include <vector>

namespace LAMMPS_NS {

class ComputeBondSwitchAtom : public Compute {
 public:
  ComputeBondSwitchAtom(class LAMMPS *, int, char **);
  ~ComputeBondSwitchAtom() override;
  void init() override;
  void init_list(int, class NeighList *) override;
  void compute_peratom() override;
  int modify_param(int, char **) override;
  double memory_usage() override;

 private:
  double cutoff;
  int typelo, typehi;    // neighbour types counted
  std::string id_fix;
  class FixBondSwitchStore *store;
  class NeighList *list;
  int nmax;
  double **state;

  // bonded neighbour ids of each local atom now: ids_[first_[i] .. first_[i] + num_[i])
  std::vector<std::int64_t> ids_;
  std::vector<int> first_, num_;

  class FixBondSwitchStore *find_store();
  void bonded_now();
  void capture();
};

}    // namespace LAMMPS_NS

#endif
