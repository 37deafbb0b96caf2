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
  // c^(s(s-1)/2) for s = 1..W, c^(W s + W(W-1)/2) and c^(W^2), c = exp(-2 d^2/L^2): the lane
  // factors of the radial walks (add_radial), each one exp() of the exact exponent
  {
    const double a = -2.0 * spec_.mu_step * spec_.mu_step * inv_L2_;
    const int W = RADIAL_LANES;
    for (int l = 0; l < W; l++) {
      const int s = l + 1;
      lane_c1_[l] = std::exp(a * (s * (s - 1) / 2));
      lane_c2_[l] = std::exp(a * (W * s + W * (W - 1) / 2));
    }
    lane_cww_ = std::exp(a * (W * W));
  }
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

  // With 1/xi_u^2 = m_u b for whole m_u, exp(-s/xi_u^2) = exp(-s b)^m_u: one exp() per
  // neighbour pair and a few multiplies per xi instead of one exp() per distinct xi.  b is the
  // smallest 1/xi^2 over a whole g <= 64: the shipped default spec (xi^2 = 9, 4.5, 2.25 Å^2)
  // has g = 1 and m = 1, 2, 4; xi = 3, 2, 1 Å has g = 4 and m = 4, 9, 36.  Each multiply adds
  // one rounding, so w^m is within ~m ulp of exp(-s/xi^2): 1e-14 relative for m <= 64.
  if (!inv_xi2_.empty()) {
    const double vmin = *std::min_element(inv_xi2_.begin(), inv_xi2_.end());
    for (int g = 1; g <= 64 && xi_power_.empty(); g++) {
      for (double v : inv_xi2_) {
        const double m = v / vmin * g;
        if (std::fabs(m - std::round(m)) > 1e-9 * m || std::round(m) > 64) {
          xi_power_.clear();
          break;
        }
        xi_power_.push_back((int) std::round(m));
      }
      xi_base_ = vmin / g;
    }
    for (int m : xi_power_)
      while ((m >> xi_power_bits_) != 0) xi_power_bits_++;
  }
  cos_.resize(ANGULAR_CHUNK);
  sq_.resize(ANGULAR_CHUNK);
  expo_.resize(inv_xi2_.size() * ANGULAR_CHUNK);
  pow_.resize((size_t) std::max(xi_power_bits_ - 1, 0) * ANGULAR_CHUNK);
  erow_.resize(inv_xi2_.size());
  srow_.resize(shapes_.size());
  base_.resize(lambdas_.size() * ANGULAR_CHUNK);
  shape_.resize(shapes_.size() * ANGULAR_CHUNK);
  rend_.resize(nspecies_);
  abeg_.resize(nspecies_);
  aend_.resize(nspecies_);
  bound_.resize(nmu_);
}

/* ----------------------------------------------------------------------
   Radial functions of one species: G(mu_k) = sum_n exp(-(r_n - mu_k)^2 / L^2).

   Neighbours are binned by their nearest grid point k0, t_n = r_n - mu_k0.  Walking away
   from k0 by s steps, the term is g_{n,s} = g_{n,s-1} q_{n,s-1} with q_{n,s} = q_{n,s-1}
   exp(-2 d^2/L^2), an exact recurrence (a few roundings per step: ~1e-14 relative after
   48 steps).  Two simd_exp() per neighbour start it; the steps go RADIAL_LANES at a time
   (see below).

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
  for (int k = 0; k < nmu_; k++) {
    const int i0 = bin_start_[k], i1 = bin_start_[k + 1];
    if (i0 == i1) continue;
    // three minima over the bin, as vector reductions with selects (std::min through
    // references compiles to a branch per neighbour)
    double m0 = inf, mdn = inf, mup = inf;
    const double *tb = t_.data();
#pragma omp simd reduction(min : m0, mdn, mup)
    for (int i = i0; i < i1; i++) {
      const double a0 = std::fabs(tb[i]), a1 = std::fabs(tb[i] + d), a2 = std::fabs(tb[i] - d);
      m0 = a0 < m0 ? a0 : m0;
      mdn = a1 < mdn ? a1 : mdn;
      mup = a2 < mup ? a2 : mup;
    }
    bound_[k] = std::min(bound_[k], m0);
    if (k > 0) bound_[k - 1] = std::min(bound_[k - 1], mdn);
    if (k + 1 < nmu_) bound_[k + 1] = std::min(bound_[k + 1], mup);
  }
  for (int k = 1; k < nmu_; k++) bound_[k] = std::min(bound_[k], bound_[k - 1] + d);
  for (int k = nmu_ - 2; k >= 0; k--) bound_[k] = std::min(bound_[k], bound_[k + 1] + d);
  const double drop = RADIAL_DROP / inv_L2_;
  for (int k = 0; k < nmu_; k++) bound_[k] = bound_[k] * bound_[k] + drop;

  // starting terms: g0 = exp(-t^2/L^2) and q_up = exp((2 d t - d^2)/L^2); q_down = c / q_up
  g0_.resize(n);
  qup_.resize(n);
  double *tt = t_.data(), *g0 = g0_.data(), *qu = qup_.data();
  const double il2 = inv_L2_, two_d = 2.0 * d, sd = start_decay_, c = ratio_decay_;
#pragma omp simd
  for (int i = 0; i < n; i++) {
    g0[i] = simd_exp(-tt[i] * tt[i] * il2);
    qu[i] = simd_exp(two_d * tt[i] * il2) * sd;
  }

  // Each neighbour's walk, RADIAL_LANES steps at a time: with q = q_0 (up) or c / q_0
  // (down), g_s = g0 q^s c^(s(s-1)/2), so lane l of the first chunk (s = l + 1) is
  // g0 q^s c^(s(s-1)/2) and each chunk is the one before times q^W c^(W s + W(W-1)/2),
  // itself times c^(W^2) from chunk to chunk.  Every factor is <= 1 (|t| <= d/2 wherever a
  // walk has a step), so nothing overflows and a term underflows only below the smallest
  // term that the bound keeps.  Up and down land in two padded accumulators (down in
  // reversed order, so both are stored forward); a chunk may run up to W - 1 steps past its
  // walk's end, adding terms that are smaller still, or landing in the padding.
  constexpr int W = RADIAL_LANES;
  const int pad = W;
  up_acc_.assign(nmu_ + 2 * pad, 0.0);
  dn_acc_.assign(nmu_ + 2 * pad, 0.0);
  double *up = up_acc_.data() + pad, *dn = dn_acc_.data() + pad;
  const double *c1 = lane_c1_, *c2 = lane_c2_;
  const double cww = lane_cww_;
  for (int k0 = 0; k0 < nmu_; k0++) {
    const int i0 = bin_start_[k0], i1 = bin_start_[k0 + 1];
    if (i0 == i1) continue;
    // the walks' lengths: up to the first step whose nearest edge is past the bound
    int nup = 0, ndn = 0;
    while (k0 + nup + 1 < nmu_) {
      const double edge = (nup + 0.5) * d;
      if (edge * edge > bound_[k0 + nup + 1]) break;
      nup++;
    }
    while (k0 - ndn - 1 >= 0) {
      const double edge = (ndn + 0.5) * d;
      if (edge * edge > bound_[k0 - ndn - 1]) break;
      ndn++;
    }
    double acc = 0.0;
    for (int i = i0; i < i1; i++) acc += g0[i];
    block[k0] += acc;
    for (int dir = 0; dir < 2; dir++) {
      const int steps = dir ? ndn : nup;
      if (!steps) continue;
      // the walk's first step lands at up[k0 + 1] or, reversed, dn[(nmu - 1 - k0) + 1]
      double *out0 = dir ? dn + (nmu_ - 1 - k0) + 1 : up + k0 + 1;
      const int nchunk = (steps + W - 1) / W;
      for (int i = i0; i < i1; i++) {
        const double q = dir ? c / qu[i] : qu[i];
        // q^1..q^8 in three dependent multiplies (a chain of seven would be latency bound)
        static_assert(RADIAL_LANES == 8, "the powers below are written out for 8 lanes");
        const double q2 = q * q, q4 = q2 * q2;
        const double q3 = q2 * q;
        const double qp[W] = {q, q2, q3, q4, q4 * q, q4 * q2, q4 * q3, q4 * q4};
        const double qw = qp[W - 1];
        double gl[W], fl[W];
#pragma omp simd
        for (int l = 0; l < W; l++) {
          gl[l] = g0[i] * qp[l] * c1[l];
          fl[l] = qw * c2[l];
        }
        double *o = out0;
        for (int ch = 0; ch < nchunk; ch++, o += W) {
#pragma omp simd
          for (int l = 0; l < W; l++) {
            o[l] += gl[l];
            gl[l] *= fl[l];
            fl[l] *= cww;
          }
        }
      }
    }
  }
  for (int k = 0; k < nmu_; k++) block[k] += up[k] + dn[nmu_ - 1 - k];
}

/* ----------------------------------------------------------------------
   Angular functions over unordered neighbour pairs {j, k}, j != k:
     exp(-(r_ij^2 + r_ik^2 + r_jk^2)/xi^2) (1 + lambda cos theta_jik)^zeta
   with r_jk^2 = r_ij^2 + r_ik^2 - 2 d_ij.d_ik, so no second neighbour search is needed.

   Neighbours come in one bucket per species, so the pairs of one species pair (one block of
   features) are, for each j, a contiguous run of k.  The runs are short (~40 pairs), and a
   vector loop per run and per quantity spent more in its start and end than in its body.
   So the cosine and s = r_ij^2 + r_ik^2 + r_jk^2 of each run are appended to a chunk of up
   to ANGULAR_CHUNK pairs of one block (L1-resident), and everything else runs over the
   whole chunk: one exp() (the rest are its powers, see the constructor), the bases
   1 + lambda cos and their powers, and one dot product per param.
------------------------------------------------------------------------- */

PYSOFT_HOT
void StructureFunctions::add_angular(double *out)
{
  const int np = (int) spec_.params.size();
  const double *x = ax_.data(), *y = ay_.data(), *z = az_.data(), *ir = air_.data(), *r2 = ar2_.data();
  double *cv = cos_.data(), *sv = sq_.data();
  for (int a = 0; a < nspecies_; a++)
    for (int b = a; b < nspecies_; b++) {
      double *block = out + (size_t) spec_.pair_index(a, b) * np;
      int fill = 0;
      for (int j = abeg_[a]; j < aend_[a]; j++) {
        const double xj = x[j], yj = y[j], zj = z[j], irj = ir[j], rj2 = r2[j];
        int k = (a == b) ? j + 1 : abeg_[b];
        const int k1 = aend_[b];
        while (k < k1) {
          const int m = std::min(k1 - k, ANGULAR_CHUNK - fill);
          double *c = cv + fill, *s = sv + fill;
#pragma omp simd
          for (int t = 0; t < m; t++) {
            const int kk = k + t;
            const double dot = xj * x[kk] + yj * y[kk] + zj * z[kk];
            // rounding can push |cos| a hair past 1, and 1 + lambda cos must stay >= 0
            // (selects on values: std::min/max through references kept the loop scalar)
            double ct = dot * irj * ir[kk];
            ct = ct > 1.0 ? 1.0 : ct;
            c[t] = ct < -1.0 ? -1.0 : ct;
            s[t] = 2.0 * (rj2 + r2[kk] - dot);
          }
          fill += m;
          k += m;
          if (fill == ANGULAR_CHUNK) {
            angular_chunk(fill, block);
            fill = 0;
          }
        }
      }
      if (fill) angular_chunk(fill, block);
    }
}

// The features of one chunk of pairs (cos_ and sq_ hold their cosines and s), added to block.
PYSOFT_HOT
void StructureFunctions::angular_chunk(int m, double *block)
{
  constexpr int C = ANGULAR_CHUNK;
  const int np = (int) spec_.params.size();
  const int nxi = (int) inv_xi2_.size();
  const int nlam = (int) lambdas_.size();
  const int nsh = (int) shapes_.size();
  double *cv = cos_.data(), *sv = sq_.data(), *ex = expo_.data(), *bs = base_.data(), *sh = shape_.data();

  // erow[u] / srow[h]: the chunk's exponentials of xi u and shapes h, wherever they are made
  const double **erow = erow_.data(), **srow = srow_.data();
  if (!xi_power_.empty()) {
    // w = exp(-s b) (into sv), and its squares w^2, w^4, ... in rows of pw; exp(-s/xi_u^2) =
    // w^m_u is the product of the squares of m_u's bits: a row itself for m_u a power of 2
    const double a = -xi_base_;
#pragma omp simd
    for (int t = 0; t < m; t++) sv[t] = simd_exp(a * sv[t]);
    double *pw = pow_.data();
    const double *prev = sv;
    for (int bit = 1; bit < xi_power_bits_; bit++) {
      double *q = pw + (size_t) (bit - 1) * C;
#pragma omp simd
      for (int t = 0; t < m; t++) q[t] = prev[t] * prev[t];
      prev = q;
    }
    auto square = [&](int bit) -> const double * { return bit ? pw + (size_t) (bit - 1) * C : sv; };
    for (int u = 0; u < nxi; u++) {
      const int mu = xi_power_[u];
      int bit = 0;
      while (!((mu >> bit) & 1)) bit++;
      if ((mu >> (bit + 1)) == 0) {
        erow[u] = square(bit);
        continue;
      }
      double *eu = ex + (size_t) u * C;
      const double *f = square(bit);
      bool first = true;
      for (int b2 = bit + 1; b2 < xi_power_bits_; b2++) {
        if (!((mu >> b2) & 1)) continue;
        const double *g = square(b2);
        if (first) {
#pragma omp simd
          for (int t = 0; t < m; t++) eu[t] = f[t] * g[t];
          first = false;
        } else {
#pragma omp simd
          for (int t = 0; t < m; t++) eu[t] *= g[t];
        }
      }
      erow[u] = eu;
    }
  } else {
    for (int u = 0; u < nxi; u++) {
      double *eu = ex + (size_t) u * C;
      const double a = -inv_xi2_[u];
#pragma omp simd
      for (int t = 0; t < m; t++) eu[t] = simd_exp(a * sv[t]);
      erow[u] = eu;
    }
  }
  for (int l = 0; l < nlam; l++) {
    double *b = bs + (size_t) l * C;
    const double lam = lambdas_[l];
#pragma omp simd
    for (int t = 0; t < m; t++) b[t] = 1.0 + lam * cv[t];
  }
  for (int h = 0; h < nsh; h++) {
    const Shape &s = shapes_[h];
    const double *b = bs + (size_t) s.lambda * C;
    double *a = sh + (size_t) h * C;
    srow[h] = a;
    if (s.izeta == 1) {
      srow[h] = b;
    } else if (s.izeta == 2) {
#pragma omp simd
      for (int t = 0; t < m; t++) a[t] = b[t] * b[t];
    } else if (s.izeta == 4) {
#pragma omp simd
      for (int t = 0; t < m; t++) {
        const double b2 = b[t] * b[t];
        a[t] = b2 * b2;
      }
    } else if (s.izeta >= 0) {
      for (int t = 0; t < m; t++) a[t] = ipow(b[t], s.izeta);
    } else {
      for (int t = 0; t < m; t++) a[t] = std::pow(b[t], s.zeta);
    }
  }
  // one dot product per param, into 16 partial sums: a single vector accumulator would make
  // every multiply-add wait for the one before it (latency, not throughput, bound)
  constexpr int P = 16;
  const int mfull = m - m % P;
  for (int p = 0; p < np; p++) {
    const double *e = erow[param_xi_[p]];
    const double *a = srow[param_shape_[p]];
    double part[P] = {0.0};
    for (int t = 0; t < mfull; t += P) {
#pragma omp simd
      for (int l = 0; l < P; l++) part[l] += e[t + l] * a[t + l];
    }
    double acc = 0.0;
    for (int t = mfull; t < m; t++) acc += e[t] * a[t];
    for (int l = 0; l < P; l++) acc += part[l];
    block[p] += acc;
  }
}

void StructureFunctions::evaluate(int n, const double *d, const int *sp, double *out)
{
  std::fill(out, out + spec_.ncols(), 0.0);

  // One pass sorts the neighbours by species: species s fills its own bucket, at offset s n,
  // of the radial distances and of the angular neighbours.  Each neighbour is written at its
  // bucket's end and the end advances only if it is inside the cutoff: no branch to
  // mispredict on the ~1 in 6 that are inside the angular one.
  const bool ang = spec_.has_angular;
  rr_.resize((size_t) nspecies_ * n + 1);
  if (ang) {
    ax_.resize((size_t) nspecies_ * n + 1);
    ay_.resize((size_t) nspecies_ * n + 1);
    az_.resize((size_t) nspecies_ * n + 1);
    air_.resize((size_t) nspecies_ * n + 1);
    ar2_.resize((size_t) nspecies_ * n + 1);
  }
  int *rend = rend_.data(), *aend = aend_.data();
  for (int s = 0; s < nspecies_; s++) rend[s] = aend[s] = abeg_[s] = s * n;
  for (int j = 0; j < n; j++) {
    const double dx = d[3 * j], dy = d[3 * j + 1], dz = d[3 * j + 2];
    const double rsq = dx * dx + dy * dy + dz * dz;
    const double r = std::sqrt(rsq);
    const int s = sp[j];
    rr_[rend[s]] = r;
    rend[s] += rsq < radial_cutsq_;
    if (ang) {
      const int o = aend[s];
      ax_[o] = dx;
      ay_[o] = dy;
      az_[o] = dz;
      ar2_[o] = rsq;
      air_[o] = 1.0 / r;
      // a neighbour on top of the centre has no angle; it is left out of the angular sums
      aend[s] += (rsq < angular_cutsq_) & (rsq != 0.0);
    }
  }
  for (int s = 0; s < nspecies_; s++) add_radial(rr_.data() + (size_t) s * n, rend[s] - s * n, out + s * nmu_);
  if (ang) add_angular(out + spec_.nradial());
}

}    // namespace pysoft
