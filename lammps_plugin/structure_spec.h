/* -*- c++ -*- ----------------------------------------------------------
   pysoft: the structure-function descriptor spec (the SPEC file of
   compute structure/atom and the "spec" key of a softness model).
   Plain C++, no LAMMPS types, so it is testable on its own.
------------------------------------------------------------------------- */

#ifndef PYSOFT_STRUCTURE_SPEC_H
#define PYSOFT_STRUCTURE_SPEC_H

#include <stdexcept>
#include <string>
#include <vector>

namespace pysoft {

// Raised for every problem with a spec; the message is one line naming the offending field,
// meant to be passed to error->all() unchanged.
class SpecError : public std::runtime_error {
 public:
  explicit SpecError(const std::string &msg) : std::runtime_error(msg) {}
};

struct AngularParam {
  double xi;        // Angstrom
  double lambda;    // -1 <= lambda <= 1, so that 1 + lambda cos(theta) >= 0
  double zeta;      // > 0
};

struct StructureSpec {
  std::vector<std::string> species;

  // radial: G_s(mu) = sum_{j in s, r_ij < radial_cutoff} exp(-(r_ij - mu)^2 / L^2)
  double mu_first = 0.0, mu_step = 0.0;
  int nmu = 0;
  double L = 0.0;
  double radial_cutoff = 0.0;

  // angular (optional): one block per unordered species pair (a <= b)
  bool has_angular = false;
  double angular_cutoff = 0.0;
  std::vector<AngularParam> params;

  int nspecies() const { return (int) species.size(); }
  int npairs() const { return nspecies() * (nspecies() + 1) / 2; }
  int nradial() const { return nspecies() * nmu; }
  int nangular() const { return has_angular ? npairs() * (int) params.size() : 0; }
  int ncols() const { return nradial() + nangular(); }
  double mu(int k) const { return mu_first + k * mu_step; }
  double max_cutoff() const;

  // index of the unordered pair {a, b} in the order (0,0), (0,1), ..., (0,n-1), (1,1), ...
  int pair_index(int a, int b) const;
  // species index of a name, or -1
  int species_index(const std::string &name) const;
  // human-readable label of feature column c, e.g. "G_O(1.80)" or "Psi_Al-O(2.0,-1,4)"
  std::string column_label(int c) const;

  // Parse the JSON text of a spec (the object itself, or an object holding it under "spec").
  // Throws SpecError naming the field for unknown keys, wrong types and bad values.  A spec
  // inside a model file is read from the model's parsed JSON instead (read_spec in
  // json_reader.h), so that its text is parsed once.
  static StructureSpec from_json(const std::string &text);
};

}    // namespace pysoft

#endif
