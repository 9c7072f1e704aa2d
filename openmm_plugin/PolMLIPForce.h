#ifndef OPENMM_POLMLIPFORCE_H_
#define OPENMM_POLMLIPFORCE_H_
/* -------------------------------------------------------------------------- *
 * PolMLIPForce: a polmlip model (an exported TorchScript file) as an OpenMM Force.      *
 *                                                                            *
 * The force computes energy and forces on a set of particles from the model, for every *
 * platform (it is a CustomCPPForceImpl: computed on the host with libtorch, on the CPU *
 * or a CUDA device). Units: OpenMM's nm and kJ/mol outside; the model works in Å and eV.*
 *                                                                            *
 * Global parameters polmlip_Ex, polmlip_Ey, polmlip_Ez (V/Å) are the applied field;   *
 * change them with Context::setParameter or from a CustomIntegrator.                   *
 *                                                                            *
 * Threads: see setTorchThreads (libtorch's intra-op threads while the model runs).     *
 * -------------------------------------------------------------------------- */

#include "openmm/Force.h"

#include <string>
#include <vector>

namespace PolMLIPPlugin {

class PolMLIPForce : public OpenMM::Force {
public:
    /**
     * @param file         model file written by `polmlip export` (or `--torchforce`)
     * @param elements     chemical symbol of each particle the model acts on
     * @param particles    system indices of those particles (empty: particles 0..n-1)
     * @param totalCharge  total charge of those particles (e)
     */
    PolMLIPForce(const std::string& file, const std::vector<std::string>& elements,
                 const std::vector<int>& particles = std::vector<int>(), double totalCharge = 0.0);
    const std::string& getFile() const { return file; }
    const std::vector<std::string>& getElements() const { return elements; }
    const std::vector<int>& getParticles() const { return particles; }
    double getTotalCharge() const { return totalCharge; }
    void setTotalCharge(double charge) { totalCharge = charge; }
    /** "cpu" (default) or "cuda" / "cuda:N". */
    const std::string& getDevice() const { return device; }
    void setDevice(const std::string& name) { device = name; }
    /** Relative accuracy of the long-range sum; 0 keeps the model's own setting. */
    double getKspaceAccuracy() const { return kspaceAccuracy; }
    void setKspaceAccuracy(double accuracy) { kspaceAccuracy = accuracy; }
    /**
     * libtorch intra-op threads used while the model is evaluated (torch's setting is
     * restored afterwards, so the rest of the process keeps its own). n > 0: exactly n.
     * 0 (default): automatic, i.e. the environment variable POLMLIP_TORCH_THREADS if it is
     * set to a positive integer, else one thread per AtomsPerTorchThread model particles
     * (at least 1, at most torch's current thread count). Throws OpenMMException for n < 0.
     */
    int getTorchThreads() const { return torchThreads; }
    void setTorchThreads(int threads);
    /** Particles per torch thread of the automatic choice (setTorchThreads(0)). */
    static constexpr int AtomsPerTorchThread = 2048;
    /** Default values (V/Å) of the global parameters polmlip_Ex, polmlip_Ey, polmlip_Ez. */
    void getDefaultField(double& ex, double& ey, double& ez) const;
    void setDefaultField(double ex, double ey, double ez);
    void setUsesPeriodicBoundaryConditions(bool periodic) { usesPeriodic = periodic; }
    bool usesPeriodicBoundaryConditions() const override { return usesPeriodic; }

    static const char* FieldParameter(int component);

protected:
    OpenMM::ForceImpl* createImpl() const override;

private:
    std::string file, device;
    std::vector<std::string> elements;
    std::vector<int> particles;
    double totalCharge, kspaceAccuracy;
    double defaultField[3];
    int torchThreads;
    bool usesPeriodic;
};

}  // namespace PolMLIPPlugin

#endif /*OPENMM_POLMLIPFORCE_H_*/
