// Registers pair_style polmlip with LAMMPS' plugin loader (`plugin load` or LAMMPS_PLUGIN_PATH).
#include "lammps.h"
#include "pair_polmlip.h"

using namespace LAMMPS_NS;

// The plugin ABI of LAMMPS (src/PLUGIN/lammpsplugin.h), which the PyPI wheel does not ship.
extern "C" {
typedef void *(lammpsplugin_factory1) (void *);
typedef void *(lammpsplugin_factory2) (void *, int, char **);
typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;
typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);
}

static Pair *polmlip_creator(LAMMPS *lmp) { return new PairPolmlip(lmp); }

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  auto register_plugin = (lammpsplugin_regfunc) regfunc;
  plugin.version = ((LAMMPS *) lmp)->version;
  plugin.style = "pair";
  plugin.name = "polmlip";
  plugin.info = "polmlip polarizable long-range ML potential";
  plugin.author = "polmlip developers";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &polmlip_creator;
  plugin.handle = handle;
  (*register_plugin)(&plugin, lmp);
}
