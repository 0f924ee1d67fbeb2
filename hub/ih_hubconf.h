/*  =========================================================================
    ih_hubconf - the hub daemon's configuration: every option once

    Where it sits: before anything else runs. incuhubd (hub/main.c) reads
    a ZPL file (section `hub`) into an ih_hubconf_t, lets command-line
    flags override it, checks the options against each other and hands
    the values to the ingest actor. Every option is declared once, in
    ih_hubconf.c's table, with its config key, flag, default, kind
    (path, endpoint, number) and bounds; the help text, the file loader
    and the flag setter all read that table. The fuzz target fuzz_hubconf
    feeds arbitrary ZPL text to ih_hubconf_load_string.

    Loading parses into a fresh copy of the current values and replaces
    them only if the whole text is valid (as Mosquitto reloads its
    config): on any error the object is unchanged. Errors are returned as
    IH_E_CONFIG plus a malloc'ed message (caller frees) naming where the
    bad value came from, e.g. "hub.cfg: unknown key 'hub/dta'" or
    "--map-size: '0' is not a number in 1..1048576"; incuhubd prints it
    after "incuhubd: " and exits 2.
    =========================================================================*/
#ifndef IH_HUBCONF_H_INCLUDED
#define IH_HUBCONF_H_INCLUDED

#include <czmq.h>
#include "ih_err.h"

//  Number of options in the table (data, registry, ingest, pub,
//  map_size_mb, map_max_mb, pub_hwm, batch_max, replay, key,
//  checkpoint_events, checkpoint_ms, bureau_key, plaintext, in this
//  order).
#define IH_HUBCONF_OPTIONS 14

typedef struct _ih_hubconf_t ih_hubconf_t;

//  Creates a configuration holding every option's default. Never NULL.
ih_hubconf_t *ih_hubconf_new (void);

//  Frees; sets *self_p to NULL; safe to call twice.
void ih_hubconf_destroy (ih_hubconf_t **self_p);

//  Reads the ZPL file path and applies its `hub` keys over the current
//  values. Errors (IH_E_CONFIG, *error_p set to a message the caller
//  frees, self unchanged): the file cannot be read, is not ZPL, has
//  another section, an unknown key, a key with children, or a value
//  that fails its option's check. zconfig's own parse messages, which
//  CZMQ prints on stdout, are sent to stderr while the file is parsed
//  (stdout carries only the daemon's ready line). error_p may be NULL.
ih_err_t ih_hubconf_load_file (ih_hubconf_t *self, const char *path,
                               char **error_p);

//  Same as ih_hubconf_load_file for ZPL text held in memory (messages
//  name the source "<text>"). Writes nothing, prints nothing of its own.
ih_err_t ih_hubconf_load_string (ih_hubconf_t *self, const char *text,
                                 char **error_p);

//  Sets one option from the command line. key_or_flag is a config key
//  ("map_size_mb") or a flag without dashes ("map-size"). Errors
//  (IH_E_CONFIG, message "--<flag>: why", self unchanged): unknown
//  option, empty value, not an endpoint, number not in bounds.
ih_err_t ih_hubconf_set (ih_hubconf_t *self, const char *key_or_flag,
                         const char *value, char **error_p);

//  Checks the options against each other, once all sources are applied,
//  in this order: map_max_mb, unless 0, must not be below map_size_mb;
//  bureau_key must be set; with plaintext, every endpoint (ingest, pub,
//  replay if set) must satisfy ih_curve_local ("plaintext is allowed
//  only on ipc:// or loopback endpoints: --pub tcp://0.0.0.0:5556");
//  without it, key must be set (CURVE needs the hub's transport secret).
//  Returns IH_OK or IH_E_CONFIG with a message.
ih_err_t ih_hubconf_check (ih_hubconf_t *self, char **error_p);

//  The long flag (without dashes) of option index, in table order, or
//  NULL if index >= IH_HUBCONF_OPTIONS. incuhubd builds its getopt table
//  from this.
const char *ih_hubconf_flag (size_t index);

//  True if option index is a switch: its flag takes no value (set it to
//  "1"), e.g. --plaintext. In a file it is written `plaintext = 1`.
bool ih_hubconf_flag_switch (size_t index);

//  Prints one help line per option ("  --flag  help (default x)").
void ih_hubconf_help (FILE *out);

//  Getters. Strings are borrowed and live until the next successful load
//  or set, or destroy. Sizes are in MiB as configured.
const char *ih_hubconf_data (ih_hubconf_t *self);
//  The bureau's registry journal; "" when not set.
const char *ih_hubconf_registry (ih_hubconf_t *self);
const char *ih_hubconf_ingest (ih_hubconf_t *self);
const char *ih_hubconf_pub (ih_hubconf_t *self);
uint64_t ih_hubconf_map_size_mb (ih_hubconf_t *self);
uint64_t ih_hubconf_map_max_mb (ih_hubconf_t *self);
uint64_t ih_hubconf_pub_hwm (ih_hubconf_t *self);
uint64_t ih_hubconf_batch_max (ih_hubconf_t *self);
//  The replay endpoint and the hub key path; "" when not set.
const char *ih_hubconf_replay (ih_hubconf_t *self);
const char *ih_hubconf_key (ih_hubconf_t *self);
uint64_t ih_hubconf_checkpoint_events (ih_hubconf_t *self);
uint64_t ih_hubconf_checkpoint_ms (ih_hubconf_t *self);
//  The pinned bureau key's path ("" until set; ih_hubconf_check requires
//  it).
const char *ih_hubconf_bureau_key (ih_hubconf_t *self);
//  True if plain-text transport was asked for (development only).
bool ih_hubconf_plaintext (ih_hubconf_t *self);

//  Selftest
void ih_hubconf_test (bool verbose);

#endif
