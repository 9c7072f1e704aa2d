// Standard atomic masses (amu) of the elements H to Pu, for the engines' consistency checks
// (an engine's particle masses against the elements the model is told; OpenMM plugin).
#pragma once

#include <cmath>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace polmlip {

// The standard atomic mass of `symbol` in amu, or 0 for a symbol that is not an element.
inline double standard_atomic_mass(const std::string &symbol) {
  static const std::unordered_map<std::string, double> masses = {
      {"H", 1.0080}, {"He", 4.0026}, {"Li", 6.9400}, {"Be", 9.0122}, {"B", 10.8100},
      {"C", 12.0110}, {"N", 14.0070}, {"O", 15.9990}, {"F", 18.9984}, {"Ne", 20.1797},
      {"Na", 22.9898}, {"Mg", 24.3050}, {"Al", 26.9815}, {"Si", 28.0850}, {"P", 30.9738},
      {"S", 32.0600}, {"Cl", 35.4500}, {"Ar", 39.9480}, {"K", 39.0983}, {"Ca", 40.0780},
      {"Sc", 44.9559}, {"Ti", 47.8670}, {"V", 50.9415}, {"Cr", 51.9961}, {"Mn", 54.9380},
      {"Fe", 55.8450}, {"Co", 58.9332}, {"Ni", 58.6934}, {"Cu", 63.5460}, {"Zn", 65.3800},
      {"Ga", 69.7230}, {"Ge", 72.6300}, {"As", 74.9216}, {"Se", 78.9710}, {"Br", 79.9040},
      {"Kr", 83.7980}, {"Rb", 85.4678}, {"Sr", 87.6200}, {"Y", 88.9058}, {"Zr", 91.2240},
      {"Nb", 92.9064}, {"Mo", 95.9500}, {"Tc", 97.9072}, {"Ru", 101.0700}, {"Rh", 102.9055},
      {"Pd", 106.4200}, {"Ag", 107.8682}, {"Cd", 112.4140}, {"In", 114.8180}, {"Sn", 118.7100},
      {"Sb", 121.7600}, {"Te", 127.6000}, {"I", 126.9045}, {"Xe", 131.2930}, {"Cs", 132.9055},
      {"Ba", 137.3270}, {"La", 138.9055}, {"Ce", 140.1160}, {"Pr", 140.9077}, {"Nd", 144.2420},
      {"Pm", 144.9128}, {"Sm", 150.3600}, {"Eu", 151.9640}, {"Gd", 157.2500}, {"Tb", 158.9254},
      {"Dy", 162.5000}, {"Ho", 164.9303}, {"Er", 167.2590}, {"Tm", 168.9342}, {"Yb", 173.0540},
      {"Lu", 174.9668}, {"Hf", 178.4900}, {"Ta", 180.9479}, {"W", 183.8400}, {"Re", 186.2070},
      {"Os", 190.2300}, {"Ir", 192.2170}, {"Pt", 195.0840}, {"Au", 196.9666}, {"Hg", 200.5920},
      {"Tl", 204.3800}, {"Pb", 207.2000}, {"Bi", 208.9804}, {"Po", 208.9824}, {"At", 209.9872},
      {"Rn", 222.0176}, {"Fr", 223.0197}, {"Ra", 226.0254}, {"Ac", 227.0277}, {"Th", 232.0377},
      {"Pa", 231.0359}, {"U", 238.0289}, {"Np", 237.0482}, {"Pu", 244.0642}
  };
  const auto it = masses.find(symbol);
  return it == masses.end() ? 0.0 : it->second;
}

// Whether `mass` (amu) fits `element` among the `elements` an engine maps its particles to:
// "" if it does, else the reason, for the engines' messages. A mass of 0 or less never fits; a
// mass further than half its element's standard mass from it fits if no other of `elements`
// is closer (isotopes such as D and repartitioned hydrogens pass; elements in another order
// than the particles do not).
inline std::string mass_mismatch(const std::string &element, double mass,
                                 const std::vector<std::string> &elements) {
  const double own = standard_atomic_mass(element);
  if (!(mass > 0.0)) return "a massless particle (or virtual site) cannot be a model atom";
  if (own <= 0.0 || std::abs(mass - own) <= 0.5 * own) return "";
  for (const auto &other : elements) {
    const double m = standard_atomic_mass(other);
    if (other != element && m > 0.0 && std::abs(mass - m) < std::abs(mass - own)) {
      std::ostringstream s;
      s << element << " has " << own << " amu; the mass fits " << other;
      return s.str();
    }
  }
  return "";
}

}  // namespace polmlip
