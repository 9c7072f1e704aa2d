// Loading an exported polmlip model file and checking its metadata; shared by the engine plugins.
#pragma once

#include <torch/script.h>

#include <string>
#include <vector>

namespace polmlip {

constexpr int kFormatVersion = 1;
constexpr double kEvToKcalPerMol = 23.060547830619026;
constexpr double kEvToKjPerMol = 96.48533212331002;

struct ModelInfo {
  std::vector<std::string> elements;
  double cutoff = 0.0;        // Å
  double ghost_cutoff = 0.0;  // Å, num_layers * cutoff
  // Å: closer atoms are refused as overlapping (metadata "min_distance"; files written
  // before it was recorded used 0.1)
  double min_distance = 0.1;
  int format_version = 0;
  std::string dtype;          // "float64" or "float32"
  std::string polmlip_version;
  // "engine" (the main export, docs/export.md) or "torchforce" (openmm-torch convention,
  // one particle order baked in; then the fields below are set)
  std::string kind = "engine";
  bool periodic = true;
  std::vector<std::string> particle_elements;
};

struct LoadedModel {
  torch::jit::Module module;
  ModelInfo info;
};

// Load a model file written by `polmlip export`. Throws std::runtime_error with a message a
// user can act on for a missing, foreign, corrupted or newer-format file.
LoadedModel load_model(const std::string &path, const torch::Device &device);

// The line of a TorchScript error message a user needs: polmlip's own message if there is
// one, else the innermost "...Error: ..." line, else the first line.
std::string short_error(const std::string &message);

}  // namespace polmlip
