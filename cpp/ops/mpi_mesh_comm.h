// polmlip::mpi_mesh_comm(comm): the MeshComm of an MPI communicator (MPI_Alltoall of the
// counts, then MPI_Alltoallv of the float64 values), for the engines that decompose the mesh
// (the LAMMPS plugin) and the MPI test driver (cpp/tests/mesh_comm_check.cpp).
//
// Header-only, and the one place that includes <mpi.h>: libpolmlip_ops does not link MPI; the
// MPI symbols come from the program that includes this header (or from the process that loads
// the plugin, as under lmp).
//
// Every rank must make the same calls in the same order (the operators of mesh_comm.h are
// collective). MPI_Alltoallv takes int counts and displacements: a transfer of 2^31 values or
// more to or from one process throws (on the process that sees it; an engine's error handler
// should then abort the run, as LAMMPS' error->one does, rather than leave the others waiting).
#pragma once

#include <mpi.h>
#if defined(OPEN_MPI) && OPEN_MPI
#include <mpi-ext.h>  // MPIX_CUDA_AWARE_SUPPORT
#endif

#include <climits>
#include <string>
#include <vector>

#include "mesh_comm.h"

namespace polmlip {

namespace detail {

inline void check_mpi(int rc, const char *what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  TORCH_CHECK(false, "polmlip: ", what, " failed: ", std::string(text, len));
}

// int counts and displacements of an all-to-all, or a clear error if they do not fit.
inline void int_counts(const std::vector<long long> &counts, std::vector<int> &out,
                       std::vector<int> &displs, const char *what) {
  long long offset = 0;
  out.resize(counts.size());
  displs.resize(counts.size());
  for (size_t p = 0; p < counts.size(); p++) {
    TORCH_CHECK(counts[p] >= 0 && counts[p] <= INT_MAX && offset <= INT_MAX,
                "polmlip: the mesh all-to-all ", what, " ", counts[p], " values at offset ",
                offset, " (process ", p, "): MPI_Alltoallv takes int counts and displacements "
                "(at most 2^31 - 1 values to or from one process); use more processes or a "
                "smaller mesh");
    out[p] = (int) counts[p];
    displs[p] = (int) offset;
    offset += counts[p];
  }
  TORCH_CHECK(offset <= INT_MAX, "polmlip: the mesh all-to-all ", what, " ", offset,
              " values in all: MPI_Alltoallv takes int counts and displacements (at most "
              "2^31 - 1 values to or from one process); use more processes or a smaller mesh");
}

}  // namespace detail

// Whether the MPI library moves CUDA device memory itself (CUDA-aware MPI), asked at run time
// (MPICH >= 4.1 and Open MPI both answer MPIX_Query_cuda_support; other MPIs: no).
inline bool mpi_cuda_aware() {
#if defined(MPICH_NUMVERSION) && MPICH_NUMVERSION >= 40100000
  return MPIX_Query_cuda_support() == 1;
#elif defined(OMPI_MAJOR_VERSION) && defined(MPIX_CUDA_AWARE_SUPPORT) && MPIX_CUDA_AWARE_SUPPORT
  return MPIX_Query_cuda_support() == 1;
#else
  return false;
#endif
}

inline MeshComm mpi_mesh_comm(MPI_Comm comm) {
  MeshComm mc;
  detail::check_mpi(MPI_Comm_rank(comm, &mc.rank), "MPI_Comm_rank");
  detail::check_mpi(MPI_Comm_size(comm, &mc.size), "MPI_Comm_size");
  const int size = mc.size;
  mc.alltoallv = [comm, size](const torch::Tensor &send, const std::vector<int64_t> &send_counts,
                              std::vector<int64_t> &recv_counts) {
    TORCH_CHECK((int) send_counts.size() == size, "polmlip: mesh all-to-all: ",
                send_counts.size(), " counts for ", size, " processes");
    TORCH_CHECK(send.dim() == 1 && send.is_contiguous() && send.device().is_cpu() &&
                    send.scalar_type() == torch::kFloat64,
                "polmlip: mesh all-to-all: the send buffer must be 1-d, contiguous, float64, "
                "on the CPU");
    std::vector<long long> sc(send_counts.begin(), send_counts.end()), rc(size, 0);
    long long total = 0;
    for (long long c : sc) total += c;
    TORCH_CHECK(total == send.numel(), "polmlip: mesh all-to-all: counts add up to ", total,
                " for a buffer of ", send.numel(), " values");
    detail::check_mpi(MPI_Alltoall(sc.data(), 1, MPI_LONG_LONG, rc.data(), 1, MPI_LONG_LONG, comm),
                      "MPI_Alltoall");
    std::vector<int> sci, sdispl, rci, rdispl;
    detail::int_counts(sc, sci, sdispl, "sends");
    detail::int_counts(rc, rci, rdispl, "receives");
    long long recv_total = 0;
    for (long long c : rc) recv_total += c;
    torch::Tensor recv = torch::empty({(int64_t) recv_total}, torch::kFloat64);
    // MPI wants valid pointers even for empty buffers
    double send_dummy = 0.0, recv_dummy = 0.0;
    double *sbuf = send.numel() ? const_cast<double *>(send.data_ptr<double>()) : &send_dummy;
    double *rbuf = recv_total ? recv.data_ptr<double>() : &recv_dummy;
    detail::check_mpi(MPI_Alltoallv(sbuf, sci.data(), sdispl.data(), MPI_DOUBLE, rbuf, rci.data(),
                                    rdispl.data(), MPI_DOUBLE, comm),
                      "MPI_Alltoallv");
    recv_counts.assign(rc.begin(), rc.end());
    return recv;
  };
  return mc;
}

}  // namespace polmlip
