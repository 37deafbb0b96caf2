/* -*- c++ -*- ----------------------------------------------------------
   pysoft: a linear softness model (the JSON written by `pysoft train`).
   S = (coef . ((x - mean) / scale) + intercept) / |coef|, positive on the
   rearranging side.  Plain C++, no LAMMPS types.
------------------------------------------------------------------------- */

#ifndef PYSOFT_SOFTNESS_MODEL_H
#define PYSOFT_SOFTNESS_MODEL_H

#include "structure_spec.h"

#include <vector>

namespace pysoft {

struct SoftnessModel {
  StructureSpec spec;
  std::vector<double> mean, scale, coef;
  double intercept = 0.0;
  double norm = 1.0;    // |coef|

  // Evaluated in the same order as scikit-learn's StandardScaler + LinearSVC pipeline
  // ((x - mean) / scale, then the dot product), not folded into one affine map: folding
  // would cancel large terms and lose digits for atoms near the hyperplane.

  double softness(const double *x) const;

  // Parse a model file's text; throws SpecError naming the field (spec, mean, scale, coef,
  // intercept) for missing keys, wrong lengths, non-finite or non-positive values.
  static SoftnessModel from_json(const std::string &text);
};

}    // namespace pysoft

#endif
