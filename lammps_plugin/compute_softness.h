/* -*- c++ -*- ----------------------------------------------------------
   pysoft: compute softness
   Per-atom softness of a linear model trained by `pysoft train`, from the
   structure functions of the model's own spec, evaluated inside the run.
------------------------------------------------------------------------- */

#ifndef LMP_COMPUTE_SOFTNESS_H
#define LMP_COMPUTE_SOFTNESS_H

#include "compute.h"

#include <memory>
#include <vector>

namespace pysoft {
struct SoftnessModel;
}

namespace LAMMPS_NS {

class StructureEvaluator;

class ComputeSoftness : public Compute {
 public:
  ComputeSoftness(class LAMMPS *, int, char **);
  ~ComputeSoftness() override;
  void init() override;
  void compute_peratom() override;
  double memory_usage() override;

 private:
  int nmax;
  double *softness;
  bool after_first_run;    // init() has run: ghost atoms exist
  std::unique_ptr<pysoft::SoftnessModel> model;
  std::unique_ptr<StructureEvaluator> eval;
  std::vector<double> row;
};

}    // namespace LAMMPS_NS

#endif
