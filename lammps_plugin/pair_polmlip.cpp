/* ----------------------------------------------------------------------
   pair_style polmlip: runs an exported polmlip model (TorchScript) inside LAMMPS.

   Each rank passes its local atoms and their ghosts (to the model's ghost cutoff,
   num_layers x cutoff) with a full neighbor list; the model returns this rank's energy
   share, forces on local and ghost atoms (ghost forces go back through reverse
   communication, newton on) and the virial. Long-range sums go through the
   polmlip::allreduce operator, into which this pair style installs an MPI sum.
   Settings, model loading and compute are here; the graph and other model inputs are in
   pair_polmlip_graph.cpp, per-atom outputs in pair_polmlip_peratom.cpp.
------------------------------------------------------------------------- */

#include "pair_polmlip.h"

#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/cuda.h>

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "input.h"
#include "memory.h"
#include "neighbor.h"
#include "update.h"
#include "utils.h"
#include "variable.h"

#include "../cpp/core/elements.h"
#include "../cpp/core/model_loader.h"
#include "../cpp/ops/comm_hooks.h"
#include "../cpp/ops/mpi_mesh_comm.h"

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace LAMMPS_NS;

/* ---------------------------------------------------------------------- */

PairPolmlip::PairPolmlip(LAMMPS *lmp) :
    Pair(lmp), device(torch::kCPU), dtype(torch::kFloat64), cutoff(0.0),
    min_distance(0.0), energy_conversion(1.0), kspace_accuracy(0.0), field_limit(0.0),
    total_charge(0.0), check_masses(true), mpi_cuda_aware(false), fold_images(false), ewald_split(0),
    real_space_cutoff(0.0),
    bec_flag(false), polarizability_flag(false), nmax_peratom(0), peratom_flag(0),
    halo_rows(nullptr), halo_single(false), halo_width(0), halo_slots(0), feature_width(0),
    halo_reported(false), halo_max_width(13), halo_bytes(0.0),
    halo_reverse(false),
    ghosts_reported(false), long_range_reported(false), halo_seconds(0.0),
    compute_seconds(0.0), model_seconds(0.0),
    halo_count(0), compute_count(0)
{
  comm_reverse = 0;    // set by setup_peratom: columns of the outputs with ghost rows
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  no_virial_fdotr_compute = 1;
  centroidstressflag = CENTROID_NOTAVAIL;
  // global polarization (e*Angstrom), available as `compute ID all pair polmlip` -> c_ID[1..3];
  // with `polarizability yes` also alpha = dP/dE (e*Angstrom^2/V, row-major) -> c_ID[4..12]
  nextra = 3;
  pvector = new double[nextra];
  for (int k = 0; k < nextra; k++) pvector[k] = 0.0;
  for (int d = 0; d < 3; d++) {
    efield_value[d] = 0.0;
    efield_var[d] = -1;
  }
  // The profiling executor re-specializes the graph after the first calls; its optimized
  // graphs mishandle the double-backward structure of the model. Run the graph as scripted.
  torch::jit::setGraphExecutorOptimize(false);
  MPI_Comm comm = world;
  mpi_cuda_aware = polmlip::mpi_cuda_aware();
  // This instance's communication (cpp/ops/comm_hooks.h), active around its model calls only:
  // the global sums (energies, polarization) in their dtype: in place on the host; on a GPU in
  // place with CUDA-aware MPI (after the device's work is done), else staged through the host
  comm_hooks.allreduce = [comm, aware = mpi_cuda_aware](torch::Tensor &t) {
    int nprocs = 1;
    MPI_Comm_size(comm, &nprocs);
    if (nprocs == 1) return;
    const bool direct = t.device().is_cpu() || (aware && t.device().is_cuda());
    torch::Tensor buf = direct ? t : t.to(torch::kCPU);
    if (direct && t.device().is_cuda()) torch::cuda::synchronize(t.device().index());
    MPI_Datatype type = buf.scalar_type() == torch::kFloat64 ? MPI_DOUBLE : MPI_FLOAT;
    MPI_Allreduce(MPI_IN_PLACE, buf.data_ptr(), (int) buf.numel(), type, MPI_SUM, comm);
    if (!direct) t.copy_(buf);
  };
  comm_hooks.mesh = polmlip::mpi_mesh_comm(comm);
}

PairPolmlip::~PairPolmlip()
{
  delete[] pvector;
  for (auto &p : peratom) {
    memory->destroy(p.vector);
    memory->destroy(p.array);
  }
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
}

/* ---------------------------------------------------------------------- */

void PairPolmlip::allocate()
{
  allocated = 1;
  int n = atom->ntypes;
  memory->create(setflag, n + 1, n + 1, "pair:setflag");
  memory->create(cutsq, n + 1, n + 1, "pair:cutsq");
  for (int i = 1; i <= n; i++)
    for (int j = i; j <= n; j++) setflag[i][j] = 0;
}

/* ----------------------------------------------------------------------
   pair_style polmlip MODEL [efield Ex Ey Ez] [device cpu|cuda]
------------------------------------------------------------------------- */

void PairPolmlip::settings(int narg, char **arg)
{
  if (narg < 1) error->all(FLERR, "Illegal pair_style polmlip command: expected a model file");
  model_file = arg[0];
  std::string dev = "cpu";
  int iarg = 1;
  while (iarg < narg) {
    if (strcmp(arg[iarg], "efield") == 0) {
      if (iarg + 4 > narg) error->all(FLERR, "pair_style polmlip efield needs Ex Ey Ez");
      for (int d = 0; d < 3; d++) efield_text[d] = arg[iarg + 1 + d];
      iarg += 4;
    } else if (strcmp(arg[iarg], "kspace_accuracy") == 0) {
      if (iarg + 2 > narg) error->all(FLERR, "pair_style polmlip kspace_accuracy needs a value");
      kspace_accuracy = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (kspace_accuracy <= 0.0 || kspace_accuracy >= 1.0)
        error->all(FLERR, "pair_style polmlip kspace_accuracy must be in (0, 1)");
      iarg += 2;
    } else if (strcmp(arg[iarg], "field_limit") == 0) {
      if (iarg + 2 > narg) error->all(FLERR, "pair_style polmlip field_limit needs a value");
      field_limit = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (!(field_limit > 0.0) || !std::isfinite(field_limit))
        error->all(FLERR, "pair_style polmlip field_limit must be a positive field in V/A");
      iarg += 2;
    } else if (strcmp(arg[iarg], "total_charge") == 0) {
      if (iarg + 2 > narg) error->all(FLERR, "pair_style polmlip total_charge needs a value");
      total_charge = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (!std::isfinite(total_charge))
        error->all(FLERR, "pair_style polmlip total_charge must be a finite charge in e");
      iarg += 2;
    } else if (strcmp(arg[iarg], "check_masses") == 0) {
      if (iarg + 2 > narg) error->all(FLERR, "pair_style polmlip check_masses needs yes or no");
      check_masses = utils::logical(FLERR, arg[iarg + 1], false, lmp) == 1;
      iarg += 2;
    } else if (strcmp(arg[iarg], "ewald_split") == 0) {
      if (iarg + 2 > narg) error->all(FLERR, "pair_style polmlip ewald_split needs yes or no");
      ewald_split = utils::logical(FLERR, arg[iarg + 1], false, lmp);
      iarg += 2;
    } else if (strcmp(arg[iarg], "bec") == 0) {
      if (iarg + 2 > narg) error->all(FLERR, "pair_style polmlip bec needs yes or no");
      bec_flag = utils::logical(FLERR, arg[iarg + 1], false, lmp) == 1;
      iarg += 2;
    } else if (strcmp(arg[iarg], "polarizability") == 0) {
      if (iarg + 2 > narg) error->all(FLERR, "pair_style polmlip polarizability needs yes or no");
      polarizability_flag = utils::logical(FLERR, arg[iarg + 1], false, lmp) == 1;
      iarg += 2;
    } else if (strcmp(arg[iarg], "device") == 0) {
      if (iarg + 2 > narg) error->all(FLERR, "pair_style polmlip device needs cpu or cuda");
      dev = arg[iarg + 1];
      iarg += 2;
    } else {
      error->all(FLERR, "Unknown pair_style polmlip keyword: {}", arg[iarg]);
    }
  }
  const int extra = polarizability_flag ? 12 : 3;
  if (extra != nextra) {
    delete[] pvector;
    nextra = extra;
    pvector = new double[nextra];
    for (int k = 0; k < nextra; k++) pvector[k] = 0.0;
  }
  for (int d = 0; d < 3; d++) {
    efield_var[d] = -1;
    efield_value[d] = 0.0;
    if (efield_text[d].empty()) continue;
    if (utils::strmatch(efield_text[d], "^v_")) continue;    // resolved in init_style
    efield_value[d] = utils::numeric(FLERR, efield_text[d], false, lmp);
  }
  if (dev == "cuda") {
    if (!torch::cuda::is_available())
      error->all(FLERR, "pair_style polmlip device cuda: no CUDA device is available");
    int local_rank = 0, ndev = (int) torch::cuda::device_count();
    MPI_Comm shm;
    MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, comm->me, MPI_INFO_NULL, &shm);
    MPI_Comm_rank(shm, &local_rank);
    MPI_Comm_free(&shm);
    device = torch::Device(torch::kCUDA, local_rank % ndev);
  } else if (dev == "cpu") {
    device = torch::Device(torch::kCPU);
  } else {
    error->all(FLERR, "pair_style polmlip device must be cpu or cuda, not {}", dev);
  }
  try {
    auto loaded = polmlip::load_model(model_file, device);
    if (loaded.info.kind != "engine")
      throw std::runtime_error("'" + model_file + "' is a TorchForce-convention file (for "
                               "OpenMM); pair_style polmlip needs the main `polmlip export` file");
    std::vector<std::string> needed = {polmlip::keys::kEnergy, polmlip::keys::kForces,
                                       polmlip::keys::kVirial};
    if (bec_flag) needed.emplace_back(polmlip::keys::kBec);
    if (polarizability_flag) needed.emplace_back(polmlip::keys::kPolarizability);
    polmlip::require_outputs(loaded.info, needed, "pair_style polmlip");
    if (!loaded.info.halo_exchange)
      throw std::runtime_error("'" + model_file + "' was exported before the halo exchange "
                               "(its ghost atoms would need num_layers x cutoff); re-export it "
                               "with this polmlip: polmlip export CHECKPOINT -o model.pt");
    feature_width = loaded.info.feature_width;
    setup_peratom(loaded.info.outputs);
    model = loaded.module;
    elements = loaded.info.elements;
    cutoff = loaded.info.cutoff;
    min_distance = loaded.info.min_distance;
    real_space_cutoff = ewald_split == 1 ? loaded.info.real_space_cutoff : 0.0;
    if (ewald_split == 1 && real_space_cutoff <= 0.0)
      throw std::runtime_error("ewald_split yes needs a model with a real-space cutoff "
                               "(real_space_cutoff > 0 in its long_range metadata); re-export "
                               "it with this polmlip, or use ewald_split no");
    dtype = loaded.info.dtype == "float32" ? torch::kFloat32 : torch::kFloat64;
  } catch (std::exception &e) {
    error->all(FLERR, "pair_style polmlip: {}", e.what());
  }
  if (kspace_accuracy > 0.0) model.get_method("set_kspace_accuracy")({kspace_accuracy});
  // Ewald split: the k-space part on a coarse mesh distributed over the ranks, the
  // real-space pairs over the ghosts (on several ranks) or the folded images (one rank)
  if (real_space_cutoff > 0.0) model.get_method("set_ewald_split")({true});
  if (field_limit > 0.0) model.get_method("set_field_limit")({field_limit});
  if (comm->me == 0) {
    std::vector<std::string> names;
    for (const auto &p : peratom) names.push_back(p.name);
    utils::logmesg(lmp, "pair_style polmlip: model {} with elements {}, cutoff {} A, total "
                   "charge {} e\n  per-atom outputs for fix pair: {}\n",
                   model_file, utils::join_words(elements, " "), cutoff, total_charge,
                   utils::join_words(names, " "));
    if (real_space_cutoff > 0.0)
      utils::logmesg(lmp, "  long range: Ewald split, real-space pairs to {} A, k-space mesh "
                     "distributed over the ranks\n", real_space_cutoff);
    else
      utils::logmesg(lmp, "  long range: all in k-space, mesh distributed over the ranks\n");
    const bool gpu = !device.is_cpu();
    utils::logmesg(lmp, "  communication on {}: halo rows in the network's dtype through "
                   "LAMMPS' host buffers{}; global sums {}; PME mesh all-to-all in float64 "
                   "through host memory\n", device.str(), gpu ? " (staged)" : "",
                   !gpu ? "in host memory" : mpi_cuda_aware ? "on the device (CUDA-aware MPI)"
                   : "staged through host memory (MPI is not CUDA-aware)");
  }
}

/* ----------------------------------------------------------------------
   pair_coeff * * El1 El2 ... : one element per LAMMPS type
------------------------------------------------------------------------- */

void PairPolmlip::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  int ntypes = atom->ntypes;
  if (narg != ntypes + 2)
    error->all(FLERR, "pair_coeff for polmlip needs '* *' and one element per atom type ({})",
               ntypes);
  if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff for polmlip must start with '* *'");
  type_to_species.assign(ntypes + 1, -1);
  for (int t = 1; t <= ntypes; t++) {
    std::string el = arg[t + 1];
    for (size_t s = 0; s < elements.size(); s++)
      if (elements[s] == el) type_to_species[t] = (int) s;
    if (type_to_species[t] < 0)
      error->all(FLERR, "pair_coeff polmlip: element {} (type {}) is not in the model, which "
                 "knows {}", el, t, utils::join_words(elements, " "));
  }
  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++)
      setflag[i][j] = (type_to_species[i] >= 0 && type_to_species[j] >= 0) ? 1 : 0;
}

/* ----------------------------------------------------------------------
   the masses LAMMPS integrates with must fit the elements pair_coeff gives the model: a type
   whose mass fits another mapped element better (by more than half its own) means the
   elements were listed in another order than the types (cpp/core/elements.h)
------------------------------------------------------------------------- */

void PairPolmlip::check_type_masses()
{
  if (!check_masses || atom->mass == nullptr) return;  // per-atom masses: nothing per type
  std::vector<std::string> mapped;
  for (int t = 1; t <= atom->ntypes; t++) mapped.push_back(elements[type_to_species[t]]);
  for (int t = 1; t <= atom->ntypes; t++) {
    if (!atom->mass_setflag[t]) continue;
    const double mass = atom->mass[t];  // g/mol (= amu) in metal and real units
    const std::string why = polmlip::mass_mismatch(mapped[t - 1], mass, mapped);
    if (!why.empty())
      error->all(FLERR, "pair_style polmlip: atom type {} has mass {:.6g} but pair_coeff maps it to "
                 "{} ({}): are the elements in pair_coeff in the order of the types? For "
                 "deliberately repartitioned masses use pair_style polmlip ... check_masses no",
                 t, mass, mapped[t - 1], why);
  }
}

/* ---------------------------------------------------------------------- */

void PairPolmlip::init_style()
{
  if (force->newton_pair == 0) error->all(FLERR, "pair_style polmlip requires newton pair on");
  if (strcmp(update->unit_style, "metal") == 0) {
    energy_conversion = 1.0;
  } else if (strcmp(update->unit_style, "real") == 0) {
    energy_conversion = polmlip::units::kEvToKcalPerMol;
  } else {
    error->all(FLERR, "pair_style polmlip supports units metal or real, not {}",
               update->unit_style);
  }
  if (!(domain->xperiodic && domain->yperiodic && domain->zperiodic))
    error->all(FLERR, "pair_style polmlip needs a fully periodic box (add vacuum for slabs or "
               "molecules)");
  check_type_masses();
  for (int d = 0; d < 3; d++) {
    efield_var[d] = -1;
    if (utils::strmatch(efield_text[d], "^v_")) {
      efield_var[d] = input->variable->find(efield_text[d].c_str() + 2);
      if (efield_var[d] < 0)
        error->all(FLERR, "pair_style polmlip: variable {} does not exist", efield_text[d]);
      if (!input->variable->equalstyle(efield_var[d]))
        error->all(FLERR, "pair_style polmlip: variable {} is not equal-style", efield_text[d]);
    }
  }
  // One rank: the model sees only the owned atoms, with periodic images as lattice shifts (the
  // same graph as ASE and OpenMM), so no ghost atoms are evaluated. Several ranks: ghosts to
  // LAMMPS' usual cutoff + skin, and after every layer the halo exchange copies the owners'
  // features into them (install_halo_exchange), so each rank evaluates its own atoms only.
  fold_images = comm->nprocs == 1;
  if (fold_images && atom->tag_enable == 0)
    error->all(FLERR, "pair_style polmlip requires atom IDs (atom_modify id yes)");
  neighbor->add_request(this, NeighConst::REQ_FULL);
  // the split's real-space pairs reach ghosts beyond the network's cutoff: widen the ghost
  // shell (as comm_modify cutoff would; the neighbor list stays at cutoff + skin)
  if (!fold_images && real_space_cutoff > cutoff)
    comm->cutghostuser = MAX(comm->cutghostuser, real_space_cutoff + neighbor->skin);
  ghosts_reported = false;
  // a new run chooses the long-range settings again at its first force call (as pppm does
  // at init), then keeps them (files exported before fixed tuning re-choose every call)
  if (model.find_method("retune_long_range")) model.get_method("retune_long_range")({});
  long_range_reported = false;
  install_halo_exchange();
}

double PairPolmlip::init_one(int, int) { return cutoff; }

double PairPolmlip::field_component(int d) const
{
  if (efield_var[d] >= 0) return input->variable->compute_equal(efield_var[d]);
  return efield_value[d];
}

/* ---------------------------------------------------------------------- */

void PairPolmlip::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  // the model's halo exchanges, sums and mesh transfers go through this instance's hooks
  polmlip::ActiveCommHooks active_comm(&comm_hooks);
  const int nlocal = atom->nlocal;
  double **f = atom->f;

  const double started = MPI_Wtime();
  torch::Tensor pos, species, edges, shifts;
  int natoms = 0;
  build_graph(pos, species, edges, shifts, natoms);
  if (!ghosts_reported) report_ghosts();
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);

  torch::Tensor cell = torch::zeros({3, 3}, opts);
  auto ca = cell.accessor<double, 2>();
  ca[0][0] = domain->xprd;
  ca[1][0] = domain->xy;
  ca[1][1] = domain->yprd;
  ca[2][0] = domain->xz;
  ca[2][1] = domain->yz;
  ca[2][2] = domain->zprd;
  torch::Tensor efield = torch::empty({3}, opts);
  for (int d = 0; d < 3; d++) efield[d] = field_component(d);
  // the field is global: refuse a bad one on every rank at once (the model's own check),
  // before one rank's evaluation fails alone and its message races the abort
  if (model.find_method("check_field")) {
    try {
      model.get_method("check_field")({efield});
    } catch (const std::exception &e) {
      error->all(FLERR, "pair_style polmlip: {}", polmlip::short_error(e.what()));
    }
  }

  namespace keys = polmlip::keys;
  auto inputs = polmlip::frame_inputs(species, pos, edges, shifts, cell, true, efield,
                                     total_charge, device, dtype);
  inputs.insert(keys::kNumLocal, torch::tensor((int64_t) nlocal).to(device));
  c10::List<std::string> requested({std::string(keys::kForces)});
  if (vflag_global) requested.push_back(keys::kVirial);
  if (bec_flag) requested.push_back(keys::kBec);
  if (polarizability_flag) {
    requested.push_back(keys::kPolarizability);
    requested.push_back(keys::kAtomicPolarizability);
  }
  torch::jit::IValue result;
  const double model_started = MPI_Wtime();
  try {
    result = model.forward({inputs, requested});
  } catch (const std::exception &e) {
    error->one(FLERR, "pair_style polmlip: model evaluation failed: {}",
               polmlip::short_error(e.what()));
  }
  model_seconds += MPI_Wtime() - model_started;
  if (!long_range_reported) {
    if (comm->me == 0 && model.find_method("long_range_settings"))
      utils::logmesg(lmp, "pair_style polmlip: long-range settings for this run: {}\n",
                     model.get_method("long_range_settings")({}).toStringRef());
    long_range_reported = true;
  }
  auto out = result.toGenericDict();
  store_peratom(out, nlocal, natoms);
  if (out.contains(keys::kPolarization)) {
    torch::Tensor p = out.at(keys::kPolarization).toTensor().to(torch::kCPU, torch::kFloat64);
    // the model returns the global P; compute pair sums pvector over ranks, so store a share
    for (int d = 0; d < 3; d++) pvector[d] = p[d].item<double>() / comm->nprocs;
  }
  if (polarizability_flag) {
    // the global alpha, stored as a share like P (compute pair sums over ranks)
    torch::Tensor a = out.at(keys::kPolarizability).toTensor().to(torch::kCPU, torch::kFloat64);
    auto aa = a.accessor<double, 2>();
    for (int b = 0; b < 3; b++)
      for (int g = 0; g < 3; g++) pvector[3 + 3 * b + g] = aa[b][g] / comm->nprocs;
  }
  torch::Tensor forces = out.at(keys::kForces).toTensor().to(torch::kCPU, torch::kFloat64);
  auto fa = forces.accessor<double, 2>();
  for (int i = 0; i < natoms; i++)
    for (int d = 0; d < 3; d++) f[i][d] += energy_conversion * fa[i][d];
  double unwrap[3];
  unwrapped_site_dipole(out, nlocal, unwrap);
  for (int d = 0; d < 3; d++) pvector[d] += unwrap[d];
  if (eflag_global) {
    double e = out.at(keys::kEnergy).toTensor().item<double>();
    for (int d = 0; d < 3; d++) e -= efield[d].item<double>() * unwrap[d];
    eng_vdwl += energy_conversion * e;
  }
  if (vflag_global) {
    torch::Tensor w = out.at(keys::kVirial).toTensor().to(torch::kCPU, torch::kFloat64);
    auto wa = w.accessor<double, 2>();
    virial[0] += energy_conversion * wa[0][0];
    virial[1] += energy_conversion * wa[1][1];
    virial[2] += energy_conversion * wa[2][2];
    virial[3] += energy_conversion * 0.5 * (wa[0][1] + wa[1][0]);
    virial[4] += energy_conversion * 0.5 * (wa[0][2] + wa[2][0]);
    virial[5] += energy_conversion * 0.5 * (wa[1][2] + wa[2][1]);
  }
  compute_seconds += MPI_Wtime() - started;
  compute_count++;
}
