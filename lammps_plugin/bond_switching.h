/* -*- c++ -*- ----------------------------------------------------------
   pysoft: bond switching of a centre atom between a reference and now
   (Du et al. 2021; doc/method.md section 4).  Plain C++, no LAMMPS types, so
   it is testable on its own; compute bondswitch/atom feeds it atom ids.
------------------------------------------------------------------------- */

#ifndef PYSOFT_BOND_SWITCHING_H
#define PYSOFT_BOND_SWITCHING_H

#include <cstdint>

namespace pysoft {

// The paper's four classes, numbered as column 3 of compute bondswitch/atom.
enum BondSwitchState : int {
  BOND_UC = 0,    // unchanged: same coordination number, same neighbours
  BOND_DC = 1,    // coordination number decreased
  BOND_IC = 2,    // coordination number increased
  BOND_SC = 3     // same coordination number, at least one neighbour replaced
};

// ref (nref ids) and now (nnow ids) are the ids of the bonded neighbours of one atom in the
// reference and now, each sorted ascending.  They are multisets: an id appears once per bonded
// periodic image, so the coordination number is the length.
BondSwitchState classify_bond_switch(const std::int64_t *ref, int nref, const std::int64_t *now,
                                     int nnow);

}    // namespace pysoft

#endif
