/* ----------------------------------------------------------------------
   pair_style polmlip: the model's inputs from LAMMPS' atoms: graph, unwrapped site dipole
------------------------------------------------------------------------- */

#include "pair_polmlip.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "memory.h"
#include "neigh_list.h"
#include "utils.h"

#include "../cpp/ops/neighbor_op.h"
#include "polmlip_contract.h"

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace LAMMPS_NS;

/* ----------------------------------------------------------------------
   the model's graph: positions, species, edges (receiver i, source j) and lattice shifts.
   Ghost mode (several ranks): local atoms then ghosts (to cutoff + skin), edges from local
   receivers, shifts zero; the ghosts' features come from their owners through the halo
   exchange. Folded mode (one rank): owned atoms only, every ghost neighbor replaced by its
   owner and the lattice vector between them.
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
  const int inum = list->inum;    // receivers: local atoms (ghosts get features by the halo)
  const double *h_inv = domain->h_inv;    // upper triangular: xx yy zz yz xz xy
  std::vector<int> owner_of_tag;
  if (fold_images) {
    tagint maxtag = 0;
    for (int i = 0; i < nlocal; i++) maxtag = std::max(maxtag, atom->tag[i]);
    owner_of_tag.assign(maxtag + 1, -1);
    for (int i = 0; i < nlocal; i++) owner_of_tag[atom->tag[i]] = i;
  }
  // the closest pair, refused below min_distance as ASE and OpenMM do (both units the plugin
  // accepts, metal and real, have lengths in Angstrom, the model's unit)
  double rsq_min = cutsq_model;
  tagint close_i = 0, close_j = 0;
  for (int ii = 0; ii < inum; ii++) {
    const int i = list->ilist[ii];
    const int *jlist = list->firstneigh[i];
    for (int jj = 0; jj < list->numneigh[i]; jj++) {
      int j = jlist[jj] & NEIGHMASK;
      const double dx = x[j][0] - x[i][0], dy = x[j][1] - x[i][1], dz = x[j][2] - x[i][2];
      const double rsq = dx * dx + dy * dy + dz * dz;
      if (rsq >= cutsq_model) continue;
      if (rsq < rsq_min) {
        rsq_min = rsq;
        close_i = atom->tag[i];
        close_j = atom->tag[j];
      }
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
  // The closest pair over all ranks (MINLOC; its rank sends the IDs), so every rank stops with
  // error->all and the message reaches both the screen and the log whichever rank found it
  // (error->one from rank 0 is lost from a piped stdout at MPI_Abort, and from rank > 0 it
  // never reaches the log).
  struct {
    double rsq;
    int rank;
  } mine = {rsq_min, comm->me}, closest;
  MPI_Allreduce(&mine, &closest, 1, MPI_DOUBLE_INT, MPI_MINLOC, world);
  if (closest.rsq < min_distance * min_distance) {
    tagint ids[2] = {std::min(close_i, close_j), std::max(close_i, close_j)};
    MPI_Bcast(ids, 2, MPI_LMP_TAGINT, closest.rank, world);
    error->all(FLERR,
               "pair_style polmlip: atoms {} and {} overlap (distance {:.3g} Å < {:.3g} Å, the "
               "model's minimum distance)",
               ids[0], ids[1], std::sqrt(closest.rsq), min_distance);
  }
  std::tie(edges, shifts) = polmlip::pairs_to_tensors(pairs);
}

/* ----------------------------------------------------------------------
   The model's P holds sum q_site r of the coordinates it was given; LAMMPS wraps atoms at
   re-neighboring, so this rank's sum q_site (x_unwrapped - x) from the image flags, as
   fix efield does, keeps P (and the enthalpy -E.P) continuous across the boundary.
   The force is unchanged.
------------------------------------------------------------------------- */

void PairPolmlip::unwrapped_site_dipole(const c10::impl::GenericDict &out, int nlocal,
                                        double *unwrap)
{
  unwrap[0] = unwrap[1] = unwrap[2] = 0.0;
  if (!out.contains(polmlip::keys::kSiteCharges)) return;
  torch::Tensor qs = out.at(polmlip::keys::kSiteCharges).toTensor().to(torch::kCPU, torch::kFloat64);
  auto qa = qs.accessor<double, 1>();
  double xu[3];
  for (int i = 0; i < nlocal; i++) {
    if (qa[i] == 0.0) continue;
    domain->unmap(atom->x[i], atom->image[i], xu);
    for (int d = 0; d < 3; d++) unwrap[d] += qa[i] * (xu[d] - atom->x[i][d]);
  }
}
