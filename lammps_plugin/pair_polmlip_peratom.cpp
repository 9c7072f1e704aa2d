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

#include "../cpp/core/model_loader.h"
#include "../cpp/ops/neighbor_op.h"

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace LAMMPS_NS;

/* ----------------------------------------------------------------------
   per-atom outputs for `fix ID group pair N polmlip NAME 0 ...`, by the names the model
   declares (metadata "outputs"): e.g. charges (q + q_ind), permanent_charges,
   induced_charges (vectors, e); dipoles, permanent_dipoles, induced_dipoles (3 columns,
   e*Angstrom); quadrupoles (9), potential (V), field (3, V/Angstrom), bec (9, needs bec yes),
   atomic_polarizability (9, dP/dE_i in e*Angstrom^2/V, needs polarizability yes)
------------------------------------------------------------------------- */

void PairPolmlip::setup_peratom(const std::vector<polmlip::OutputSpec> &declared)
{
  for (auto &p : peratom) {
    memory->destroy(p.vector);
    memory->destroy(p.array);
  }
  peratom.clear();
  unrequested.clear();
  nmax_peratom = 0;
  int graph_columns = 0;
  for (const auto &spec : declared) {
    if (!spec.per_atom || spec.name == polmlip::keys::kForces) continue;
    if (spec.on_request && !requested_output(spec.name)) {
      unrequested.push_back(spec.name);
      continue;
    }
    PeratomOutput p;
    p.name = spec.name;
    p.columns = (int) spec.columns();
    p.graph_rows = spec.graph_rows;
    p.vector = nullptr;
    p.array = nullptr;
    if (p.graph_rows) graph_columns += p.columns;
    peratom.push_back(p);
  }
  // buffer sizes of LAMMPS' communication: the halo exchange moves up to halo_max_width
  // values per atom (the features, or q, mu and Theta of the Ewald split: 1 + 3 + 9), the
  // per-atom outputs with ghost rows graph_columns
  halo_max_width = std::max(feature_width, 13);
  comm_forward = halo_max_width;
  comm_reverse = std::max(halo_max_width, graph_columns);
}

bool PairPolmlip::requested_output(const std::string &name) const
{
  if (name == polmlip::keys::kBec) return bec_flag;
  if (name == polmlip::keys::kPolarizability || name == polmlip::keys::kAtomicPolarizability)
    return polarizability_flag;
  return false;
}

void *PairPolmlip::extract(const char *name, int &dim)
{
  dim = 0;
  if (utils::strmatch(name, "_flag$")) return (void *) &peratom_flag;
  return nullptr;
}

void *PairPolmlip::extract_peratom(const char *name, int &ncol)
{
  for (auto &p : peratom) {
    if (p.name != name) continue;
    ncol = p.columns == 1 ? 0 : p.columns;
    grow_peratom();
    return p.columns == 1 ? (void *) p.vector : (void *) p.array;
  }
  for (const auto &n : unrequested)
    if (n == name)
      error->all(FLERR, "pair_style polmlip: per-atom {} needs `{} yes`", n,
                 n == polmlip::keys::kAtomicPolarizability ? polmlip::keys::kPolarizability : n);
  std::vector<std::string> names;
  for (const auto &p : peratom) names.push_back(p.name);
  error->all(FLERR, "pair_style polmlip: this model has no per-atom output '{}'; it declares: {}",
             name, utils::join_words(names, " "));
  return nullptr;
}

int PairPolmlip::pack_reverse_comm(int n, int first, double *buf)
{
  int m = 0;
  if (halo_reverse) {
    halo_bytes += (double) n * halo_slots * sizeof(double);
    return pack_halo_rows(n, nullptr, first, buf);
  }
  for (const auto &p : peratom) {
    if (!p.graph_rows) continue;
    for (int i = first; i < first + n; i++) {
      if (p.columns == 1) buf[m++] = p.vector[i];
      else for (int k = 0; k < p.columns; k++) buf[m++] = p.array[i][k];
    }
  }
  return m;
}

void PairPolmlip::unpack_reverse_comm(int n, int *list, double *buf)
{
  int m = 0;
  if (halo_reverse) {
    add_halo_rows(n, list, buf);
    return;
  }
  for (auto &p : peratom) {
    if (!p.graph_rows) continue;
    for (int i = 0; i < n; i++) {
      if (p.columns == 1) p.vector[list[i]] += buf[m++];
      else for (int k = 0; k < p.columns; k++) p.array[list[i]][k] += buf[m++];
    }
  }
}

/* ----------------------------------------------------------------------
   copy the model's per-atom outputs into the fix-pair arrays: local rows, or for outputs
   with a row per graph atom (Born charges) every row, the ghost rows then summed onto
   their owners by reverse communication: the derivative of P with respect to a ghost
   belongs to the atom it images (one rank folds images and has no ghosts). Outputs the
   model did not return this step are zero.
------------------------------------------------------------------------- */

void PairPolmlip::grow_peratom()
{
  if (atom->nmax <= nmax_peratom) return;
  nmax_peratom = atom->nmax;
  for (auto &p : peratom) {
    const std::string id = "pair:polmlip:" + p.name;
    if (p.columns == 1) memory->grow(p.vector, nmax_peratom, id.c_str());
    else memory->grow(p.array, nmax_peratom, p.columns, id.c_str());
  }
}

void PairPolmlip::store_peratom(const c10::impl::GenericDict &out, int nlocal, int natoms)
{
  grow_peratom();
  const int nall = atom->nlocal + atom->nghost;
  bool fold = false;
  for (auto &p : peratom) {
    int rows = 0;
    if (out.contains(p.name)) {
      auto t = out.at(p.name).toTensor().to(torch::kCPU, torch::kFloat64).contiguous();
      const int64_t nrows = t.dim() > 0 ? t.size(0) : 0;
      if (t.numel() != nrows * p.columns)
        error->one(FLERR, "pair_style polmlip: output {} has {} values for {} rows, declared {} "
                   "per row", p.name, (int64_t) t.numel(), nrows, p.columns);
      t = t.reshape({nrows, p.columns});
      auto a = t.accessor<double, 2>();
      rows = std::min<int>((int) t.size(0), p.graph_rows ? natoms : nlocal);
      for (int i = 0; i < rows; i++) {
        if (p.columns == 1) p.vector[i] = a[i][0];
        else for (int k = 0; k < p.columns; k++) p.array[i][k] = a[i][k];
      }
    }
    for (int i = rows; i < (p.graph_rows ? nall : nlocal); i++) {
      if (p.columns == 1) p.vector[i] = 0.0;
      else for (int k = 0; k < p.columns; k++) p.array[i][k] = 0.0;
    }
    fold = fold || p.graph_rows;
  }
  // collective: every rank calls it, also one without atoms
  if (fold && !fold_images) {
    int columns = 0;
    for (const auto &p : peratom)
      if (p.graph_rows) columns += p.columns;
    halo_reverse = false;
    comm->reverse_comm(this, columns);
  }
}
