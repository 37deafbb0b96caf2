/* ----------------------------------------------------------------------
   pysoft: per-atom structure functions, see structure_functions.h
------------------------------------------------------------------------- */

#include "structure_functions.h"

#include "simd_exp.h"

#include <algorithm>
#include <cmath>
#include <limits>

// The hot loops are compiled twice, for x86-64-v3 (AVX2 + FMA: 4 doubles per vector) and
// for the baseline (SSE2: 2), and the loader picks the one the CPU supports.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PYSOFT_HOT __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define PYSOFT_HOT
#endif

namespace pysoft {

namespace {

// x^n for a small non-negative integer n, by repeated squaring: within an ulp or two of pow()
// at a fraction of its cost in the pair loop
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

// nearest grid index to r, clamped to [0, nmu): a truncation of a value made non-negative
// first, since lround() is a library call in the per-neighbour loop
inline int nearest_index(double r, double mu0, double d, int nmu)
{
  const double x = (r - mu0) / d + 0.5;
  if (x <= 0.0) return 0;
  const int k = (int) x;
  return k < nmu ? k : nmu - 1;
}

}    // namespace

StructureFunctions::StructureFunctions(const StructureSpec &spec) : spec_(spec)
{
  nspecies_ = spec_.nspecies();
  nmu_ = spec_.nmu;
  inv_L2_ = 1.0 / (spec_.L * spec_.L);
  ratio_decay_ = std::exp(-2.0 * spec_.mu_step * spec_.mu_step * inv_L2_);
  start_decay_ = std::exp(-spec_.mu_step * spec_.mu_step * inv_L2_);
  radial_cutsq_ = spec_.radial_cutoff * spec_.radial_cutoff;
  angular_cutsq_ = spec_.has_angular ? spec_.angular_cutoff * spec_.angular_cutoff : 0.0;

  for (const auto &q : spec_.params) {
    double v = 1.0 / (q.xi * q.xi);
    auto it = std::find(inv_xi2_.begin(), inv_xi2_.end(), v);
    param_xi_.push_back((int) (it - inv_xi2_.begin()));
    if (it == inv_xi2_.end()) inv_xi2_.push_back(v);

    auto lt = std::find(lambdas_.begin(), lambdas_.end(), q.lambda);
    int il = (int) (lt - lambdas_.begin());
    if (lt == lambdas_.end()) lambdas_.push_back(q.lambda);
    int is = 0;
    while (is < (int) shapes_.size() && !(shapes_[is].lambda == il && shapes_[is].zeta == q.zeta)) is++;
    if (is == (int) shapes_.size()) {
      bool integral = q.zeta == std::floor(q.zeta) && q.zeta <= 64.0;
      shapes_.push_back({il, q.zeta, integral ? (int) q.zeta : -1});
    }
    param_shape_.push_back(is);
  }

  // With 1/xi_u^2 = m_u / xi_max^2 for whole m_u, exp(-s/xi_u^2) = exp(-s/xi_max^2)^m_u: one
  // exp() per neighbour pair instead of one per distinct xi.  The shipped default spec picks
  // its xi for this (xi^2 = 9, 4.5, 2.25 Å^2).
  if (!inv_xi2_.empty()) {
    int imin = (int) (std::min_element(inv_xi2_.begin(), inv_xi2_.end()) - inv_xi2_.begin());
    if (imin != 0) {
      std::swap(inv_xi2_[0], inv_xi2_[imin]);
      for (int &u : param_xi_) u = (u == 0) ? imin : (u == imin ? 0 : u);
    }
    for (double v : inv_xi2_) {
      double m = v / inv_xi2_[0];
      if (std::fabs(m - std::round(m)) > 1e-12 * m || std::round(m) > 16) {
        xi_power_.clear();
        break;
      }
      xi_power_.push_back((int) std::round(m));
    }
  }
  count_.resize(nspecies_);
  start_.resize(nspecies_ + 1);
  aseg_.resize(nspecies_ + 1);
  bound_.resize(nmu_);
}

/* ----------------------------------------------------------------------
   Radial functions of one species: G(mu_k) = sum_n exp(-(r_n - mu_k)^2 / L^2).

   Neighbours are binned by their nearest grid point k0, t_n = r_n - mu_k0.  Walking away
   from k0 by s steps, the term is g_{n,s} = g_{n,s-1} q_{n,s-1} with q_{n,s} = q_{n,s-1}
   exp(-2 d^2/L^2), an exact recurrence (each step one rounding: ~1e-14 relative after 48
   steps).  Within a bin the walks run in lockstep, so each step is a vector loop over the
   bin's neighbours and one add to G(mu_k0+s); two simd_exp() per neighbour start them.

   A walk stops where its terms have become negligible for that feature.  With D_k an upper
   bound on the distance from mu_k to the nearest neighbour of the species, G(mu_k) >=
   exp(-D_k^2/L^2); a bin's terms at mu_k are all below exp(-RADIAL_DROP) ~ 1e-26 of that
   when even the bin's nearest edge is further than sqrt(D_k^2 + RADIAL_DROP L^2) from mu_k:
   below the last bit of the sum, even over a thousand neighbours.  Moving away from the
   bin, (distance)^2 - D(mu)^2 never decreases (D shrinks at most as fast as the distance
   grows), so once a step is dropped every later one is too.  The result equals the full
   sum to rounding; the work per neighbour falls from nmu terms to the ~15 around it.
------------------------------------------------------------------------- */

PYSOFT_HOT
void StructureFunctions::add_radial(const double *r, int n, double *block)
{
  if (n == 0) return;
  const double d = spec_.mu_step, mu0 = spec_.mu_first;
  const double inf = std::numeric_limits<double>::infinity();

  // bin the neighbours by nearest grid point (counting sort)
  k0_.resize(n);
  bin_start_.assign(nmu_ + 1, 0);
  for (int i = 0; i < n; i++) {
    k0_[i] = nearest_index(r[i], mu0, d, nmu_);
    bin_start_[k0_[i] + 1]++;
  }
  for (int k = 0; k < nmu_; k++) bin_start_[k + 1] += bin_start_[k];
  bin_fill_.assign(bin_start_.begin(), bin_start_.end() - 1);
  t_.resize(n);
  for (int i = 0; i < n; i++) t_[bin_fill_[k0_[i]]++] = r[i] - spec_.mu(k0_[i]);

  // D_k: exact distances at the grid points next to each neighbour, spread with
  // D_k <= D_{k-1} + d, which keeps it an upper bound
  std::fill(bound_.begin(), bound_.end(), inf);
  for (int k = 0; k < nmu_; k++)
    for (int i = bin_start_[k]; i < bin_start_[k + 1]; i++) {
      const double ti = t_[i];
      bound_[k] = std::min(bound_[k], std::fabs(ti));
      if (k > 0) bound_[k - 1] = std::min(bound_[k - 1], std::fabs(ti + d));
      if (k + 1 < nmu_) bound_[k + 1] = std::min(bound_[k + 1], std::fabs(ti - d));
    }
  for (int k = 1; k < nmu_; k++) bound_[k] = std::min(bound_[k], bound_[k - 1] + d);
  for (int k = nmu_ - 2; k >= 0; k--) bound_[k] = std::min(bound_[k], bound_[k + 1] + d);
  const double drop = RADIAL_DROP / inv_L2_;
  for (int k = 0; k < nmu_; k++) bound_[k] = bound_[k] * bound_[k] + drop;

  // starting terms: g0 = exp(-t^2/L^2) and q_up = exp((2 d t - d^2)/L^2); q_down = c / q_up
  g0_.resize(n);
  qup_.resize(n);
  g_.resize(n);
  q_.resize(n);
  double *tt = t_.data(), *g0 = g0_.data(), *qu = qup_.data(), *g = g_.data(), *q = q_.data();
  const double il2 = inv_L2_, two_d = 2.0 * d, sd = start_decay_, c = ratio_decay_;
#pragma omp simd
  for (int i = 0; i < n; i++) {
    g0[i] = simd_exp(-tt[i] * tt[i] * il2);
    qu[i] = simd_exp(two_d * tt[i] * il2) * sd;
  }

  for (int k0 = 0; k0 < nmu_; k0++) {
    const int i0 = bin_start_[k0], i1 = bin_start_[k0 + 1];
    if (i0 == i1) continue;
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (int i = i0; i < i1; i++) acc += g0[i];
    block[k0] += acc;
    for (int dir = 1; dir >= -1; dir -= 2) {
#pragma omp simd
      for (int i = i0; i < i1; i++) {
        g[i] = g0[i];
        q[i] = dir > 0 ? qu[i] : c / qu[i];
      }
      for (int s = 1;; s++) {
        const int k = k0 + dir * s;
        if (k < 0 || k >= nmu_) break;
        const double edge = (s - 0.5) * d;    // nearest distance from mu_k to the bin
        if (edge * edge > bound_[k]) break;
        acc = 0.0;
#pragma omp simd reduction(+ : acc)
        for (int i = i0; i < i1; i++) {
          g[i] *= q[i];
          q[i] *= c;
          acc += g[i];
        }
        block[k] += acc;
      }
    }
  }
}

/* ----------------------------------------------------------------------
   Angular functions over unordered neighbour pairs {j, k}, j != k:
     exp(-(r_ij^2 + r_ik^2 + r_jk^2)/xi^2) (1 + lambda cos theta_jik)^zeta
   with r_jk^2 = r_ij^2 + r_ik^2 - 2 d_ij.d_ik, so no second neighbour search is needed.
   Neighbours come grouped by species, so for fixed j each species of k is a contiguous run
   and each param's sum over that run is a dot product of two arrays, which vectorizes.
------------------------------------------------------------------------- */

PYSOFT_HOT
void StructureFunctions::add_angular(double *out)
{
  const int n = (int) ar_.size();
  const int np = (int) spec_.params.size();
  const int nxi = (int) inv_xi2_.size();
  const int nlam = (int) lambdas_.size();
  const int nsh = (int) shapes_.size();
  cos_.resize(n);
  expo_.resize((size_t) nxi * n);
  base_.resize((size_t) nlam * n);
  shape_.resize((size_t) nsh * n);
  double *cosv = cos_.data(), *ex = expo_.data(), *bs = base_.data(), *sh = shape_.data();
  const double *x = ax_.data(), *y = ay_.data(), *z = az_.data(), *rr = ar_.data(), *r2 = ar2_.data();

  int sj = 0;
  for (int j = 0; j < n - 1; j++) {
    while (j >= aseg_[sj + 1]) sj++;
    const double xj = x[j], yj = y[j], zj = z[j], rj = rr[j], rj2 = r2[j];
    // per k > j: the exponentials and the cosine
    for (int k = j + 1; k < n; k++) {
      const double dot = xj * x[k] + yj * y[k] + zj * z[k];
      // rounding can push |cos| a hair past 1, and 1 + lambda cos must stay >= 0
      cosv[k] = std::max(-1.0, std::min(1.0, dot / (rj * rr[k])));
      const double s = 2.0 * (rj2 + r2[k] - dot);
      ex[k] = s;    // the exponentials follow in vector loops
    }
    for (int u = nxi - 1; u >= 0; u--) {
      if (!xi_power_.empty() && u > 0) continue;
      double *eu = ex + (size_t) u * n;
      const double a = -inv_xi2_[u];
#pragma omp simd
      for (int k = j + 1; k < n; k++) eu[k] = simd_exp(a * ex[k]);
    }
    // exp(-s/xi_u^2) = exp(-s/xi_max^2)^m_u, m_u - 1 vector multiplies (m_u <= 16)
    if (!xi_power_.empty())
      for (int u = 1; u < nxi; u++) {
        double *eu = ex + (size_t) u * n;
#pragma omp simd
        for (int k = j + 1; k < n; k++) eu[k] = ex[k];
        for (int m = 1; m < xi_power_[u]; m++) {
#pragma omp simd
          for (int k = j + 1; k < n; k++) eu[k] *= ex[k];
        }
      }
    for (int l = 0; l < nlam; l++) {
      double *b = bs + (size_t) l * n;
      const double lam = lambdas_[l];
#pragma omp simd
      for (int k = j + 1; k < n; k++) b[k] = 1.0 + lam * cosv[k];
    }
    for (int h = 0; h < nsh; h++) {
      const Shape &s = shapes_[h];
      const double *b = bs + (size_t) s.lambda * n;
      double *a = sh + (size_t) h * n;
      if (s.izeta == 1) {
#pragma omp simd
        for (int k = j + 1; k < n; k++) a[k] = b[k];
      } else if (s.izeta == 2) {
#pragma omp simd
        for (int k = j + 1; k < n; k++) a[k] = b[k] * b[k];
      } else if (s.izeta == 4) {
#pragma omp simd
        for (int k = j + 1; k < n; k++) {
          const double b2 = b[k] * b[k];
          a[k] = b2 * b2;
        }
      } else if (s.izeta >= 0) {
        for (int k = j + 1; k < n; k++) a[k] = ipow(b[k], s.izeta);
      } else {
        for (int k = j + 1; k < n; k++) a[k] = std::pow(b[k], s.zeta);
      }
    }
    // per species run of k: one dot product per param
    for (int sk = sj; sk < nspecies_; sk++) {
      const int k0 = std::max(j + 1, aseg_[sk]), k1 = aseg_[sk + 1];
      if (k0 >= k1) continue;
      double *block = out + spec_.pair_index(sj, sk) * np;
      for (int p = 0; p < np; p++) {
        const double *e = ex + (size_t) param_xi_[p] * n;
        const double *a = sh + (size_t) param_shape_[p] * n;
        double acc = 0.0;
#pragma omp simd reduction(+ : acc)
        for (int k = k0; k < k1; k++) acc += e[k] * a[k];
        block[p] += acc;
      }
    }
  }
}

void StructureFunctions::evaluate(int n, const double *d, const int *sp, double *out)
{
  std::fill(out, out + spec_.ncols(), 0.0);

  // counting sort of the neighbours by species, for both parts
  std::fill(count_.begin(), count_.end(), 0);
  for (int j = 0; j < n; j++) count_[sp[j]]++;
  start_[0] = 0;
  for (int s = 0; s < nspecies_; s++) start_[s + 1] = start_[s] + count_[s];

  rr_.resize(n);
  std::vector<int> &fill = count_;
  std::fill(fill.begin(), fill.end(), 0);
  int na = 0;
  if (spec_.has_angular) {
    ax_.resize(n);
    ay_.resize(n);
    az_.resize(n);
    ar_.resize(n);
    ar2_.resize(n);
  }
  // radial distances land in rr_[start_[s] ...]; angular neighbours are appended per species
  // in a second pass below so their runs are contiguous
  for (int j = 0; j < n; j++) {
    const double dx = d[3 * j], dy = d[3 * j + 1], dz = d[3 * j + 2];
    const double rsq = dx * dx + dy * dy + dz * dz;
    if (rsq < radial_cutsq_) rr_[start_[sp[j]] + fill[sp[j]]++] = std::sqrt(rsq);
  }
  for (int s = 0; s < nspecies_; s++) add_radial(rr_.data() + start_[s], fill[s], out + s * nmu_);

  if (!spec_.has_angular) return;
  for (int s = 0; s < nspecies_; s++) {
    aseg_[s] = na;
    for (int j = 0; j < n; j++) {
      if (sp[j] != s) continue;
      const double dx = d[3 * j], dy = d[3 * j + 1], dz = d[3 * j + 2];
      const double rsq = dx * dx + dy * dy + dz * dz;
      // a neighbour on top of the centre has no angle; it is left out of the angular sums
      if (rsq >= angular_cutsq_ || rsq == 0.0) continue;
      ax_[na] = dx;
      ay_[na] = dy;
      az_[na] = dz;
      ar2_[na] = rsq;
      ar_[na] = std::sqrt(rsq);
      na++;
    }
  }
  aseg_[nspecies_] = na;
  ax_.resize(na);
  ay_.resize(na);
  az_.resize(na);
  ar_.resize(na);
  ar2_.resize(na);
  add_angular(out + spec_.nradial());
}

}    // namespace pysoft
