/*  =========================================================================
    ih_registry - the site registry: who may sign events, and where they are

    A JSON file (Jansson):
        { "version": 1,
          "sites": [ { "id": "lh-inc-01", "kind": "incubator",
                       "district": "laoshan", "key": "<64 hex digits>" } ] }
    kind is one of bureau, district, incubator, offshore, remote, auditor.
    The hub reloads the file when its modification time changes, so a site
    added with `incuhub site add` can publish without a hub restart.
    =========================================================================*/
#ifndef IH_REGISTRY_H_INCLUDED
#define IH_REGISTRY_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include "ih_err.h"
#include "ih_event.h"
#include "ih_key.h"

typedef struct {
    char id[IH_NAME_MAX + 1];
    char kind[16];
    char district[IH_NAME_MAX + 1];
    uint8_t key[IH_KEY_PUBLIC_SIZE];
} ih_site_t;

typedef struct _ih_registry_t ih_registry_t;

//  Loads the registry from path. Errors: IH_E_IO (cannot read),
//  IH_E_CONFIG (bad JSON, bad field, duplicate id; logged with the reason
//  and, for JSON errors, line:column).
ih_err_t ih_registry_load (const char *path, ih_registry_t **self_p);

//  Frees; safe to call twice.
void ih_registry_destroy (ih_registry_t **self_p);

//  The site with this id, or NULL. Borrowed until the registry is
//  destroyed or reloaded.
const ih_site_t *ih_registry_lookup (ih_registry_t *self, const char *id);

//  Number of sites.
size_t ih_registry_size (ih_registry_t *self);

//  If the file changed since it was loaded, loads it into a fresh registry
//  and, only on success, swaps it in. Returns true if it reloaded. A bad
//  file is logged and the old registry kept.
bool ih_registry_refresh (ih_registry_t *self);

//  Adds site to the registry file at path, creating it if needed, writing
//  atomically (temp file + rename). Errors: IH_E_CONFIG (bad kind, name,
//  or the id exists already), IH_E_IO.
ih_err_t ih_registry_add (const char *path, const ih_site_t *site);

//  True if kind is a known site kind.
bool ih_registry_kind_valid (const char *kind);

//  Selftest
void ih_registry_test (bool verbose);

#endif
