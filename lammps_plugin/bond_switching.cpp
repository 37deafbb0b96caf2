/* ----------------------------------------------------------------------
   pysoft: bond switching of a centre atom, see bond_switching.h
------------------------------------------------------------------------- */

#include "bond_switching.h"

#include <algorithm>

pysoft::BondSwitchState pysoft::classify_bond_switch(const std::int64_t *ref, int nref,
                                                     const std::int64_t *now, int nnow)
{
  // the coordination number decides first: a changed CN is DC or IC even when some
  // neighbours were also replaced, as in the paper, where SC is defined at the same CN only
  if (nnow < nref) return BOND_DC;
  if (nnow > nref) return BOND_IC;
  return std::equal(ref, ref + nref, now) ? BOND_UC : BOND_SC;
}
