/* -*- c++ -*- ----------------------------------------------------------
   pysoft: fix BONDSWITCH/STORE, internal to compute bondswitch/atom.
   Holds each atom's reference bonded-neighbour ids so that they travel
   with the atom between ranks and are written to restart files.
------------------------------------------------------------------------- */

#ifndef LMP_FIX_BONDSWITCH_STORE_H
#define LMP_FIX_BONDSWITCH_STORE_H

#include "fix.h"

#include <cstdint>

namespace LAMMPS_NS {

class FixBondSwitchStore : public Fix {
 public:
  FixBondSwitchStore(class LAMMPS *, int, char **);
  ~FixBondSwitchStore() override;
  int setmask() override;

  void write_restart(FILE *) override;
  void restart(char *) override;

  void grow_arrays(int) override;
  void copy_arrays(int, int, int) override;
  void set_arrays(int) override;
  int pack_exchange(int, double *) override;
  int unpack_exchange(int, double *) override;
  int pack_restart(int, double *) override;
  void unpack_restart(int, int) override;
  int size_restart(int) override;
  int maxsize_restart() override;
  double memory_usage() override;

  // --- used by compute bondswitch/atom ---

  bool captured() const { return captured_; }
  // forget the reference: the compute captures a new one the next time it is invoked
  void request_capture() { captured_ = false; }
  // start a capture, on all ranks together; width = largest reference CN over all ranks
  void begin_capture(int width, double cutoff, int typelo, int typehi);
  // reference of local atom i: n sorted ids, or n = -1 for "no reference"
  void set_reference(int i, const std::int64_t *ids, int n);
  void end_capture() { captured_ = true; }
  // reference CN of local atom i (its ids in *ids), or -1 when it has none
  int reference(int i, const std::int64_t **ids) const
  {
    *ids = refids[i];
    return refcn[i];
  }

  // what the reference was captured with (checked when a compute re-attaches after read_restart)
  double cutoff() const { return cutoff_; }
  int typelo() const { return typelo_; }
  int typehi() const { return typehi_; }

 private:
  bool captured_;
  int width;          // largest reference CN of any atom on any rank (same on all ranks)
  int ncols;          // columns allocated in refids: >= width, >= 1
  int *refcn;         // per atom: reference CN, -1 = no reference
  std::int64_t **refids;    // per atom: the refcn[i] sorted neighbour ids
  double cutoff_;
  int typelo_, typehi_;

  void set_width(int);
};

}    // namespace LAMMPS_NS

#endif
