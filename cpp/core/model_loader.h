// Loading an exported polmlip model file and checking its metadata; shared by the engine plugins.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <string>
#include <vector>

// polmlip::keys (names, kFormatVersion, kMetadataFile) and polmlip::units (kMinDistance,
// kEvToKcalPerMol, ...), generated from python/polmlip/keys.py and units.py by the build.
#include "polmlip_contract.h"

namespace polmlip {

// One output of the engine contract as the model file declares it (metadata "outputs",
// written from python/polmlip/export/contract.py).
struct OutputSpec {
  std::string name;            // a keys:: name, e.g. keys::kForces
  std::vector<int64_t> shape;  // -1 for "atoms" (the number of rows), else the fixed size
  bool per_atom = false;       // shape[0] is "atoms"
  bool graph_rows = false;     // a row per graph atom (ghosts included), else per local atom
  bool on_request = false;     // computed only when named in the requested outputs
  bool periodic_only = false;  // returned for periodic frames only
  std::string unit;            // e.g. "eV/Å"; "" for dimensionless
  // Values per row: the product of the non-"atoms" dims (1 for a scalar or an (atoms,)
  // vector, 3 for (atoms, 3), 9 for (3, 3)).
  int64_t columns() const;
};

struct ModelInfo {
  std::vector<std::string> elements;
  double cutoff = 0.0;        // Å
  // Å: real-space cutoff of the Ewald split of the Gaussian sites (metadata
  // long_range.real_space_cutoff; 0: the model cannot split, or was exported before)
  double real_space_cutoff = 0.0;
  double ghost_cutoff = 0.0;  // Å, how far ghost atoms must reach (one cutoff with the halo)
  // Å: closer atoms are refused as overlapping (metadata "min_distance"; files written
  // before it was recorded use units::kMinDistance)
  double min_distance = units::kMinDistance;
  int format_version = 0;
  std::string dtype;          // "float64" or "float32"
  std::string polmlip_version;
  // "engine" (the main export, docs/export.md) or "torchforce" (openmm-torch convention,
  // one particle order baked in; then the fields below are set)
  std::string kind = "engine";
  bool periodic = true;
  std::vector<std::string> particle_elements;
  // The engine contract (kind "engine" only; empty for "torchforce" files): the outputs the
  // model returns, the names of the inputs it takes, the outputs an engine may request, and
  // the width of its per-atom features (metadata "features"; 0 if not recorded).
  std::vector<OutputSpec> outputs;
  std::vector<std::string> inputs;
  std::vector<std::string> requestable;
  int feature_width = 0;
  // the model exchanges per-atom values between ranks through polmlip::halo (metadata
  // features.halo_exchange), so ghost atoms are needed to one cutoff only
  bool halo_exchange = false;

  // The declared output `name`, or nullptr if the model does not return it.
  const OutputSpec *output(const std::string &name) const;
};

// Throws std::runtime_error naming every one of `names` the model does not declare among its
// outputs, and `engine` (e.g. "pair_style polmlip"), which needs them.
void require_outputs(const ModelInfo &info, const std::vector<std::string> &names,
                     const std::string &engine);

struct LoadedModel {
  torch::jit::Module module;
  ModelInfo info;
};

// Load a model file written by `polmlip export`. Throws std::runtime_error with a message a
// user can act on for a missing, foreign, corrupted, older- or newer-format file.
LoadedModel load_model(const std::string &path, const torch::Device &device);

// The metadata `text` of the model file `path` parsed and checked as load_model does;
// throws std::runtime_error with the reason. (tests/unit/test_metadata_agreement.py holds
// the Python loader's checks, polmlip.export.metadata, to the same answers.)
ModelInfo check_metadata(const std::string &path, const std::string &text);

// The inputs of one engine call (the contract in docs/export.md) that every engine passes:
// species, positions, edge_index, edge_shift, cell, pbc, external_field, total_charge, on
// `device`, floating-point ones in `dtype`. Engines with ghost atoms add num_local and
// install a halo exchange (cpp/ops/halo.h).
c10::Dict<std::string, torch::Tensor> frame_inputs(
    const torch::Tensor &species, const torch::Tensor &positions, const torch::Tensor &edge_index,
    const torch::Tensor &edge_shift, const torch::Tensor &cell, bool periodic,
    const torch::Tensor &field, double total_charge, const torch::Device &device,
    torch::Dtype dtype);

// The line of a TorchScript error message a user needs: polmlip's own message if there is
// one, else the innermost "...Error: ..." line, else the first line.
std::string short_error(const std::string &message);

}  // namespace polmlip
