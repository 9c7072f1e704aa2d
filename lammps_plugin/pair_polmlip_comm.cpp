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

#include "../cpp/ops/halo.h"
#include "../cpp/ops/mesh_comm.h"

#include <mpi.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace LAMMPS_NS;

/* ----------------------------------------------------------------------
   the halo exchange behind polmlip::halo (cpp/ops/halo.h): forward copies the owners' rows
   into their ghost rows, reverse adds the ghost rows into their owners (on whichever rank)
   and zeroes them. Every rank makes the same calls in the same order (the model's layers,
   then the backward pass), also one without atoms. One rank folds images: nothing to do.
------------------------------------------------------------------------- */

void PairPolmlip::install_halo_exchange()
{
  if (fold_images) {
    polmlip::set_halo_exchange({});
    return;
  }
  polmlip::HaloExchange exchange;
  exchange.forward = [this](torch::Tensor &rows, int64_t n_local) {
    const double t0 = MPI_Wtime();
    if (n_local != atom->nlocal || rows.size(0) != atom->nlocal + atom->nghost || rows.dim() != 2 ||
        rows.size(1) > halo_max_width)
      error->one(FLERR, "pair_style polmlip: halo exchange of {} x {} rows for {} local and {} "
                 "ghost atoms (width at most {})", (int64_t) rows.size(0),
                 (int64_t) (rows.dim() > 1 ? rows.size(1) : 1), atom->nlocal, atom->nghost,
                 halo_max_width);
    halo_rows = rows.data_ptr<double>();
    halo_width = (int) rows.size(1);
    comm->forward_comm(this, halo_width);
    halo_count++;
    halo_seconds += MPI_Wtime() - t0;
  };
  exchange.reverse = [this](torch::Tensor &rows, int64_t n_local) {
    const double t0 = MPI_Wtime();
    if (n_local != atom->nlocal || rows.size(0) != atom->nlocal + atom->nghost ||
        rows.size(1) > halo_max_width)
      error->one(FLERR, "pair_style polmlip: halo exchange (reverse) of {} rows for {} local "
                 "and {} ghost atoms", (int64_t) rows.size(0), atom->nlocal, atom->nghost);
    halo_rows = rows.data_ptr<double>();
    halo_width = (int) rows.size(1);
    halo_reverse = true;
    comm->reverse_comm(this, halo_width);
    halo_reverse = false;
    const int nall = atom->nlocal + atom->nghost;
    std::fill(halo_rows + (size_t) atom->nlocal * halo_width, halo_rows + (size_t) nall * halo_width,
              0.0);
    halo_count++;
    halo_seconds += MPI_Wtime() - t0;
  };
  polmlip::set_halo_exchange(exchange);
}

int PairPolmlip::pack_forward_comm(int n, int *list, double *buf, int, int *)
{
  halo_bytes += (double) n * halo_width * sizeof(double);
  int m = 0;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < halo_width; k++) buf[m++] = halo_rows[(size_t) list[i] * halo_width + k];
  return m;
}

void PairPolmlip::unpack_forward_comm(int n, int first, double *buf)
{
  int m = 0;
  for (int i = first; i < first + n; i++)
    for (int k = 0; k < halo_width; k++) halo_rows[(size_t) i * halo_width + k] = buf[m++];
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
  double mesh[2] = {(double) polmlip::mesh_points_held(),
                    compute_count > 0 ? (double) polmlip::mesh_bytes_sent() / compute_count : 0.0};
  double mesh_most[2] = {0.0, 0.0};
  MPI_Reduce(mesh, mesh_most, 2, MPI_DOUBLE, MPI_MAX, 0, world);
  if (comm->me == 0 && compute_count > 0 && comm->nprocs > 1)
    utils::logmesg(lmp, "pair_style polmlip: mesh per rank (largest): {:.0f} points held, {:.0f} "
                   "bytes sent per force call\n", mesh_most[0], mesh_most[1]);
  polmlip::reset_mesh_counts();
  halo_seconds = compute_seconds = model_seconds = 0.0;
  halo_count = compute_count = 0;
}
