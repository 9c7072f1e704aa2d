/* -*- c++ -*- ----------------------------------------------------------
   pair_style polmlip: polarizable long-range machine-learned potentials.

   pair_style polmlip MODEL [efield Ex Ey Ez] [device cpu|cuda] [kspace_accuracy X] [field_limit X] [bec yes|no]
   pair_coeff * * El1 El2 ...
------------------------------------------------------------------------- */

#ifndef LMP_PAIR_POLMLIP_H
#define LMP_PAIR_POLMLIP_H

#include "pair.h"

#include <torch/script.h>

#include <string>
#include <vector>

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
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;

 protected:
  void allocate();
  double field_component(int) const;
  void store_peratom(const c10::impl::GenericDict &out, int nlocal, int natoms);
  void build_graph(torch::Tensor &pos, torch::Tensor &species, torch::Tensor &edges,
                   torch::Tensor &shifts, int &natoms);
  torch::Tensor atom_index(int natoms);
  void unwrapped_site_dipole(const c10::impl::GenericDict &out, int nlocal, double *unwrap);

  std::string model_file;
  torch::jit::Module model;
  torch::Device device;
  torch::Dtype dtype;
  std::vector<std::string> elements;
  std::vector<int> type_to_species;  // LAMMPS type (1-based) -> model species index
  double cutoff, ghost_cutoff;
  double min_distance;       // A: closer pairs are refused as overlapping (model metadata)
  double energy_conversion;  // model eV -> LAMMPS energy units
  std::string efield_text[3];
  double efield_value[3];
  int efield_var[3];
  double kspace_accuracy;
  double field_limit;    // V/A, 0: the model's own
  // per-atom outputs for `fix pair` (local atoms): q, q_ind, mu (3), mu_ind (3)
  int nmax_peratom, peratom_flag;
  bool fold_images;    // one rank: images folded onto owners (lattice shifts), no ghosts
  bool bec_flag;       // `bec yes`: per-atom Born effective charges (9 columns, e)
  double *charges, *induced_charges;
  double **dipoles, **induced_dipoles;
  double **bec;        // Z*_i,βγ = ∂P_β/∂r_iγ, row-major; ghost rows folded onto owners
};

}    // namespace LAMMPS_NS

#endif
