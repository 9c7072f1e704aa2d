// The reduction seam of polmlip: polmlip::allreduce sums a tensor over all processes.
//
// In one process it is the identity. An engine that decomposes the domain (the LAMMPS plugin)
// installs a hook that sums in place over its communicator. Backward is the same reduction:
// every rank's energy share depends on the global quantity.
#pragma once

#include <torch/torch.h>

#include <functional>

namespace polmlip {

using AllreduceHook = std::function<void(torch::Tensor &)>;

// Install (or, with an empty function, remove) the in-place sum over processes.
void set_allreduce_hook(AllreduceHook hook);


}  // namespace polmlip
