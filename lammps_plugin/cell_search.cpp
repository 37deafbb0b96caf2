/* ----------------------------------------------------------------------
   pysoft: all points within a cutoff of a point, by binning; see cell_search.h
------------------------------------------------------------------------- */

#include "cell_search.h"

#include <algorithm>
#include <cmath>

namespace pysoft {

namespace {
// bins a third of the cutoff wide: the stencil (the bins that can hold a point within the
// cutoff) then covers ~2.3x the volume of the cutoff sphere, against 8x for bins as wide as
// the cutoff; narrower bins hold too few points for the per-row loop to pay
constexpr int BINS_PER_CUTOFF = 3;
}    // namespace

int CellSearch::bin_index(const double *p, int *ib) const
{
  for (int d = 0; d < 3; d++) {
    // points on the upper edge of the bounding box belong to the last bin
    const int k = (int) ((p[d] - lo_[d]) * inv_bin_);
    ib[d] = std::min(std::max(k, 0), nbin_[d] - 1);
  }
  return (ib[2] * nbin_[1] + ib[1]) * nbin_[0] + ib[0];
}

bool CellSearch::build(int n, const double *x, const int *species, double cutoff)
{
  x_ = x;
  cutsq_ = cutoff * cutoff;
  double hi[3];
  for (int d = 0; d < 3; d++) {
    lo_[d] = n ? x[d] : 0.0;
    hi[d] = lo_[d];
  }
  for (int i = 0; i < n; i++)
    for (int d = 0; d < 3; d++) {
      const double v = x[3 * i + d];
      lo_[d] = std::min(lo_[d], v);
      hi[d] = std::max(hi[d], v);
    }
  for (int d = 0; d < 3; d++)
    if (!std::isfinite(lo_[d]) || !std::isfinite(hi[d])) return false;

  // The bounding box of every point, queries included, so that each lies in a bin.  Points
  // far apart (atoms that flew off, a slab with vacuum) would make the grid huge: bins widen
  // until there are at most a few per point; the search stays exact, only less selective.
  double bin = cutoff / BINS_PER_CUTOFF;
  const double max_bins = 4.0 * std::max(n, 64);
  for (;;) {
    double total = 1.0;
    for (int d = 0; d < 3; d++) total *= std::floor((hi[d] - lo_[d]) / bin) + 1.0;
    if (total <= max_bins) break;
    bin *= 1.25;
  }
  inv_bin_ = 1.0 / bin;
  for (int d = 0; d < 3; d++) nbin_[d] = (int) std::floor((hi[d] - lo_[d]) * inv_bin_) + 1;
  reach_ = (int) std::ceil(cutoff * inv_bin_ - 1e-12);

  // per row (dy, dz) of the stencil, the largest |dx| whose bin can hold a point within the
  // cutoff: the gap between two bins k apart is (|k| - 1) bins; -1 for rows out of reach
  const int w = 2 * reach_ + 1;
  row_dx_.assign((size_t) w * w, -1);
  const double lim = cutoff * inv_bin_ * (cutoff * inv_bin_);
  auto gap2 = [](int k) {
    const int g = std::max(std::abs(k) - 1, 0);
    return (double) g * g;
  };
  for (int dz = -reach_; dz <= reach_; dz++)
    for (int dy = -reach_; dy <= reach_; dy++)
      for (int dx = reach_; dx >= 0; dx--)
        if (gap2(dx) + gap2(dy) + gap2(dz) <= lim) {
          row_dx_[(size_t) (dz + reach_) * w + (dy + reach_)] = dx;
          break;
        }

  // counting sort by bin: every point (for the visiting order), the binned ones (for queries)
  const int nbins = nbin_[0] * nbin_[1] * nbin_[2];
  bin_of_.resize(n);
  std::vector<int> count_all(nbins + 1, 0);
  bin_start_.assign(nbins + 1, 0);
  int ib[3];
  for (int i = 0; i < n; i++) {
    const int b = bin_index(x + 3 * i, ib);
    bin_of_[i] = b;
    count_all[b + 1]++;
    if (species[i] >= 0) bin_start_[b + 1]++;
  }
  for (int b = 0; b < nbins; b++) {
    count_all[b + 1] += count_all[b];
    bin_start_[b + 1] += bin_start_[b];
  }
  const int nbinned = bin_start_[nbins];
  xs_.resize(nbinned);
  ys_.resize(nbinned);
  zs_.resize(nbinned);
  sp_.resize(nbinned);
  id_.resize(nbinned);
  order_all_.resize(n);
  std::vector<int> fill(bin_start_.begin(), bin_start_.end() - 1);
  for (int i = 0; i < n; i++) {
    const int b = bin_of_[i];
    order_all_[count_all[b]++] = i;
    if (species[i] < 0) continue;
    const int s = fill[b]++;
    xs_[s] = x[3 * i];
    ys_[s] = x[3 * i + 1];
    zs_[s] = x[3 * i + 2];
    sp_[s] = species[i];
    id_[s] = i;
  }
  return true;
}

double CellSearch::memory_usage() const
{
  return sizeof(double) * (double) (xs_.capacity() + ys_.capacity() + zs_.capacity()) +
      sizeof(int) * (double) (sp_.capacity() + id_.capacity() + order_all_.capacity() +
                              bin_of_.capacity() + bin_start_.capacity() + row_dx_.capacity());
}

int CellSearch::query(int i, std::vector<double> &disp, std::vector<int> &sp) const
{
  const double xi = x_[3 * i], yi = x_[3 * i + 1], zi = x_[3 * i + 2];
  const int b = bin_of_[i];
  const int ix = b % nbin_[0], iy = (b / nbin_[0]) % nbin_[1], iz = b / (nbin_[0] * nbin_[1]);
  const int w = 2 * reach_ + 1;
  int n = 0;
  for (int dz = -reach_; dz <= reach_; dz++) {
    const int z = iz + dz;
    if (z < 0 || z >= nbin_[2]) continue;
    for (int dy = -reach_; dy <= reach_; dy++) {
      const int y = iy + dy;
      if (y < 0 || y >= nbin_[1]) continue;
      const int dx = row_dx_[(size_t) (dz + reach_) * w + (dy + reach_)];
      if (dx < 0) continue;
      // bins (ix - dx .. ix + dx, y, z) are consecutive, so are their points
      const int row = (z * nbin_[1] + y) * nbin_[0];
      const int j0 = bin_start_[row + std::max(ix - dx, 0)];
      const int j1 = bin_start_[row + std::min(ix + dx, nbin_[0] - 1) + 1];
      if ((size_t) (n + j1 - j0) > sp.size()) {
        sp.resize(2 * (size_t) (n + j1 - j0));
        disp.resize(3 * sp.size());
      }
      double *dp = disp.data();
      int *spp = sp.data();
      // every candidate is written and only the ones inside are kept (n advances by the
      // test): no branch to mispredict on the ~45% that are inside
      for (int j = j0; j < j1; j++) {
        const double ddx = xs_[j] - xi, ddy = ys_[j] - yi, ddz = zs_[j] - zi;
        const double rsq = ddx * ddx + ddy * ddy + ddz * ddz;
        dp[3 * n] = ddx;
        dp[3 * n + 1] = ddy;
        dp[3 * n + 2] = ddz;
        spp[n] = sp_[j];
        n += (rsq < cutsq_) & (id_[j] != i);
      }
    }
  }
  return n;
}

}    // namespace pysoft
