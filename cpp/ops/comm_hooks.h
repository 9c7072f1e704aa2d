// The communication of one engine instance, and which instance's communication the
// polmlip:: operators use.
//
// An engine that decomposes the domain (the LAMMPS plugin) owns one CommHooks per instance:
// its halo exchange, its global sum and its mesh all-to-all, over its own communicator, and
// the counts they kept. It makes them active around its model call (forward and backward):
//
//     polmlip::ActiveCommHooks scope(&hooks_);   // until the end of the block
//     ... module.forward(...); energy.backward(); ...
//
// so two instances in one process (pair_style hybrid/overlay, two LAMMPS objects, partitions)
// each communicate through their own hooks, and destroying one leaves the other intact.
// Outside any scope the operators use the process's default hooks (set_halo_exchange,
// set_allreduce_hook, set_mesh_comm: tests and single-instance drivers), empty unless set.
//
// Scopes nest (the previous hooks come back at the end of a scope). The active hooks are
// process-wide, not per thread, because autograd may run a backward pass on another thread;
// two instances must therefore not run their models concurrently (engines do not).
#pragma once

#include <cstdint>
#include <mutex>

#include "allreduce.h"
#include "halo.h"
#include "mesh_comm.h"

namespace polmlip {

struct CommHooks {
  HaloExchange halo;
  AllreduceHook allreduce;
  MeshComm mesh;
  // counts since they were last reset by their owner
  int64_t halo_calls = 0;
  int64_t mesh_bytes_sent = 0;   // to other processes
  int64_t mesh_points_held = 0;  // most mesh points held at once (brick + x-slab)
};

class ActiveCommHooks {
 public:
  explicit ActiveCommHooks(CommHooks *hooks);
  ~ActiveCommHooks();
  ActiveCommHooks(const ActiveCommHooks &) = delete;
  ActiveCommHooks &operator=(const ActiveCommHooks &) = delete;

 private:
  CommHooks *previous_;
};

// The hooks the operators use now: the innermost active scope's, else the process default.
// Callers hold comm_hooks_mutex() while they read or change them.
CommHooks &current_comm_hooks();
std::recursive_mutex &comm_hooks_mutex();

}  // namespace polmlip
