/* -*- c++ -*- ----------------------------------------------------------
   pysoft: all points within a cutoff of a point, by binning.
   Plain C++, no LAMMPS types: compute structure/atom and compute softness
   bin the owned and ghost atoms once per evaluation and query each centre.

   Why not LAMMPS's occasional full neighbour list: that list is built out
   to cutoff + skin (13 Å for the 11 Å radial cutoff: 1.65x the neighbours
   inside 11 Å), stored (about 3.5 kB per atom), and then read again with a
   gather of x[j] to drop the entries beyond the cutoff.  Binning at the
   cutoff itself and testing the candidates of a query in one pass over
   contiguous, bin-sorted coordinates does all three at once, and needs no
   list that can go stale between a run's set-up and the invocation.
------------------------------------------------------------------------- */

#ifndef PYSOFT_CELL_SEARCH_H
#define PYSOFT_CELL_SEARCH_H

#include <vector>

namespace pysoft {

class CellSearch {
 public:
  // Bin points 0..n-1 (x holds 3 coordinates per point, contiguous) whose species is >= 0;
  // points with species < 0 are never found but can still be queried.  Returns false, and
  // bins nothing, when a coordinate is not finite.
  bool build(int n, const double *x, const int *species, double cutoff);

  // The binned points j != i with |x_j - x_i| < cutoff: their displacements x_j - x_i (3
  // each) into disp and their species into sp, in bin order.  Returns their number.  The
  // vectors are grown as needed and keep their capacity between calls.
  int query(int i, std::vector<double> &disp, std::vector<int> &sp) const;

  // The points 0..n-1 in bin order: visiting centres in this order keeps the candidates of
  // consecutive queries in cache.
  const std::vector<int> &order() const { return order_all_; }

  // bytes held by the bins
  double memory_usage() const;

 private:
  const double *x_ = nullptr;
  double cutsq_ = 0.0, inv_bin_ = 0.0, lo_[3] = {0.0, 0.0, 0.0};
  int nbin_[3] = {0, 0, 0}, reach_ = 0;
  std::vector<int> bin_start_;                // binned points of bin b: bin_start_[b] ..
  std::vector<double> xs_, ys_, zs_;          // binned points, sorted by bin
  std::vector<int> sp_, id_;                  // their species and original index
  std::vector<int> row_dx_;                   // per (dy, dz) row of the stencil: x reach, or -1
  std::vector<int> order_all_, bin_of_;       // all points by bin; bin of each point

  int bin_index(const double *p, int *ib) const;
};

}    // namespace pysoft

#endif
