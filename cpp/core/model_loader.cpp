// Loading an exported polmlip model and its metadata (see docs/export.md).
#include "model_loader.h"

#include <caffe2/serialize/inline_container.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace polmlip {

namespace {

// Minimal readers for the flat metadata written by polmlip.export (json.dumps of simple fields).
bool find_raw(const std::string &text, const std::string &key, std::string &value) {
  std::smatch m;
  const std::regex re("\"" + key + "\"\\s*:\\s*(\"[^\"]*\"|[-+0-9.eE]+|\\[[^\\]]*\\])");
  if (!std::regex_search(text, m, re)) return false;
  value = m[1].str();
  return true;
}

std::string get_string(const std::string &text, const std::string &key, const std::string &def) {
  std::string raw;
  if (!find_raw(text, key, raw) || raw.size() < 2 || raw.front() != '"') return def;
  return raw.substr(1, raw.size() - 2);
}

double get_number(const std::string &text, const std::string &key) {
  std::string raw;
  if (!find_raw(text, key, raw)) throw std::runtime_error("metadata has no '" + key + "'");
  return std::stod(raw);
}

std::vector<std::string> get_strings(const std::string &text, const std::string &key) {
  std::string raw;
  if (!find_raw(text, key, raw) || raw.front() != '[')
    throw std::runtime_error("metadata has no list '" + key + "'");
  std::vector<std::string> out;
  const std::regex item("\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(raw.begin(), raw.end(), item); it != std::sregex_iterator();
       ++it)
    out.push_back((*it)[1].str());
  return out;
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

LoadedModel load_model(const std::string &path, const torch::Device &device) {
  std::ifstream probe(path, std::ios::binary);
  if (!probe) throw std::runtime_error("polmlip model file '" + path + "' cannot be opened");
  char magic[2] = {0, 0};
  probe.read(magic, 2);
  if (magic[0] != 'P' || magic[1] != 'K')
    throw std::runtime_error("'" + path + "' is not a polmlip model file (not a TorchScript "
                             "archive); write one with `polmlip export`");
  LoadedModel out;
  torch::jit::ExtraFilesMap extra{{"polmlip_metadata.json", ""}};
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
  const std::string &text = extra["polmlip_metadata.json"];
  if (text.empty())
    throw std::runtime_error("'" + path + "' is a TorchScript file but not a polmlip model");
  try {
    if (get_string(text, "format", "") != "polmlip")
      throw std::runtime_error("'" + path + "' is not a polmlip model file");
    out.info.format_version = static_cast<int>(get_number(text, "format_version"));
    out.info.polmlip_version = get_string(text, "polmlip_version", "?");
    if (out.info.format_version > kFormatVersion) {
      std::ostringstream s;
      s << "'" << path << "' was written in model format " << out.info.format_version
        << " (polmlip " << out.info.polmlip_version << "), newer than this plugin reads "
        << "(format " << kFormatVersion << "); rebuild the plugin from a newer polmlip";
      throw std::runtime_error(s.str());
    }
    out.info.elements = get_strings(text, "elements");
    out.info.cutoff = get_number(text, "cutoff");
    out.info.ghost_cutoff = get_number(text, "ghost_cutoff");
    std::string raw;
    if (find_raw(text, "min_distance", raw)) out.info.min_distance = std::stod(raw);
    out.info.dtype = get_string(text, "dtype", "float64");
    out.info.kind = get_string(text, "kind", "engine");
    if (out.info.kind == "torchforce") {
      out.info.particle_elements = get_strings(text, "particle_elements");
      std::smatch m;
      if (std::regex_search(text, m, std::regex("\"periodic\"\\s*:\\s*(true|false)")))
        out.info.periodic = m[1].str() == "true";
    } else if (out.info.kind != "engine") {
      throw std::runtime_error("'" + path + "' is a polmlip file of unknown kind '" +
                               out.info.kind + "'");
    }
  } catch (const std::invalid_argument &) {
    throw std::runtime_error("'" + path + "' has corrupted polmlip metadata");
  }
  out.module.eval();
  return out;
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
