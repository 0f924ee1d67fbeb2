/*  =========================================================================
    fuzz_registry - libFuzzer target for the hub's site registry loader

    The input is the content of registry.json (written by hand or by
    `incuhub site add`; the hub reloads it while running). It is written to
    one file in the scratch directory and loaded with ih_registry_load. An
    accepted registry must hold exactly the sites the JSON lists, each
    with a valid id, kind and district, and must not reload an unchanged
    file.
    =========================================================================*/
#include "ih_fuzz.h"
#include <jansson.h>
#include "ih_registry.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    ih_fuzz_init ();
    ih_fuzz_dir ();
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *bytes, size_t size)
{
    const char *path = ih_fuzz_write ("registry.json", bytes, size, 0644);
    ih_registry_t *registry = NULL;
    ih_err_t rc = ih_registry_load (path, &registry);
    IH_FUZZ_CHECK (rc == IH_OK || rc == IH_E_IO || rc == IH_E_CONFIG);
    if (rc != IH_OK) {
        IH_FUZZ_CHECK (registry == NULL);
        return 0;
    }
    IH_FUZZ_CHECK (registry);
    //  The loader accepted the file, so it is JSON with a sites array
    json_t *root = json_loadb ((const char *) bytes, size, 0, NULL);
    IH_FUZZ_CHECK (root);
    json_t *sites = json_object_get (root, "sites");
    IH_FUZZ_CHECK (json_is_array (sites));
    IH_FUZZ_CHECK (ih_registry_size (registry) == json_array_size (sites));
    size_t i;
    json_t *entry;
    json_array_foreach (sites, i, entry)
    {
        const char *id = json_string_value (json_object_get (entry, "id"));
        IH_FUZZ_CHECK (id);
        const ih_site_t *site = ih_registry_lookup (registry, id);
        IH_FUZZ_CHECK (site);
        IH_FUZZ_CHECK (streq (site->id, id) && ih_event_name_valid (site->id));
        IH_FUZZ_CHECK (ih_registry_kind_valid (site->kind));
        IH_FUZZ_CHECK (ih_event_name_valid (site->district));
    }
    json_decref (root);
    IH_FUZZ_CHECK (ih_registry_lookup (registry, "") == NULL);
    IH_FUZZ_CHECK (!ih_registry_refresh (registry));
    ih_registry_destroy (&registry);
    IH_FUZZ_CHECK (registry == NULL);
    return 0;
}
