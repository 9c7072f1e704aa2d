/* ----------------------------------------------------------------------
   pair_style polmlip: per-atom outputs (`fix pair`), ghost-row folding of Z* by reverse communication
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

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace LAMMPS_NS;

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
