/* -*- c++ -*- ----------------------------------------------------------
   pysoft: the Falk-Langer non-affine squared displacement of one atom,
   as plain functions without LAMMPS types (doc/method.md section 4).
------------------------------------------------------------------------- */

#ifndef PYSOFT_NONAFFINE_H
#define PYSOFT_NONAFFINE_H

namespace pysoft {

// Eigenvalues below this fraction of the largest eigenvalue of Y = sum X X^T count as zero:
// the neighbours then span fewer than three directions and J is left undetermined across
// the missing ones (see nonaffine_d2min).
constexpr double D2MIN_RANK_TOLERANCE = 1e-12;

// D2min of one atom with n neighbours (Falk and Langer, PRE 57, 7192 (1998)):
//
//   D2min = min over 3x3 J of  sum_k |d_k - J X_k|^2
//
// X: the n separations neighbour - atom in the reference configuration, d: the same n
// separations now, each as x, y, z (3n doubles).  It is the SUM over the neighbours (not the
// mean), in the squared length unit of the input.  The minimiser is
// J = (sum d X^T) (sum X X^T)^+, with ^+ the Moore-Penrose pseudo-inverse, so the minimum is
// also defined when the neighbours span fewer than three dimensions (fewer than three of
// them, or all on one plane or line): J is then fitted within the span of the X_k.  With at
// most three linearly independent neighbours J fits them exactly and D2min = 0 (to rounding);
// with none, D2min = 0.  If J is not null it receives the minimiser (row-major, 9 doubles).
double nonaffine_d2min(int n, const double *X, const double *d, double *J = nullptr);

// Eigen-decomposition of a symmetric 3x3 matrix (row-major, 9 doubles) by Jacobi rotations:
// A = V diag(w) V^T with the eigenvectors in the columns of V (row-major).
void symmetric_eigen3(const double *A, double *w, double *V);

}    // namespace pysoft

#endif
