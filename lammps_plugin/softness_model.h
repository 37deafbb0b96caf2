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
  // intercept) for missing keys, wrong lengths, non-finite or non-positive values, and, once
  // those pass, for a missing or mismatched checksum.
  static SoftnessModel from_json(const std::string &text);
};

// The checksum of a model file's text as the field "checksum" holds it, "fnv1a64:" and 16 hex
// digits: FNV-1a (64 bit) over a canonical byte stream of the parsed values of the fields that
// decide what the model computes (spec, feature_labels, mean, scale, coef, intercept).  The
// stream encodes each number by the IEEE-754 bits of its double, so the checksum depends on
// the values alone, not on how they are spelled or laid out in the file; the rule is in
// doc/compute_softness.md ("The model file").  Throws SpecError if the text is not JSON.
std::string model_checksum(const std::string &text);

}    // namespace pysoft

#endif
