/* -*- c++ -*- ----------------------------------------------------------
   pair_style polmlip: polarizable long-range machine-learned potentials.

   pair_style polmlip MODEL [efield Ex Ey Ez] [total_charge Q] [device cpu|cuda]
                      [kspace_accuracy X] [field_limit X] [bec yes|no]
   pair_coeff * * El1 El2 ...
------------------------------------------------------------------------- */

#ifndef LMP_PAIR_POLMLIP_H
#define LMP_PAIR_POLMLIP_H

#include "pair.h"

#include <torch/script.h>

#include "../cpp/ops/comm_hooks.h"

#include <string>
#include <vector>

namespace polmlip {
struct OutputSpec;
}

namespace LAMMPS_NS {

class PairPolmlip : public Pair {
 public:
  PairPolmlip(class LAMMPS *);
  ~PairPolmlip() override;
  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
  void *extract(const char *, int &) override;
  void *extract_peratom(const char *, int &) override;
  int pack_forward_comm(int, int *, double *, int, int *) override;
  void unpack_forward_comm(int, int, double *) override;
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;
  // the halo rows into LAMMPS' buffers and back (pair_polmlip_comm.cpp): rows list[i] (or
  // first + i when list is null) packed, unpacked into rows first + i, or added into list[i]
  int pack_halo_rows(int n, const int *list, int first, double *buf) const;
  void unpack_halo_rows(int n, int first, const double *buf);
  void add_halo_rows(int n, const int *list, const double *buf);
  void exchange_halo(torch::Tensor &rows, int64_t n_local, bool reverse);
  void check_type_masses();
  void finish() override;

 protected:
  void allocate();
  double field_component(int) const;
  void setup_peratom(const std::vector<polmlip::OutputSpec> &declared);
  void grow_peratom();
  void store_peratom(const c10::impl::GenericDict &out, int nlocal, int natoms);
  void build_graph(torch::Tensor &pos, torch::Tensor &species, torch::Tensor &edges,
                   torch::Tensor &shifts, int &natoms);
  void install_halo_exchange();
  void report_ghosts();
  void unwrapped_site_dipole(const c10::impl::GenericDict &out, int nlocal, double *unwrap);

  std::string model_file;
  torch::jit::Module model;
  torch::Device device;
  torch::Dtype dtype;
  std::vector<std::string> elements;
  std::vector<int> type_to_species;  // LAMMPS type (1-based) -> model species index
  double cutoff;  // A, of the model; ghost atoms reach cutoff + skin
  double min_distance;       // A: closer pairs are refused as overlapping (model metadata)
  double energy_conversion;  // model eV -> LAMMPS energy units
  std::string efield_text[3];
  double efield_value[3];
  int efield_var[3];
  double kspace_accuracy;
  double field_limit;    // V/A, 0: the model's own
  double total_charge;   // e, the system's total charge (keyword total_charge)
  polmlip::CommHooks comm_hooks;  // this instance's communication (cpp/ops/comm_hooks.h)
  bool check_masses;    // type masses against the elements of pair_coeff (check_masses)
  bool mpi_cuda_aware;  // MPI moves CUDA memory itself (global sums stay on the device)
  bool fold_images;    // one rank: images folded onto owners (lattice shifts), no ghosts
  int ewald_split;     // keyword ewald_split: 0 no (default), 1 yes
  double real_space_cutoff;  // A: the split's real-space pairs (0: everything in k-space)
  bool bec_flag;       // `bec yes`: request the Born effective charges (9 columns, e)
  // `polarizability yes`: request alpha = dP/dE at fixed nuclei (compute pair c_ID[4..12],
  // row-major, e*Angstrom^2/V) and its per-atom parts dP/dE_i (fix pair, 9 columns)
  bool polarizability_flag;
  bool requested_output(const std::string &name) const;  // an on-request output asked for
  // Per-atom outputs for `fix pair`, one per per-atom output the model declares (forces
  // excepted), under its declared name (docs/export.md); on-request ones only if requested.
  struct PeratomOutput {
    std::string name;
    int columns;        // 1: a per-atom vector (fix pair column 0), else an array
    bool graph_rows;    // a row per graph atom: ghost rows are added onto their owners
    double *vector;     // columns == 1
    double **array;     // columns > 1, row-major (e.g. Z*_i,bg at column 3 b + g)
  };
  std::vector<PeratomOutput> peratom;
  std::vector<std::string> unrequested;  // declared on-request outputs not asked for
  int nmax_peratom, peratom_flag;
  // The halo exchange (several ranks): polmlip::halo calls copy owners' rows of a per-atom
  // tensor into their ghost rows by forward communication, and add ghost-row gradients into
  // their owners by reverse communication. halo_rows points at the (nlocal + nghost) x
  // halo_width rows being exchanged, in host memory, float32 (halo_single: the network of a
  // mixed-precision export) or float64; a row travels as halo_slots doubles of LAMMPS'
  // buffers (two float32 values share one). Reverse communication serves the exchange
  // (halo_reverse) or the per-atom outputs with ghost rows.
  char *halo_rows;
  bool halo_single;
  int halo_width, halo_slots, feature_width;
  bool halo_reported;  // how the rows travel, logged once
  int halo_max_width;  // widest exchanged row: max(feature_width, 13 = q, mu, Theta)
  double halo_bytes;   // bytes packed by the halo exchange since the last finish()
  bool halo_reverse;
  bool ghosts_reported;
  bool long_range_reported;  // the long-range settings logged once per run
  double halo_seconds, compute_seconds;  // wall time in exchanges, in compute()
  double model_seconds;                   // wall time in the model's forward (incl. exchanges)
  long long halo_count, compute_count;
};

}    // namespace LAMMPS_NS

#endif
