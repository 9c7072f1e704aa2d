/* ----------------------------------------------------------------------
   pair_style polmlip: the halo exchange between ranks, and what the pair style reports about
   the ranks (ghost atoms) and their communication (halo and mesh traffic)
------------------------------------------------------------------------- */

#include "pair_polmlip.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "neighbor.h"
#include "utils.h"

#include "../cpp/ops/comm_hooks.h"

#include <mpi.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

using namespace LAMMPS_NS;

/* ----------------------------------------------------------------------
   the halo exchange behind polmlip::halo (cpp/ops/halo.h): forward copies the owners' rows
   into their ghost rows, reverse adds the ghost rows into their owners (on whichever rank)
   and zeroes them. Every rank makes the same calls in the same order (the model's layers,
   then the backward pass), also one without atoms. One rank folds images: nothing to do.

   The rows keep the model's dtype: a mixed-precision export exchanges float32 features, two
   values per double of LAMMPS' buffers (half the bytes of float64, and no conversion).
   LAMMPS' communication buffers are host memory, so rows on a GPU are staged: copied to the
   host, exchanged, and the changed rows copied back (the log says so once).
------------------------------------------------------------------------- */

void PairPolmlip::install_halo_exchange()
{
  if (fold_images) {
    comm_hooks.halo = {};
    return;
  }
  polmlip::HaloExchange exchange;
  exchange.forward = [this](torch::Tensor &rows, int64_t n_local) {
    exchange_halo(rows, n_local, false);
  };
  exchange.reverse = [this](torch::Tensor &rows, int64_t n_local) {
    exchange_halo(rows, n_local, true);
  };
  comm_hooks.halo = exchange;
}

void PairPolmlip::exchange_halo(torch::Tensor &rows, int64_t n_local, bool reverse)
{
  const double t0 = MPI_Wtime();
  const int nall = atom->nlocal + atom->nghost;
  if (n_local != atom->nlocal || rows.dim() != 2 || rows.size(0) != nall ||
      rows.size(1) > halo_max_width || !rows.is_contiguous())
    error->one(FLERR, "pair_style polmlip: halo exchange{} of {} x {} rows for {} local and {} "
               "ghost atoms (width at most {})", reverse ? " (reverse)" : "",
               (int64_t) rows.size(0), (int64_t) (rows.dim() > 1 ? rows.size(1) : 1),
               atom->nlocal, atom->nghost, halo_max_width);
  const bool staged = !rows.device().is_cpu();
  torch::Tensor host = staged ? rows.to(torch::kCPU) : rows;
  halo_single = host.scalar_type() == torch::kFloat32;
  if (!halo_single && host.scalar_type() != torch::kFloat64)
    error->one(FLERR, "pair_style polmlip: halo exchange of {} rows (float32 or float64 only)",
               std::string(c10::toString(host.scalar_type())));
  halo_rows = static_cast<char *>(host.data_ptr());
  halo_width = (int) host.size(1);
  halo_slots = halo_single ? (halo_width + 1) / 2 : halo_width;
  const size_t row_bytes = (size_t) halo_width * host.element_size();
  if (!reverse) {
    comm->forward_comm(this, halo_slots);
    if (staged && nall > atom->nlocal)
      rows.narrow(0, atom->nlocal, atom->nghost).copy_(host.narrow(0, atom->nlocal, atom->nghost));
  } else {
    halo_reverse = true;
    comm->reverse_comm(this, halo_slots);
    halo_reverse = false;
    std::memset(halo_rows + (size_t) atom->nlocal * row_bytes, 0,
                (size_t) atom->nghost * row_bytes);
    if (staged) rows.copy_(host);
  }
  if (!halo_reported && comm->me == 0)
    utils::logmesg(lmp, "pair_style polmlip: halo exchange of {} rows ({} doubles per atom in "
                   "LAMMPS' buffers), {}\n", halo_single ? "float32" : "float64", halo_slots,
                   staged ? "staged from " + rows.device().str() + " through host memory "
                   "(LAMMPS' communication buffers are host memory)" : "in host memory");
  halo_reported = true;
  halo_count++;
  halo_seconds += MPI_Wtime() - t0;
}

int PairPolmlip::pack_halo_rows(int n, const int *list, int first, double *buf) const
{
  if (halo_slots == 0) return 0;
  const size_t row_bytes = (size_t) halo_width * (halo_single ? sizeof(float) : sizeof(double));
  for (int i = 0; i < n; i++) {
    const size_t row = list ? (size_t) list[i] : (size_t) (first + i);
    double *slot = buf + (size_t) i * halo_slots;
    slot[halo_slots - 1] = 0.0;  // the padding of an odd float32 width
    std::memcpy(slot, halo_rows + row * row_bytes, row_bytes);
  }
  return n * halo_slots;
}

void PairPolmlip::unpack_halo_rows(int n, int first, const double *buf)
{
  const size_t row_bytes = (size_t) halo_width * (halo_single ? sizeof(float) : sizeof(double));
  for (int i = 0; i < n; i++)
    std::memcpy(halo_rows + (size_t) (first + i) * row_bytes, buf + (size_t) i * halo_slots,
                row_bytes);
}

namespace {
template <typename T>
void add_rows(char *rows, int width, int slots, int n, const int *list, const double *buf)
{
  for (int i = 0; i < n; i++) {
    T *row = reinterpret_cast<T *>(rows) + (size_t) list[i] * width;
    const char *in = reinterpret_cast<const char *>(buf + (size_t) i * slots);
    for (int k = 0; k < width; k++) {
      T value;
      std::memcpy(&value, in + k * sizeof(T), sizeof(T));
      row[k] += value;
    }
  }
}
}  // namespace

void PairPolmlip::add_halo_rows(int n, const int *list, const double *buf)
{
  if (halo_single) add_rows<float>(halo_rows, halo_width, halo_slots, n, list, buf);
  else add_rows<double>(halo_rows, halo_width, halo_slots, n, list, buf);
}

int PairPolmlip::pack_forward_comm(int n, int *list, double *buf, int, int *)
{
  halo_bytes += (double) n * halo_slots * sizeof(double);
  return pack_halo_rows(n, list, 0, buf);
}

void PairPolmlip::unpack_forward_comm(int n, int first, double *buf)
{
  unpack_halo_rows(n, first, buf);
}

/* ----------------------------------------------------------------------
   ghost atoms per rank, into the log once per run: LAMMPS' cutoff + skin, not num_layers x
   cutoff (one rank folds images and passes no ghosts to the model)
------------------------------------------------------------------------- */

void PairPolmlip::report_ghosts()
{
  ghosts_reported = true;
  int mine[2] = {atom->nlocal, fold_images ? 0 : atom->nghost};
  std::vector<int> all(2 * comm->nprocs, 0);
  MPI_Gather(mine, 2, MPI_INT, all.data(), 2, MPI_INT, 0, world);
  if (comm->me != 0) return;
  std::string text;
  for (int r = 0; r < comm->nprocs; r++)
    text += fmt::format(" {}:{}/{}", r, all[2 * r], all[2 * r + 1]);
  const bool wider = real_space_cutoff > cutoff;
  utils::logmesg(lmp, "pair_style polmlip: ghost cutoff {} A ({} + skin); local/ghost atoms "
                 "per rank:{}\n", (wider ? real_space_cutoff : cutoff) + neighbor->skin,
                 wider ? "real-space cutoff" : "cutoff", text);
}

/* ----------------------------------------------------------------------
   at the end of a run: the share of the pair style's time spent in halo exchanges
------------------------------------------------------------------------- */

void PairPolmlip::finish()
{
  double mine[3] = {halo_seconds, compute_seconds, model_seconds}, most[3] = {0.0, 0.0, 0.0};
  MPI_Reduce(mine, most, 3, MPI_DOUBLE, MPI_MAX, 0, world);
  if (comm->me == 0 && most[1] > 0.0) {
    utils::logmesg(lmp, "pair_style polmlip: {} force calls took {:.4g} s, {:.4g} s of them in "
                   "the model (slowest rank)\n", compute_count, most[1], most[2]);
    if (!fold_images)
      utils::logmesg(lmp, "pair_style polmlip: {} halo exchanges took {:.4g} s of {:.4g} s in "
                     "the pair style ({:.1f}%, slowest rank)\n", halo_count, most[0], most[1],
                     100.0 * most[0] / most[1]);
  }
  // the halo exchange and the mesh: bytes sent (and mesh points held) per force call by the
  // busiest rank; halo bytes count every packed row, copies across periodic boundaries too
  double halo_mine = compute_count > 0 ? halo_bytes / compute_count : 0.0, halo_most = 0.0;
  MPI_Reduce(&halo_mine, &halo_most, 1, MPI_DOUBLE, MPI_MAX, 0, world);
  if (comm->me == 0 && compute_count > 0 && !fold_images)
    utils::logmesg(lmp, "pair_style polmlip: halo exchange per rank (largest): {:.0f} bytes sent "
                   "per force call\n", halo_most);
  halo_bytes = 0.0;
  double mesh[2] = {(double) comm_hooks.mesh_points_held,
                    compute_count > 0 ? (double) comm_hooks.mesh_bytes_sent / compute_count : 0.0};
  double mesh_most[2] = {0.0, 0.0};
  MPI_Reduce(mesh, mesh_most, 2, MPI_DOUBLE, MPI_MAX, 0, world);
  if (comm->me == 0 && compute_count > 0 && comm->nprocs > 1)
    utils::logmesg(lmp, "pair_style polmlip: mesh per rank (largest): {:.0f} points held, {:.0f} "
                   "bytes sent per force call\n", mesh_most[0], mesh_most[1]);
  comm_hooks.mesh_bytes_sent = comm_hooks.mesh_points_held = 0;
  halo_seconds = compute_seconds = model_seconds = 0.0;
  halo_count = compute_count = 0;
}
