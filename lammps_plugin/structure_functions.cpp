/* ----------------------------------------------------------------------
   pysoft: per-atom structure functions, see structure_functions.h
------------------------------------------------------------------------- */

#include "structure_functions.h"

#include <algorithm>
#include <cmath>

namespace pysoft {

namespace {

// x^n for a small non-negative integer n, by repeated squaring (exact for n <= 2, and within
// an ulp or two otherwise, against pow()'s several-times larger cost in the triple loop)
inline double ipow(double x, int n)
{
  double r = 1.0;
  while (n) {
    if (n & 1) r *= x;
    x *= x;
    n >>= 1;
  }
  return r;
}

}    // namespace

StructureFunctions::StructureFunctions(const StructureSpec &spec) : spec_(spec)
{
  inv_L2_ = 1.0 / (spec_.L * spec_.L);
  ratio_decay_ = std::exp(-2.0 * spec_.mu_step * spec_.mu_step * inv_L2_);
  radial_cutsq_ = spec_.radial_cutoff * spec_.radial_cutoff;
  angular_cutsq_ = spec_.has_angular ? spec_.angular_cutoff * spec_.angular_cutoff : 0.0;
  for (const auto &q : spec_.params) {
    double v = 1.0 / (q.xi * q.xi);
    auto it = std::find(inv_xi2_.begin(), inv_xi2_.end(), v);
    param_xi_.push_back((int) (it - inv_xi2_.begin()));
    if (it == inv_xi2_.end()) inv_xi2_.push_back(v);
    bool integral = q.zeta == std::floor(q.zeta) && q.zeta <= 64.0;
    param_izeta_.push_back(integral ? (int) q.zeta : -1);
  }
  expo_.resize(inv_xi2_.size());
}

/* ----------------------------------------------------------------------
   Gaussians of one neighbour on the mu grid.  Instead of nmu exp() calls, start at the grid
   point nearest to r and walk outwards with the exact recurrence
     g_{k+1} = g_k q_k,  q_{k+1} = q_k exp(-2 d^2/L^2),  q_k = exp((2 d (r - mu_k) - d^2)/L^2)
   (three exp() calls per neighbour).  Each step is one rounding, so after 48 steps the relative
   error is ~1e-14; the walk stops when g underflows to zero, where exp() itself gives zero.
------------------------------------------------------------------------- */

void StructureFunctions::add_radial(double r, double *block) const
{
  const int nmu = spec_.nmu;
  const double d = spec_.mu_step;
  int k0 = (int) std::lround((r - spec_.mu_first) / d);
  k0 = std::max(0, std::min(nmu - 1, k0));
  double t = r - spec_.mu(k0);
  double g0 = std::exp(-t * t * inv_L2_);
  block[k0] += g0;

  double g = g0;
  double q = std::exp((2.0 * d * t - d * d) * inv_L2_);
  for (int k = k0 + 1; k < nmu; k++) {
    g *= q;
    if (g == 0.0) break;
    block[k] += g;
    q *= ratio_decay_;
  }
  g = g0;
  q = std::exp(-(2.0 * d * t + d * d) * inv_L2_);
  for (int k = k0 - 1; k >= 0; k--) {
    g *= q;
    if (g == 0.0) break;
    block[k] += g;
    q *= ratio_decay_;
  }
}

/* ----------------------------------------------------------------------
   Angular functions over unordered neighbour pairs {j, k}, j != k:
     exp(-(r_ij^2 + r_ik^2 + r_jk^2)/xi^2) (1 + lambda cos theta_jik)^zeta
   with r_jk^2 = r_ij^2 + r_ik^2 - 2 d_ij.d_ik, so no second neighbour search is needed.
------------------------------------------------------------------------- */

void StructureFunctions::add_angular(double *out)
{
  const int n = (int) ar_.size();
  const int np = (int) spec_.params.size();
  const int nxi = (int) inv_xi2_.size();
  for (int j = 0; j < n - 1; j++) {
    const double xj = ax_[j], yj = ay_[j], zj = az_[j], rj = ar_[j], rj2 = ar2_[j];
    const int sj = asp_[j];
    for (int k = j + 1; k < n; k++) {
      const double dot = xj * ax_[k] + yj * ay_[k] + zj * az_[k];
      double cost = dot / (rj * ar_[k]);
      // rounding can push |cos| a hair past 1, and 1 + lambda cos must stay >= 0
      cost = std::max(-1.0, std::min(1.0, cost));
      const double s = 2.0 * (rj2 + ar2_[k] - dot);
      for (int u = 0; u < nxi; u++) expo_[u] = std::exp(-s * inv_xi2_[u]);
      double *block = out + spec_.pair_index(sj, asp_[k]) * np;
      for (int p = 0; p < np; p++) {
        const AngularParam &q = spec_.params[p];
        const double base = 1.0 + q.lambda * cost;
        const double ang = param_izeta_[p] >= 0 ? ipow(base, param_izeta_[p]) : std::pow(base, q.zeta);
        block[p] += expo_[param_xi_[p]] * ang;
      }
    }
  }
}

void StructureFunctions::evaluate(int n, const double *d, const int *sp, double *out)
{
  const int ncol = spec_.ncols();
  std::fill(out, out + ncol, 0.0);
  ax_.clear();
  ay_.clear();
  az_.clear();
  ar_.clear();
  ar2_.clear();
  asp_.clear();

  for (int j = 0; j < n; j++) {
    const double dx = d[3 * j], dy = d[3 * j + 1], dz = d[3 * j + 2];
    const double rsq = dx * dx + dy * dy + dz * dz;
    if (rsq < radial_cutsq_) add_radial(std::sqrt(rsq), out + sp[j] * spec_.nmu);
    // a neighbour on top of the centre has no angle; it is left out of the angular sums
    if (rsq < angular_cutsq_ && rsq > 0.0) {
      ax_.push_back(dx);
      ay_.push_back(dy);
      az_.push_back(dz);
      ar2_.push_back(rsq);
      ar_.push_back(std::sqrt(rsq));
      asp_.push_back(sp[j]);
    }
  }
  if (spec_.has_angular) add_angular(out + spec_.nradial());
}

}    // namespace pysoft
