/* ----------------------------------------------------------------------
   pair_style polmlip: runs an exported polmlip model (TorchScript) inside LAMMPS.

   Each rank passes its local atoms and their ghosts (to the model's ghost cutoff,
   num_layers x cutoff) with a full neighbor list; the model returns this rank's energy
   share, forces on local and ghost atoms (ghost forces go back through reverse
   communication, newton on) and the virial. Long-range sums go through the
   polmlip::allreduce operator, into which this pair style installs an MPI sum.
------------------------------------------------------------------------- */

#include "pair_polmlip.h"

#include <torch/csrc/jit/runtime/graph_executor.h>

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "input.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"
#include "utils.h"
#include "variable.h"

#include "../cpp/core/model_loader.h"
#include "../cpp/ops/allreduce.h"
#include "../cpp/ops/neighbor_op.h"

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace LAMMPS_NS;

/* ---------------------------------------------------------------------- */

PairPolmlip::PairPolmlip(LAMMPS *lmp) :
    Pair(lmp), device(torch::kCPU), dtype(torch::kFloat64), cutoff(0.0), ghost_cutoff(0.0),
    energy_conversion(1.0), kspace_accuracy(0.0), field_limit(0.0), nmax_peratom(0), peratom_flag(0), fold_images(false),
    bec_flag(false), charges(nullptr), induced_charges(nullptr), dipoles(nullptr),
    induced_dipoles(nullptr), bec(nullptr)
{
  comm_reverse = 9;    // BEC rows of ghost atoms are added to their owners
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  no_virial_fdotr_compute = 1;
  centroidstressflag = CENTROID_NOTAVAIL;
  // global polarization (e*Angstrom), available as `compute ID all pair polmlip` -> c_ID[1..3]
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
  polmlip::set_allreduce_hook([comm](torch::Tensor &t) {
    int nprocs = 1;
    MPI_Comm_size(comm, &nprocs);
    if (nprocs == 1) return;
    torch::Tensor host = t.to(torch::kCPU).contiguous();
    MPI_Datatype type = host.scalar_type() == torch::kFloat64 ? MPI_DOUBLE : MPI_FLOAT;
    MPI_Allreduce(MPI_IN_PLACE, host.data_ptr(), (int) host.numel(), type, MPI_SUM, comm);
    if (!t.device().is_cpu()) host = host.to(t.device());
    t.copy_(host);
  });
}

PairPolmlip::~PairPolmlip()
{
  polmlip::set_allreduce_hook(nullptr);
  delete[] pvector;
  memory->destroy(charges);
  memory->destroy(induced_charges);
  memory->destroy(dipoles);
  memory->destroy(induced_dipoles);
  memory->destroy(bec);
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
    } else if (strcmp(arg[iarg], "bec") == 0) {
      if (iarg + 2 > narg) error->all(FLERR, "pair_style polmlip bec needs yes or no");
      bec_flag = utils::logical(FLERR, arg[iarg + 1], false, lmp) == 1;
      iarg += 2;
    } else if (strcmp(arg[iarg], "device") == 0) {
      if (iarg + 2 > narg) error->all(FLERR, "pair_style polmlip device needs cpu or cuda");
      dev = arg[iarg + 1];
      iarg += 2;
    } else {
      error->all(FLERR, "Unknown pair_style polmlip keyword: {}", arg[iarg]);
    }
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
    model = loaded.module;
    elements = loaded.info.elements;
    cutoff = loaded.info.cutoff;
    ghost_cutoff = loaded.info.ghost_cutoff;
    dtype = loaded.info.dtype == "float32" ? torch::kFloat32 : torch::kFloat64;
  } catch (std::exception &e) {
    error->all(FLERR, "pair_style polmlip: {}", e.what());
  }
  if (kspace_accuracy > 0.0) model.get_method("set_kspace_accuracy")({kspace_accuracy});
  if (field_limit > 0.0) model.get_method("set_field_limit")({field_limit});
  if (comm->me == 0)
    utils::logmesg(lmp, "pair_style polmlip: model {} with elements {}, cutoff {} A, ghost "
                   "cutoff {} A\n", model_file, utils::join_words(elements, " "), cutoff, ghost_cutoff);
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

/* ---------------------------------------------------------------------- */

void PairPolmlip::init_style()
{
  if (force->newton_pair == 0) error->all(FLERR, "pair_style polmlip requires newton pair on");
  if (strcmp(update->unit_style, "metal") == 0) {
    energy_conversion = 1.0;
  } else if (strcmp(update->unit_style, "real") == 0) {
    energy_conversion = polmlip::kEvToKcalPerMol;
  } else {
    error->all(FLERR, "pair_style polmlip supports units metal or real, not {}",
               update->unit_style);
  }
  if (!(domain->xperiodic && domain->yperiodic && domain->zperiodic))
    error->all(FLERR, "pair_style polmlip needs a fully periodic box (add vacuum for slabs or "
               "molecules)");
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
  // the model's ghost cutoff (num_layers x cutoff) carry the message passing across ranks.
  fold_images = comm->nprocs == 1;
  if (fold_images && atom->tag_enable == 0)
    error->all(FLERR, "pair_style polmlip requires atom IDs (atom_modify id yes)");
  if (fold_images) {
    neighbor->add_request(this, NeighConst::REQ_FULL);
  } else {
    neighbor->add_request(this, NeighConst::REQ_FULL | NeighConst::REQ_GHOST);
    if (comm->cutghostuser < ghost_cutoff + neighbor->skin)
      comm->cutghostuser = ghost_cutoff + neighbor->skin;
  }
}

double PairPolmlip::init_one(int, int) { return cutoff; }

/* ----------------------------------------------------------------------
   per-atom outputs for `fix ID group pair N polmlip NAME 0 ...`:
   charges, induced_charges (vectors, e); dipoles, induced_dipoles (3 columns, e*Angstrom)
------------------------------------------------------------------------- */

void *PairPolmlip::extract(const char *name, int &dim)
{
  dim = 0;
  if (utils::strmatch(name, "_flag$")) return (void *) &peratom_flag;
  return nullptr;
}

void *PairPolmlip::extract_peratom(const char *name, int &ncol)
{
  if (strcmp(name, "charges") == 0) { ncol = 0; return (void *) charges; }
  if (strcmp(name, "induced_charges") == 0) { ncol = 0; return (void *) induced_charges; }
  if (strcmp(name, "dipoles") == 0) { ncol = 3; return (void *) dipoles; }
  if (strcmp(name, "induced_dipoles") == 0) { ncol = 3; return (void *) induced_dipoles; }
  if (strcmp(name, "bec") == 0) {
    if (!bec_flag) error->all(FLERR, "pair_style polmlip: per-atom bec needs `bec yes`");
    ncol = 9;
    return (void *) bec;
  }
  return nullptr;
}

int PairPolmlip::pack_reverse_comm(int n, int first, double *buf)
{
  int m = 0;
  for (int i = first; i < first + n; i++)
    for (int k = 0; k < 9; k++) buf[m++] = bec[i][k];
  return m;
}

void PairPolmlip::unpack_reverse_comm(int n, int *list, double *buf)
{
  int m = 0;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < 9; k++) bec[list[i]][k] += buf[m++];
}

void PairPolmlip::store_peratom(const c10::impl::GenericDict &out, int nlocal, int natoms)
{
  if (atom->nmax > nmax_peratom) {
    nmax_peratom = atom->nmax;
    if (bec_flag) memory->grow(bec, nmax_peratom, 9, "pair:polmlip:bec");
    memory->grow(charges, nmax_peratom, "pair:polmlip:charges");
    memory->grow(induced_charges, nmax_peratom, "pair:polmlip:induced_charges");
    memory->grow(dipoles, nmax_peratom, 3, "pair:polmlip:dipoles");
    memory->grow(induced_dipoles, nmax_peratom, 3, "pair:polmlip:induced_dipoles");
  }
  auto vec = [&](const char *key, double *dst) {
    if (!out.contains(key)) {
      for (int i = 0; i < nlocal; i++) dst[i] = 0.0;
      return;
    }
    auto t = out.at(key).toTensor().to(torch::kCPU, torch::kFloat64).contiguous();
    auto a = t.accessor<double, 1>();
    for (int i = 0; i < nlocal; i++) dst[i] = a[i];
  };
  auto mat = [&](const char *key, double **dst) {
    if (!out.contains(key)) {
      for (int i = 0; i < nlocal; i++) dst[i][0] = dst[i][1] = dst[i][2] = 0.0;
      return;
    }
    auto t = out.at(key).toTensor().to(torch::kCPU, torch::kFloat64).contiguous();
    auto a = t.accessor<double, 2>();
    for (int i = 0; i < nlocal; i++)
      for (int d = 0; d < 3; d++) dst[i][d] = a[i][d];
  };
  vec("charges", charges);
  vec("induced_charges", induced_charges);
  mat("dipoles", dipoles);
  mat("induced_dipoles", induced_dipoles);
  if (bec_flag) {
    // the model returns a row per graph atom (ghosts included): the derivative of P with
    // respect to each ghost belongs to the atom it images, so ghost rows are summed onto
    // their owners by reverse communication (one rank folds images and has no ghosts)
    auto t = out.at("bec").toTensor().to(torch::kCPU, torch::kFloat64).reshape({-1, 9});
    auto a = t.accessor<double, 2>();
    const int rows = std::min<int>((int) t.size(0), natoms);
    for (int i = 0; i < rows; i++)
      for (int k = 0; k < 9; k++) bec[i][k] = a[i][k];
    for (int i = rows; i < atom->nlocal + atom->nghost; i++)
      for (int k = 0; k < 9; k++) bec[i][k] = 0.0;
    if (!fold_images) comm->reverse_comm(this);
  }
}

double PairPolmlip::field_component(int d) const
{
  if (efield_var[d] >= 0) return input->variable->compute_equal(efield_var[d]);
  return efield_value[d];
}

/* ----------------------------------------------------------------------
   the model's graph: positions, species, edges (receiver i, source j) and lattice shifts.
   Ghost mode: local atoms then ghosts, shifts zero. Folded mode (one rank): owned atoms only,
   every ghost neighbor replaced by its owner and the lattice vector between them.
------------------------------------------------------------------------- */

void PairPolmlip::build_graph(torch::Tensor &pos, torch::Tensor &species, torch::Tensor &edges,
                              torch::Tensor &shifts, int &natoms)
{
  const int nlocal = atom->nlocal;
  natoms = fold_images ? nlocal : nlocal + atom->nghost;
  double **x = atom->x;
  int *type = atom->type;
  pos = torch::empty({natoms, 3}, torch::TensorOptions().dtype(torch::kFloat64));
  species = torch::empty({natoms}, torch::TensorOptions().dtype(torch::kInt64));
  auto pa = pos.accessor<double, 2>();
  auto sa = species.accessor<int64_t, 1>();
  for (int i = 0; i < natoms; i++) {
    for (int d = 0; d < 3; d++) pa[i][d] = x[i][d];
    sa[i] = type_to_species[type[i]];
  }
  polmlip::PairList pairs;    // receiver i, source j, lattice shift
  const double cutsq_model = cutoff * cutoff;
  const int inum = fold_images ? list->inum : list->inum + list->gnum;
  const double *h_inv = domain->h_inv;    // upper triangular: xx yy zz yz xz xy
  std::vector<int> owner_of_tag;
  if (fold_images) {
    tagint maxtag = 0;
    for (int i = 0; i < nlocal; i++) maxtag = std::max(maxtag, atom->tag[i]);
    owner_of_tag.assign(maxtag + 1, -1);
    for (int i = 0; i < nlocal; i++) owner_of_tag[atom->tag[i]] = i;
  }
  for (int ii = 0; ii < inum; ii++) {
    const int i = list->ilist[ii];
    const int *jlist = list->firstneigh[i];
    for (int jj = 0; jj < list->numneigh[i]; jj++) {
      int j = jlist[jj] & NEIGHMASK;
      const double dx = x[j][0] - x[i][0], dy = x[j][1] - x[i][1], dz = x[j][2] - x[i][2];
      if (dx * dx + dy * dy + dz * dz >= cutsq_model) continue;
      if (fold_images && j >= nlocal) {
        const tagint tag = atom->tag[j];
        const int owner = tag < (tagint) owner_of_tag.size() ? owner_of_tag[tag] : -1;
        if (owner < 0)
          error->one(FLERR, "pair_style polmlip: ghost atom {} has no owner", atom->tag[j]);
        // lattice vector n with x[j] = x[owner] + n . cell (rows a, b, c)
        const double ex = x[j][0] - x[owner][0], ey = x[j][1] - x[owner][1],
                     ez = x[j][2] - x[owner][2];
        const double l0 = h_inv[0] * ex + h_inv[5] * ey + h_inv[4] * ez;
        const double l1 = h_inv[1] * ey + h_inv[3] * ez;
        const double l2 = h_inv[2] * ez;
        pairs.shift.insert(pairs.shift.end(), {(int64_t) std::lround(l0),
                                               (int64_t) std::lround(l1),
                                               (int64_t) std::lround(l2)});
        j = owner;
      } else {
        pairs.shift.insert(pairs.shift.end(), {0, 0, 0});
      }
      pairs.first.push_back(i);
      pairs.second.push_back(j);
    }
  }
  std::tie(edges, shifts) = polmlip::pairs_to_tensors(pairs);
}

/* ---------------------------------------------------------------------- */

void PairPolmlip::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  const int nlocal = atom->nlocal;
  double **f = atom->f;

  torch::Tensor pos, species, edges, shifts;
  int natoms = 0;
  build_graph(pos, species, edges, shifts, natoms);
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

  std::vector<torch::jit::IValue> inputs = {
      species.to(device), pos.to(device, dtype), edges.to(device), shifts.to(device),
      (int64_t) nlocal, cell.to(device, dtype), true, efield.to(device, dtype), 0.0,
      (bool) (vflag_global != 0), bec_flag};
  if (!fold_images) {
    // ghosts take per-atom values (bond charges, potential) from their owners: the model needs
    // every graph atom's global index 0..N-1, a ghost sharing its owner's (its tag - 1)
    tagint maxtag = 0;
    for (int i = 0; i < nlocal; i++) maxtag = std::max(maxtag, atom->tag[i]);
    tagint maxtag_all = 0;
    MPI_Allreduce(&maxtag, &maxtag_all, 1, MPI_LMP_TAGINT, MPI_MAX, world);
    if (maxtag_all != atom->natoms)
      error->all(FLERR,
                 "pair_style polmlip on several ranks needs atom IDs 1..N without gaps "
                 "(max ID {} for {} atoms); use reset_atoms id",
                 maxtag_all, atom->natoms);
    torch::Tensor index = torch::empty({natoms}, torch::TensorOptions().dtype(torch::kInt64));
    auto ia = index.accessor<int64_t, 1>();
    for (int i = 0; i < natoms; i++) ia[i] = (int64_t) atom->tag[i] - 1;
    inputs.emplace_back(index.to(device));
  }
  torch::jit::IValue result;
  try {
    result = model.forward(inputs);
  } catch (const std::exception &e) {
    error->one(FLERR, "pair_style polmlip: model evaluation failed: {}",
               polmlip::short_error(e.what()));
  }
  auto out = result.toGenericDict();
  store_peratom(out, nlocal, natoms);
  if (out.contains("polarization")) {
    torch::Tensor p = out.at("polarization").toTensor().to(torch::kCPU, torch::kFloat64);
    // the model returns the global P; compute pair sums pvector over ranks, so store a share
    for (int d = 0; d < 3; d++) pvector[d] = p[d].item<double>() / comm->nprocs;
  }
  torch::Tensor forces = out.at("forces").toTensor().to(torch::kCPU, torch::kFloat64);
  auto fa = forces.accessor<double, 2>();
  for (int i = 0; i < natoms; i++)
    for (int d = 0; d < 3; d++) f[i][d] += energy_conversion * fa[i][d];
  // The model's P holds sum q_site r of the coordinates it was given; LAMMPS wraps atoms at
  // re-neighboring, so add this rank's sum q_site (x_unwrapped - x), as fix efield does, to
  // keep P (and the enthalpy -E.P) continuous across the boundary. The force is unchanged.
  double unwrap[3] = {0.0, 0.0, 0.0};
  if (out.contains("site_charges")) {
    torch::Tensor qs = out.at("site_charges").toTensor().to(torch::kCPU, torch::kFloat64);
    auto qa = qs.accessor<double, 1>();
    double xu[3];
    for (int i = 0; i < nlocal; i++) {
      if (qa[i] == 0.0) continue;
      domain->unmap(atom->x[i], atom->image[i], xu);
      for (int d = 0; d < 3; d++) unwrap[d] += qa[i] * (xu[d] - atom->x[i][d]);
    }
    for (int d = 0; d < 3; d++) pvector[d] += unwrap[d];
  }
  if (eflag_global) {
    double e = out.at("energy").toTensor().item<double>();
    for (int d = 0; d < 3; d++) e -= efield[d].item<double>() * unwrap[d];
    eng_vdwl += energy_conversion * e;
  }
  if (vflag_global) {
    torch::Tensor w = out.at("virial").toTensor().to(torch::kCPU, torch::kFloat64);
    auto wa = w.accessor<double, 2>();
    virial[0] += energy_conversion * wa[0][0];
    virial[1] += energy_conversion * wa[1][1];
    virial[2] += energy_conversion * wa[2][2];
    virial[3] += energy_conversion * 0.5 * (wa[0][1] + wa[1][0]);
    virial[4] += energy_conversion * 0.5 * (wa[0][2] + wa[2][0]);
    virial[5] += energy_conversion * 0.5 * (wa[1][2] + wa[2][1]);
  }
}
