/* PolMLIPForceImpl: OpenMM units in, model units (Å, eV, V/Å) inside, OpenMM units out. */
#include "PolMLIPForceImpl.h"

#include <ATen/Parallel.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>

#include "../cpp/core/elements.h"
#include "../cpp/core/model_loader.h"
#include "../cpp/ops/neighbor_op.h"
#include "openmm/OpenMMException.h"
#include "openmm/System.h"
#include "openmm/internal/ContextImpl.h"

using namespace PolMLIPPlugin;
using OpenMM::OpenMMException;
using OpenMM::Vec3;

namespace {

using polmlip::units::kNmToAngstrom;

std::string join(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
    return out;
}

/** POLMLIP_TORCH_THREADS: unset or empty -> 0 (automatic); else an integer >= 0. */
int threadsFromEnvironment() {
    const char* text = std::getenv("POLMLIP_TORCH_THREADS");
    if (text == nullptr || *text == '\0') return 0;
    errno = 0;
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    while (end != nullptr && (*end == ' ' || *end == '\t' || *end == '\n')) end++;
    if (errno != 0 || end == text || *end != '\0' || value < 0 || value > INT_MAX)
        throw OpenMMException(std::string("PolMLIPForce: POLMLIP_TORCH_THREADS must be 0 "
                                          "(automatic) or a positive number of threads, not '") +
                              text + "'");
    return (int) value;
}

/**
 * Sets libtorch's intra-op thread count for the lifetime of the object and restores the
 * previous one afterwards: at::set_num_threads is process-wide (OpenMP: the calling
 * thread's team size, MKL's, and the default for new threads), so the rest of the process
 * (Python torch, other forces) keeps its own setting.
 */
class TorchThreadScope {
public:
    TorchThreadScope(int threads, int previous) : previous(previous), changed(threads != previous) {
        if (changed) at::set_num_threads(threads);
    }
    ~TorchThreadScope() {
        if (changed) at::set_num_threads(previous);
    }
    TorchThreadScope(const TorchThreadScope&) = delete;
    TorchThreadScope& operator=(const TorchThreadScope&) = delete;

private:
    int previous;
    bool changed;
};

}  // namespace

PolMLIPForceImpl::PolMLIPForceImpl(const PolMLIPForce& owner) :
        CustomCPPForceImpl(owner), owner(owner), device(torch::kCPU), dtype(torch::kFloat64),
        torchforce(false), cutoff(0.0), min_distance(0.0), requestedThreads(0),
        warnedThreads(false) {
}

int PolMLIPForceImpl::torchThreads(int current) const {
    if (requestedThreads > 0) return requestedThreads;
    // automatic: one thread per AtomsPerTorchThread particles, between 1 and torch's count.
    // An OpenMP team waits at every barrier for all its threads, and each of the model's
    // many small ops is a parallel region; when a core is busy with other work (another
    // job, another simulation), a descheduled thread stalls every one of them: 81 atoms
    // took 3.5 s/step instead of 0.10 s/step (issue 13). OpenMM's own CPU threads wait while
    // this force runs; limiting them does not help. A second thread gains less on an idle
    // machine than it loses next to one busy process up to a few thousand atoms
    // (benchmarks/openmm_threads.py, docs/benchmarks.md), so systems below
    // 2 * AtomsPerTorchThread particles run on one thread.
    const int byAtoms = (int) particles.size() / PolMLIPForce::AtomsPerTorchThread;
    return std::max(1, std::min(current, byAtoms));
}

void PolMLIPForceImpl::initialize(OpenMM::ContextImpl& context) {
    CustomCPPForceImpl::initialize(context);
    // As in the LAMMPS plugin: run graphs as scripted (the profiling executor's specialised
    // graphs mishandle the model's double-backward structure).
    torch::jit::setGraphExecutorOptimize(false);
    const std::string& dev = owner.getDevice();
    if (dev.rfind("cuda", 0) == 0) {
        if (!torch::cuda::is_available())
            throw OpenMMException("PolMLIPForce: device '" + dev + "' requested but no CUDA "
                                  "device is available to libtorch");
        device = torch::Device(dev);
    } else if (dev != "cpu") {
        throw OpenMMException("PolMLIPForce: device must be 'cpu' or 'cuda[:N]', not '" + dev + "'");
    }
    polmlip::LoadedModel loaded;
    try {
        loaded = polmlip::load_model(owner.getFile(), device);
        if (loaded.info.kind == "engine")
            polmlip::require_outputs(loaded.info, {polmlip::keys::kEnergy, polmlip::keys::kForces},
                                     "PolMLIPForce");
    } catch (const std::exception& e) {
        throw OpenMMException(std::string("PolMLIPForce: ") + e.what());
    }
    module = loaded.module;
    dtype = loaded.info.dtype == "float32" ? torch::kFloat32 : torch::kFloat64;
    cutoff = loaded.info.cutoff;
    min_distance = loaded.info.min_distance;
    torchforce = loaded.info.kind == "torchforce";
    requestedThreads = owner.getTorchThreads();
    if (requestedThreads == 0) requestedThreads = threadsFromEnvironment();

    const int nsys = context.getSystem().getNumParticles();
    const auto& elements = owner.getElements();
    particles = owner.getParticles();
    if (particles.empty())
        for (size_t i = 0; i < elements.size(); i++) particles.push_back((int) i);
    std::vector<char> seen(nsys > 0 ? nsys : 0, 0);
    for (int p : particles) {
        if (p < 0 || p >= nsys) {
            std::ostringstream s;
            s << "PolMLIPForce: particle index " << p << " is outside the system (" << nsys
              << " particles)";
            throw OpenMMException(s.str());
        }
        if (seen[p]++)
            throw OpenMMException("PolMLIPForce: particle " + std::to_string(p) +
                                  " is listed more than once");
    }
    if (owner.usesPeriodicBoundaryConditions() &&
        !context.getSystem().usesPeriodicBoundaryConditions())
        throw OpenMMException("PolMLIPForce is periodic but the System has no periodic box");
    checkSystemAgrees(context.getSystem(), elements);

    if (torchforce) {
        const auto& baked = loaded.info.particle_elements;
        if (baked.size() != elements.size() || (!elements.empty() && baked != elements))
            throw OpenMMException("PolMLIPForce: the TorchForce file '" + owner.getFile() +
                                  "' was exported for the particles [" + join(baked) +
                                  "], not [" + join(elements) + "]");
        if (loaded.info.periodic != owner.usesPeriodicBoundaryConditions())
            throw OpenMMException(std::string("PolMLIPForce: the TorchForce file was exported ") +
                                  (loaded.info.periodic ? "for a periodic" : "without a periodic") +
                                  " box, which the force does not match");
        return;
    }
    std::vector<int64_t> idx;
    for (const auto& el : elements) {
        int64_t s = -1;
        for (size_t k = 0; k < loaded.info.elements.size(); k++)
            if (loaded.info.elements[k] == el) s = (int64_t) k;
        if (s < 0)
            throw OpenMMException("PolMLIPForce: element " + el + " is not in the model '" +
                                  owner.getFile() + "', which knows " + join(loaded.info.elements));
        idx.push_back(s);
    }
    species = torch::tensor(idx, torch::TensorOptions().dtype(torch::kInt64)).to(device);
    if (owner.getKspaceAccuracy() > 0.0) {
        try {
            module.get_method("set_kspace_accuracy")({owner.getKspaceAccuracy()});
        } catch (const std::exception& e) {
            throw OpenMMException("PolMLIPForce: " + polmlip::short_error(e.what()));
        }
    }
}

// What OpenMM knows about the particles must agree with what the model is told: every
// particle of the System unless the force declares a subset (ML/MM), and masses that fit the
// elements (a mass closer to another element's than to its own, by more than half its own,
// means the elements are not in the particles' order).
void PolMLIPForceImpl::checkSystemAgrees(const OpenMM::System& system,
                                         const std::vector<std::string>& elements) const {
    const int nsys = system.getNumParticles();
    if (!owner.getActsOnSubset() && (int) particles.size() != nsys) {
        std::ostringstream s;
        s << "PolMLIPForce: the model is told about " << particles.size() << " particles but the "
          << "System has " << nsys << ": build the force from a topology with every particle "
          << "(a PDB file written as one residue can read as fewer atoms; check "
          << "topology.getNumAtoms()), or declare an ML/MM subset explicitly (atoms=[...] in "
          << "Python, actsOnSubset=\"1\" in XML)";
        throw OpenMMException(s.str());
    }
    if (!owner.getCheckMasses()) return;
    for (size_t i = 0; i < particles.size(); i++) {
        const double mass = system.getParticleMass(particles[i]);
        const std::string why = polmlip::mass_mismatch(elements[i], mass, elements);
        if (why.empty()) continue;
        std::ostringstream s;
        s << "PolMLIPForce: particle " << particles[i] << " has mass " << mass << " amu in the "
          << "System, but the model is told it is " << elements[i] << " (" << why << "): are "
          << "the elements in the order of the System's particles? If the masses are "
          << "repartitioned on purpose, switch this check off (check_masses=False in Python, "
          << "checkMasses=\"0\" in XML)";
        throw OpenMMException(s.str());
    }
}

// At the first evaluation: a Context still at OpenMM's default box (2 nm cube) while the
// force was built from a topology with another box means the System's box was never set.
void PolMLIPForceImpl::checkBoxWasSet(const Vec3 box[3]) const {
    if (!owner.usesPeriodicBoundaryConditions() || !owner.hasTopologyBox()) return;
    Vec3 top[3];
    owner.getTopologyBox(top[0], top[1], top[2]);
    bool is_default = true, is_topology = true;
    for (int a = 0; a < 3; a++)
        for (int d = 0; d < 3; d++) {
            is_default = is_default && box[a][d] == (a == d ? 2.0 : 0.0);
            is_topology = is_topology && std::abs(box[a][d] - top[a][d]) <= 1e-9;
        }
    if (is_default && !is_topology) {
        std::ostringstream s;
        s << "PolMLIPForce: the periodic box is OpenMM's default (2 nm cube), not the "
          << "topology's (" << top[0][0] << ", " << top[1][1] << ", " << top[2][2] << " nm): "
          << "set the System's box (ForceField.createSystem does it from the topology; by hand: "
          << "system.setDefaultPeriodicBoxVectors(*topology.getPeriodicBoxVectors())), or "
          << "context.setPeriodicBoxVectors(...) before the first step";
        throw OpenMMException(s.str());
    }
}

std::map<std::string, double> PolMLIPForceImpl::getDefaultParameters() {
    double f[3];
    owner.getDefaultField(f[0], f[1], f[2]);
    std::map<std::string, double> out;
    for (int d = 0; d < 3; d++) out[PolMLIPForce::FieldParameter(d)] = f[d];
    return out;
}

void PolMLIPForceImpl::modelFrame(OpenMM::ContextImpl& context, const std::vector<Vec3>& positions,
                                  torch::Tensor& pos, torch::Tensor& cell, double field[3]) {
    const int64_t n = (int64_t) particles.size();
    // model units: Å
    pos = torch::empty({n, 3}, torch::TensorOptions().dtype(torch::kFloat64));
    auto pa = pos.accessor<double, 2>();
    for (int64_t i = 0; i < n; i++)
        for (int d = 0; d < 3; d++) pa[i][d] = positions[particles[i]][d] * kNmToAngstrom;
    cell = torch::zeros({3, 3}, torch::TensorOptions().dtype(torch::kFloat64));
    if (owner.usesPeriodicBoundaryConditions()) {
        Vec3 box[3];
        context.getPeriodicBoxVectors(box[0], box[1], box[2]);
        if (!boxChecked) {
            checkBoxWasSet(box);
            boxChecked = true;
        }
        auto ca = cell.accessor<double, 2>();
        for (int a = 0; a < 3; a++)
            for (int d = 0; d < 3; d++) ca[a][d] = box[a][d] * kNmToAngstrom;
    }
    for (int d = 0; d < 3; d++) field[d] = context.getParameter(PolMLIPForce::FieldParameter(d));
}

template <typename Work>
auto PolMLIPForceImpl::withTorchThreads(Work work) -> decltype(work()) {
    try {
        const int current = at::get_num_threads();
        const int threads = torchThreads(current);
        TorchThreadScope scope(threads, current);
        if (threads != current && !warnedThreads && at::get_num_threads() != threads) {
            // e.g. a libtorch with the native thread pool, which cannot be resized once used
            warnedThreads = true;
            std::cerr << "PolMLIPForce warning: libtorch runs with " << at::get_num_threads()
                      << " intra-op threads, not the " << threads << " requested" << std::endl;
        }
        return work();
    } catch (const OpenMMException&) {
        throw;
    } catch (const std::exception& e) {
        throw OpenMMException("PolMLIPForce: model evaluation failed: " +
                              polmlip::short_error(e.what()));
    }
}

double PolMLIPForceImpl::computeForce(OpenMM::ContextImpl& context,
                                      const std::vector<Vec3>& positions,
                                      std::vector<Vec3>& forces) {
    const int64_t n = (int64_t) particles.size();
    const bool periodic = owner.usesPeriodicBoundaryConditions();
    torch::Tensor pos, cell, f;
    double field[3];
    modelFrame(context, positions, pos, cell, field);
    const double energy = withTorchThreads([&]() {  // eV
        if (torchforce) return computeTorchForce(pos, cell, periodic, field, f);
        c10::List<std::string> requested({std::string(polmlip::keys::kForces)});
        auto out = runEngine(pos, cell, periodic, field, requested);
        f = out.at(polmlip::keys::kForces).toTensor().to(torch::kCPU, torch::kFloat64).contiguous();
        return out.at(polmlip::keys::kEnergy).toTensor().item<double>();
    });
    // eV/Å -> kJ/mol/nm
    const double fscale = polmlip::units::kEvToKjPerMol * kNmToAngstrom;
    auto fa = f.accessor<double, 2>();
    // CustomCPPForceImpl reuses `forces` between calls and adds it to the total: overwrite
    std::fill(forces.begin(), forces.end(), Vec3());
    for (int64_t i = 0; i < n; i++)
        forces[particles[i]] = Vec3(fa[i][0], fa[i][1], fa[i][2]) * fscale;
    return energy * polmlip::units::kEvToKjPerMol;
}

std::vector<double> PolMLIPForceImpl::computeOutput(OpenMM::ContextImpl& context,
                                                    const std::string& name) {
    namespace keys = polmlip::keys;
    if (torchforce)
        throw OpenMMException("PolMLIPForce: '" + name + "' needs the main `polmlip export` "
                              "file; a TorchForce-convention file returns the energy only");
    std::vector<Vec3> positions;
    context.getPositions(positions);
    torch::Tensor pos, cell;
    double field[3];
    modelFrame(context, positions, pos, cell, field);
    c10::List<std::string> requested;
    for (const char* wanted : {keys::kBec, keys::kPolarizability, keys::kAtomicPolarizability})
        if (name == wanted) requested.push_back(name);
    auto out = withTorchThreads([&]() {
        return runEngine(pos, cell, owner.usesPeriodicBoundaryConditions(), field, requested);
    });
    if (!out.contains(name) || name == keys::kForces) {
        std::vector<std::string> names;
        for (const auto& item : out)
            if (item.key().toStringRef() != keys::kForces) names.push_back(item.key().toStringRef());
        names.push_back(keys::kBec);
        names.push_back(keys::kPolarizability);
        names.push_back(keys::kAtomicPolarizability);
        throw OpenMMException("PolMLIPForce: the model has no output '" + name +
                              "' here; it gives " + join(names) +
                              " (forces: through the State)");
    }
    torch::Tensor value =
        out.at(name).toTensor().to(torch::kCPU, torch::kFloat64).contiguous().reshape({-1});
    return std::vector<double>(value.data_ptr<double>(), value.data_ptr<double>() + value.numel());
}

c10::Dict<c10::IValue, c10::IValue> PolMLIPForceImpl::runEngine(
        const torch::Tensor& pos, const torch::Tensor& cell, bool periodic, const double field[3],
        const c10::List<std::string>& requested) {
    std::array<double, 9> box;
    std::memcpy(box.data(), cell.data_ptr<double>(), 9 * sizeof(double));
    polmlip::PairList pairs;
    try {
        pairs = polmlip::neighbor_pairs(pos.data_ptr<double>(), pos.size(0), box, periodic, cutoff);
    } catch (const std::invalid_argument& e) {
        throw OpenMMException(std::string("PolMLIPForce: ") + e.what());
    }
    if (pairs.min_distance < min_distance) {
        std::ostringstream s;
        s << "PolMLIPForce: particles " << particles[pairs.closest_i] << " and "
          << particles[pairs.closest_j] << " overlap (distance " << pairs.min_distance
          << " A, below the model's minimum distance " << min_distance << " A)";
        throw OpenMMException(s.str());
    }
    auto [edges, shifts] = polmlip::pairs_to_tensors(pairs);
    torch::Tensor e = torch::tensor({field[0], field[1], field[2]},
                                    torch::TensorOptions().dtype(torch::kFloat64));
    auto inputs = polmlip::frame_inputs(species, pos, edges, shifts, cell, periodic, e,
                                        owner.getTotalCharge(), device, dtype);
    return module.forward({inputs, requested}).toGenericDict();
}

double PolMLIPForceImpl::computeTorchForce(const torch::Tensor& pos, const torch::Tensor& cell,
                                           bool periodic, const double field[3],
                                           torch::Tensor& forces) {
    // exactly what openmm-torch does with such a file: nm in, kJ/mol out, forces by backward
    auto opts = torch::TensorOptions().dtype(torch::kFloat64).device(device);
    torch::Tensor x = (pos / kNmToAngstrom).to(opts).requires_grad_(true);
    std::vector<torch::jit::IValue> inputs = {x};
    if (periodic) inputs.push_back((cell / kNmToAngstrom).to(opts));
    for (int d = 0; d < 3; d++) inputs.push_back(torch::tensor(field[d], opts));
    torch::Tensor energy = module.forward(inputs).toTensor();
    energy.backward();
    // -dE/dx in kJ/mol/nm -> eV/Å, the unit computeForce expects from both paths
    forces = (-x.grad()).to(torch::kCPU, torch::kFloat64).contiguous() /
             (polmlip::units::kEvToKjPerMol * kNmToAngstrom);
    return energy.item<double>() / polmlip::units::kEvToKjPerMol;
}
