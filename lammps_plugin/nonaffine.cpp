/* ----------------------------------------------------------------------
   pysoft: Falk-Langer D2min of one atom, see nonaffine.h
------------------------------------------------------------------------- */

#include "nonaffine.h"

#include <algorithm>
#include <cmath>

namespace pysoft {

void symmetric_eigen3(const double *A, double *w, double *V)
{
  double a[3][3], v[3][3];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      a[i][j] = 0.5 * (A[3 * i + j] + A[3 * j + i]);
      v[i][j] = (i == j) ? 1.0 : 0.0;
    }

  static const int P[3] = {0, 0, 1}, Q[3] = {1, 2, 2};
  // cyclic Jacobi converges quadratically; a 3x3 matrix reaches rounding level in a handful
  // of sweeps, the cap only guards against a pathological input
  for (int sweep = 0; sweep < 64; sweep++) {
    double off = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2];
    double diag = a[0][0] * a[0][0] + a[1][1] * a[1][1] + a[2][2] * a[2][2];
    if (off == 0.0 || off <= 1e-36 * diag) break;
    for (int r = 0; r < 3; r++) {
      const int p = P[r], q = Q[r];
      if (a[p][q] == 0.0) continue;
      // the rotation angle phi that zeroes a[p][q]: cot(2 phi) = theta; the smaller root
      // t = tan(phi) keeps the rotation below 45 degrees, which is what makes Jacobi stable
      double theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
      double t = (theta >= 0.0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
      if (!std::isfinite(t)) t = 0.0;
      double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
      double g[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
      g[p][p] = c;
      g[q][q] = c;
      g[p][q] = s;
      g[q][p] = -s;
      double ag[3][3], na[3][3], nv[3][3];
      for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
          ag[i][j] = a[i][0] * g[0][j] + a[i][1] * g[1][j] + a[i][2] * g[2][j];
          nv[i][j] = v[i][0] * g[0][j] + v[i][1] * g[1][j] + v[i][2] * g[2][j];
        }
      for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
          na[i][j] = g[0][i] * ag[0][j] + g[1][i] * ag[1][j] + g[2][i] * ag[2][j];
      // exactly zero by construction; rounding would leave a residue of order eps * a[p][p]
      na[p][q] = na[q][p] = 0.0;
      for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
          a[i][j] = na[i][j];
          v[i][j] = nv[i][j];
        }
    }
  }
  for (int i = 0; i < 3; i++) {
    w[i] = a[i][i];
    for (int j = 0; j < 3; j++) V[3 * i + j] = v[i][j];
  }
}

double nonaffine_d2min(int n, const double *X, const double *d, double *J)
{
  double Y[9] = {0}, Z[9] = {0};
  for (int k = 0; k < n; k++) {
    const double *x = X + 3 * k, *y = d + 3 * k;
    for (int a = 0; a < 3; a++)
      for (int b = 0; b < 3; b++) {
        Y[3 * a + b] += x[a] * x[b];
        Z[3 * a + b] += y[a] * x[b];
      }
  }

  double w[3], V[9];
  symmetric_eigen3(Y, w, V);
  const double wmax = std::max({w[0], w[1], w[2]});
  double Yplus[9] = {0};
  if (wmax > 0.0)
    for (int m = 0; m < 3; m++) {
      if (w[m] <= D2MIN_RANK_TOLERANCE * wmax) continue;
      for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) Yplus[3 * a + b] += V[3 * a + m] * V[3 * b + m] / w[m];
    }

  double Jm[9];
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 3; b++)
      Jm[3 * a + b] =
          Z[3 * a] * Yplus[b] + Z[3 * a + 1] * Yplus[3 + b] + Z[3 * a + 2] * Yplus[6 + b];

  // the residual summed term by term rather than as sum|d|^2 - tr(J Z^T): the closed form
  // cancels catastrophically for the nearly affine motion that is the common case
  double sum = 0.0;
  for (int k = 0; k < n; k++) {
    const double *x = X + 3 * k, *y = d + 3 * k;
    for (int a = 0; a < 3; a++) {
      double r = y[a] - (Jm[3 * a] * x[0] + Jm[3 * a + 1] * x[1] + Jm[3 * a + 2] * x[2]);
      sum += r * r;
    }
  }
  if (J)
    for (int m = 0; m < 9; m++) J[m] = Jm[m];
  return sum;
}

}    // namespace pysoft
