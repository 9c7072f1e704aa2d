// Loading an exported polmlip model and its metadata (see docs/export.md).
#include "model_loader.h"

#include <caffe2/serialize/inline_container.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "json.h"

namespace polmlip {

namespace {

using Json = json::Value;

// A problem with the content of the metadata; load_model adds the file's name.
struct Corrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "a string", "a list", ... : what a JSON value is, for messages.
std::string described(const Json &v) {
  if (v.is_null()) return "null";
  if (v.is_array()) return "a list";
  if (v.is_object()) return "an object";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  return "a string";
}

[[noreturn]] void wrong_type(const std::string &label, const Json &v, const char *wanted) {
  throw Corrupted(label + " is " + described(v) + ", not " + wanted);
}

// The field `key` of the object `obj`, or nullptr if it is absent.
const Json *field(const Json &obj, const char *key) { return obj.find(key); }

// The field `key` of `obj`; `label` names it in the message if it is absent.
const Json &required(const Json &obj, const char *key, const std::string &label) {
  const Json *v = field(obj, key);
  if (!v) throw Corrupted("no " + label);
  return *v;
}

std::string as_string(const Json &v, const std::string &label) {
  if (!v.is_string()) wrong_type(label, v, "a string");
  return v.string();
}

double as_number(const Json &v, const std::string &label) {
  if (!v.is_number()) wrong_type(label, v, "a number");
  return v.number();
}

int64_t as_integer(const Json &v, const std::string &label) {
  if (v.is_big_integer()) throw Corrupted(label + " is out of range");
  if (!v.is_integer()) wrong_type(label, v, "an integer");
  return v.integer();
}

bool as_bool(const Json &v, const std::string &label) {
  if (!v.is_boolean()) wrong_type(label, v, "true or false");
  return v.boolean();
}

std::vector<std::string> as_strings(const Json &v, const std::string &label) {
  if (!v.is_array()) wrong_type(label, v, "a list of strings");
  std::vector<std::string> out;
  for (size_t k = 0; k < v.items().size(); ++k)
    out.push_back(as_string(v.items()[k], label + "[" + std::to_string(k) + "]"));
  return out;
}

std::string quoted(const char *key) { return "'" + std::string(key) + "'"; }

double positive(const Json &meta, const char *key) {
  const double value = as_number(required(meta, key, quoted(key)), quoted(key));
  if (!(value > 0.0) || !std::isfinite(value))
    throw Corrupted(quoted(key) + " is " + std::to_string(value) + ", not a positive number");
  return value;
}

OutputSpec parse_output(const Json &entry, const std::string &where) {
  if (!entry.is_object()) wrong_type(where, entry, "an object");
  OutputSpec out;
  out.name = as_string(required(entry, "name", "'name' in " + where), "'name' of " + where);
  const std::string of = " of output '" + out.name + "'";
  const Json &shape = required(entry, "shape", "'shape'" + of);
  if (!shape.is_array()) wrong_type("'shape'" + of, shape, "a list");
  for (size_t d = 0; d < shape.items().size(); ++d) {
    const Json &dim = shape.items()[d];
    if (d == 0 && dim.is_string() && dim.string() == "atoms") {
      out.shape.push_back(-1);
    } else if (dim.is_integer() && dim.integer() >= 0) {
      out.shape.push_back(dim.integer());
    } else {
      throw Corrupted("'shape'" + of + " has the entry " + json::canonical(dim) +
                      " (wanted \"atoms\" first, else sizes)");
    }
  }
  const bool atoms_first = !out.shape.empty() && out.shape[0] == -1;
  const Json *v = field(entry, "per_atom");
  out.per_atom = v ? as_bool(*v, "'per_atom'" + of) : atoms_first;
  if (out.per_atom != atoms_first)
    throw Corrupted("'per_atom'" + of + " does not match its shape");
  if ((v = field(entry, "rows"))) {
    const std::string rows = as_string(*v, "'rows'" + of);
    if (rows != "graph" && rows != "local")
      throw Corrupted("'rows'" + of + " is '" + rows + "', not 'graph' or 'local'");
    out.graph_rows = rows == "graph";
  }
  if ((v = field(entry, "on_request"))) out.on_request = as_bool(*v, "'on_request'" + of);
  if ((v = field(entry, "periodic_only"))) out.periodic_only = as_bool(*v, "'periodic_only'" + of);
  if ((v = field(entry, "unit"))) out.unit = as_string(*v, "'unit'" + of);
  return out;
}

// The engine contract entries of a kind "engine" file (see ModelInfo).
void parse_contract(const Json &meta, ModelInfo &info) {
  const Json *outputs = field(meta, "outputs");
  if (!outputs)
    throw Corrupted("no 'outputs' (the declaration of what the model returns); re-export it "
                    "with this polmlip: polmlip export CHECKPOINT -o model.pt");
  if (!outputs->is_array()) wrong_type("'outputs'", *outputs, "a list");
  for (size_t k = 0; k < outputs->items().size(); ++k) {
    OutputSpec spec = parse_output(outputs->items()[k], "outputs[" + std::to_string(k) + "]");
    if (info.output(spec.name)) throw Corrupted("output '" + spec.name + "' is declared twice");
    info.outputs.push_back(std::move(spec));
  }
  if (const Json *inputs = field(meta, "inputs")) {
    if (!inputs->is_array()) wrong_type("'inputs'", *inputs, "a list");
    for (size_t k = 0; k < inputs->items().size(); ++k) {
      const std::string where = "inputs[" + std::to_string(k) + "]";
      const Json &entry = inputs->items()[k];
      if (!entry.is_object()) wrong_type(where, entry, "an object");
      info.inputs.push_back(
          as_string(required(entry, "name", "'name' in " + where), "'name' of " + where));
    }
  }
  if (const Json *v = field(meta, "requestable")) info.requestable = as_strings(*v, "'requestable'");
  if (const Json *features = field(meta, "features")) {
    if (!features->is_object()) wrong_type("'features'", *features, "an object");
    if (const Json *width = field(*features, "width")) {
      const int64_t w = as_integer(*width, "'width' of 'features'");
      if (w < 0 || w > INT32_MAX) throw Corrupted("'width' of 'features' is out of range");
      info.feature_width = static_cast<int>(w);
    }
    if (const Json *halo = field(*features, "halo_exchange"))
      info.halo_exchange = as_bool(*halo, "'halo_exchange' of 'features'");
  }
}

// The metadata `text` of the model file `path` (the JSON written by polmlip.export).
ModelInfo parse_metadata(const std::string &path, const std::string &text) {
  Json meta;
  try {
    meta = json::parse(text);
  } catch (const json::ParseError &e) {
    throw Corrupted(std::string("not JSON (") + e.what() + ")");
  }
  if (!meta.is_object()) wrong_type("the metadata", meta, "an object");
  const Json *format = field(meta, "format");
  if (!format || !format->is_string() || format->string() != "polmlip")
    throw std::runtime_error("'" + path + "' is not a polmlip model file");

  ModelInfo info;
  info.polmlip_version = "?";
  if (const Json *v = field(meta, "polmlip_version"))
    info.polmlip_version = as_string(*v, "'polmlip_version'");
  const int64_t version =
      as_integer(required(meta, "format_version", "'format_version'"), "'format_version'");
  if (version < 1) throw Corrupted("'format_version' is " + std::to_string(version));
  if (version > keys::kFormatVersion) {
    std::ostringstream s;
    s << "'" << path << "' was written in model format " << version << " (polmlip "
      << info.polmlip_version << "), newer than this plugin reads (format "
      << keys::kFormatVersion << "); rebuild the plugin from a newer polmlip";
    throw std::runtime_error(s.str());
  }
  info.format_version = static_cast<int>(version);
  if (const Json *v = field(meta, "kind")) info.kind = as_string(*v, "'kind'");
  if (info.kind != "engine" && info.kind != "torchforce")
    throw std::runtime_error("'" + path + "' is a polmlip file of unknown kind '" + info.kind +
                             "'");
  // TorchForce files keep the openmm-torch interface (positions in, energy out) in every
  // format; engine files of format 1 took positional arguments.
  if (info.kind == "engine" && version < keys::kFormatVersion) {
    std::ostringstream s;
    s << "'" << path << "' was written by an older polmlip (" << info.polmlip_version
      << ") in model format " << version << " with positional inputs; this plugin reads "
      << "format " << keys::kFormatVersion << " (named inputs and outputs). Re-export it "
      << "with this polmlip: polmlip export CHECKPOINT -o model.pt";
    throw std::runtime_error(s.str());
  }

  info.elements = as_strings(required(meta, "elements", "'elements'"), "'elements'");
  if (info.elements.empty()) throw Corrupted("'elements' is empty");
  info.cutoff = positive(meta, "cutoff");
  info.ghost_cutoff = positive(meta, "ghost_cutoff");
  if (const Json *v = field(meta, "min_distance")) {
    info.min_distance = as_number(*v, "'min_distance'");
    if (!(info.min_distance >= 0.0) || !std::isfinite(info.min_distance))
      throw Corrupted("'min_distance' is " + std::to_string(info.min_distance));
  }
  if (const Json *lr = field(meta, "long_range")) {
    if (!lr->is_object()) wrong_type("'long_range'", *lr, "an object");
    if (const Json *v = field(*lr, "real_space_cutoff")) {
      if (!v->is_null()) {
        info.real_space_cutoff = as_number(*v, "'real_space_cutoff' of 'long_range'");
        if (!(info.real_space_cutoff >= 0.0) || !std::isfinite(info.real_space_cutoff))
          throw Corrupted("'real_space_cutoff' is " + std::to_string(info.real_space_cutoff));
      }
    }
  }
  info.dtype = "float64";
  if (const Json *v = field(meta, "dtype")) info.dtype = as_string(*v, "'dtype'");
  if (info.dtype != "float64" && info.dtype != "float32")
    throw Corrupted("'dtype' is '" + info.dtype + "', not 'float64' or 'float32'");

  if (info.kind == "torchforce") {
    info.particle_elements =
        as_strings(required(meta, "particle_elements", "'particle_elements'"),
                   "'particle_elements'");
    if (const Json *v = field(meta, "periodic")) info.periodic = as_bool(*v, "'periodic'");
  } else {
    parse_contract(meta, info);
  }
  return info;
}

// A torch.save archive (a training checkpoint) holds data.pkl but no TorchScript code/.
bool is_training_checkpoint(const std::string &path) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    if (!reader.hasRecord("data.pkl")) return false;
    for (const auto &name : reader.getAllRecords())
      if (name.rfind("code/", 0) == 0) return false;
    return true;
  } catch (const std::exception &) {
    return false;
  }
}

}  // namespace

int64_t OutputSpec::columns() const {
  int64_t n = 1;
  for (const int64_t d : shape)
    if (d >= 0) n *= d;
  return n;
}

const OutputSpec *ModelInfo::output(const std::string &name) const {
  for (const auto &spec : outputs)
    if (spec.name == name) return &spec;
  return nullptr;
}

void require_outputs(const ModelInfo &info, const std::vector<std::string> &names,
                     const std::string &engine) {
  std::string missing, declared;
  for (const auto &name : names)
    if (!info.output(name)) missing += (missing.empty() ? "'" : ", '") + name + "'";
  if (missing.empty()) return;
  for (const auto &spec : info.outputs) declared += (declared.empty() ? "" : ", ") + spec.name;
  throw std::runtime_error("the polmlip model does not return " + missing + ", which " + engine +
                           " needs (it declares: " + (declared.empty() ? "none" : declared) +
                           "); use a model trained with the heads that give them");
}

LoadedModel load_model(const std::string &path, const torch::Device &device) {
  std::ifstream probe(path, std::ios::binary);
  if (!probe) throw std::runtime_error("polmlip model file '" + path + "' cannot be opened");
  char magic[2] = {0, 0};
  probe.read(magic, 2);
  if (magic[0] != 'P' || magic[1] != 'K')
    throw std::runtime_error("'" + path + "' is not a polmlip model file (not a TorchScript "
                             "archive); write one with `polmlip export`");
  LoadedModel out;
  torch::jit::ExtraFilesMap extra{{keys::kMetadataFile, ""}};
  try {
    out.module = torch::jit::load(path, device, extra);
  } catch (const c10::Error &e) {
    if (is_training_checkpoint(path))
      throw std::runtime_error("'" + path + "' is a polmlip training checkpoint, not an exported "
                               "model; export it first: polmlip export " + path + " -o model.pt");
    std::string msg = e.what_without_backtrace();
    throw std::runtime_error("'" + path + "' is corrupted or unreadable: " +
                             msg.substr(0, msg.find('\n')));
  }
  const std::string &text = extra[keys::kMetadataFile];
  if (text.empty())
    throw std::runtime_error("'" + path + "' is a TorchScript file but not a polmlip model");
  out.info = check_metadata(path, text);
  out.module.eval();
  return out;
}

ModelInfo check_metadata(const std::string &path, const std::string &text) {
  try {
    return parse_metadata(path, text);
  } catch (const Corrupted &e) {
    throw std::runtime_error("'" + path + "' has corrupted polmlip metadata: " + e.what());
  }
}

c10::Dict<std::string, torch::Tensor> frame_inputs(
    const torch::Tensor &species, const torch::Tensor &positions, const torch::Tensor &edge_index,
    const torch::Tensor &edge_shift, const torch::Tensor &cell, bool periodic,
    const torch::Tensor &field, double total_charge, const torch::Device &device,
    torch::Dtype dtype) {
  const auto on_device = torch::TensorOptions().device(device);
  c10::Dict<std::string, torch::Tensor> inputs;
  inputs.insert(keys::kSpecies, species.to(device));
  inputs.insert(keys::kPositions, positions.to(device, dtype));
  inputs.insert(keys::kEdgeIndex, edge_index.to(device));
  inputs.insert(keys::kEdgeShift, edge_shift.to(device));
  inputs.insert(keys::kCell, cell.to(device, dtype));
  inputs.insert(keys::kPbc, torch::tensor(periodic, on_device));
  inputs.insert(keys::kExternalField, field.to(device, dtype));
  inputs.insert(keys::kTotalCharge, torch::tensor(total_charge, on_device.dtype(dtype)));
  return inputs;
}

std::string short_error(const std::string &msg) {
  // TorchScript errors quote the failing source, whose message template also contains
  // "polmlip: "; the raised message is the last "...Error: polmlip: ..." line.
  std::string polmlip_line, error_line = msg.substr(0, msg.find('\n'));
  size_t start = 0;
  while (start < msg.size()) {
    size_t end = msg.find('\n', start);
    if (end == std::string::npos) end = msg.size();
    std::string line = msg.substr(start, end - start);
    const size_t at = line.find("Error: polmlip: ");
    if (at != std::string::npos) polmlip_line = line.substr(at + 7);
    if (line.find("Error: ") != std::string::npos) error_line = line;
    start = end + 1;
  }
  if (!polmlip_line.empty()) return polmlip_line;
  if (msg.rfind("polmlip: ", 0) == 0) return msg.substr(0, msg.find('\n'));
  return error_line;
}

}  // namespace polmlip
