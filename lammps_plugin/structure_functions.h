/* -*- c++ -*- ----------------------------------------------------------
   pysoft: per-atom structure functions (radial and angular symmetry
   functions of Behler-Parrinello / Cubuk et al. form, no cutoff function).
   Plain C++, no LAMMPS types: the compute feeds it neighbour vectors.
------------------------------------------------------------------------- */

#ifndef PYSOFT_STRUCTURE_FUNCTIONS_H
#define PYSOFT_STRUCTURE_FUNCTIONS_H

#include "structure_spec.h"

#include <vector>

namespace pysoft {

class StructureFunctions {
 public:
  explicit StructureFunctions(const StructureSpec &spec);

  const StructureSpec &spec() const { return spec_; }
  int ncols() const { return spec_.ncols(); }

  // Features of one centre atom i.  d holds the n displacement vectors x_j - x_i (3 per
  // neighbour, any order, periodic images as separate neighbours), sp their species indices
  // (0 <= sp < nspecies).  Neighbours beyond the spec's cutoffs are ignored.  out receives
  // ncols() values and is overwritten.
  void evaluate(int n, const double *d, const int *sp, double *out);

  // Gaussian terms smaller than exp(-RADIAL_DROP) times a term that the same feature surely
  // holds are not added: they are below the last bit of the sum (see add_radial).
  static constexpr double RADIAL_DROP = 60.0;
  // neighbour pairs per chunk of the angular sums (see add_angular): 6-10 arrays of them stay
  // in the L1 cache
  static constexpr int ANGULAR_CHUNK = 256;

 private:
  StructureSpec spec_;
  int nspecies_, nmu_;
  double inv_L2_, ratio_decay_, start_decay_;    // 1/L^2, exp(-2 d^2/L^2), exp(-d^2/L^2)
  double radial_cutsq_, angular_cutsq_;

  // angular functions factor into a few distinct exponentials (one per xi) times a few
  // distinct angular shapes (one per (lambda, zeta)); each param is a product of the two
  std::vector<double> inv_xi2_;    // distinct 1/xi^2
  std::vector<int> xi_power_;      // 1/xi^2 = xi_power_ * xi_base_ for whole powers <= 64 (else
  double xi_base_ = 0.0;           // empty): one exp() per pair serves every xi
  int xi_power_bits_ = 0;          // bits of the largest power
  std::vector<double> lambdas_;    // distinct lambda
  struct Shape {                   // a distinct (1 + lambda cos)^zeta
    int lambda;
    double zeta;
    int izeta;    // zeta if integral and <= 64 (repeated squaring beats pow()), else -1
  };
  std::vector<Shape> shapes_;
  std::vector<int> param_xi_;       // param -> index into inv_xi2_
  std::vector<int> param_shape_;    // param -> index into shapes_

  // per-centre work space
  std::vector<double> rr_;                           // radial: distances, a bucket per species
  std::vector<int> rend_;                            // radial: ends of the buckets
  std::vector<double> bound_;                        // radial: per-mu drop threshold
  std::vector<int> k0_, bin_start_, bin_fill_;       // radial: neighbours binned by grid point
  std::vector<double> t_, g0_, qup_;                 // radial: per neighbour, in bin order
  std::vector<double> up_acc_, dn_acc_;              // radial: walks up, and down (reversed)
  static constexpr int RADIAL_LANES = 8;             // radial: steps of a walk per chunk
  double lane_c1_[RADIAL_LANES], lane_c2_[RADIAL_LANES], lane_cww_;
  std::vector<double> ax_, ay_, az_, air_, ar2_;     // angular: neighbours, a bucket per species
  std::vector<int> abeg_, aend_;                     // angular: starts and ends of the buckets
  std::vector<double> cos_, sq_, expo_, base_, shape_;    // angular: per-pair values of a chunk
  std::vector<double> pow_;                          // angular: squares of exp(-s b) in a chunk
  std::vector<const double *> erow_, srow_;          // angular: rows of each xi, each shape

  void add_radial(const double *r, int n, double *block);
  void add_angular(double *out);
  void angular_chunk(int m, double *block);
};

}    // namespace pysoft

#endif
