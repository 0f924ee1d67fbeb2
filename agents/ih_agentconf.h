/*  =========================================================================
    ih_agentconf - the site agent daemon's configuration: every option once

    Where it sits: before the agent starts. incuhub-agent (agents/main.c)
    reads a ZPL file (section `agent`, see config/agent-*.cfg) into an
    ih_agentconf_t, lets command-line flags override it, checks that the
    required options are set and turns the values into the
    ih_agent_config_t that ih_agent_new takes. Every option is declared
    once, in ih_agentconf.c's table, with its key, flag, bounds and
    whether it is required; the loader, the flag setter and the daemon's
    getopt table all read it. The fuzz target fuzz_agentconf feeds
    arbitrary ZPL text to ih_agentconf_load_string.

    An option not given stays unset (NULL, or 0 for numbers), which
    ih_agent_new reads as "use the default". Loading parses into a fresh
    copy of the current values and replaces them only if the whole text
    is valid: on any error the object is unchanged. Errors are IH_E_CONFIG
    plus a malloc'ed message (caller frees) naming the source, e.g.
    "agent.cfg: unknown key 'agent/sit'" or "--window: window must be an
    integer in 1..4096, not '0'"; incuhub-agent prints it after
    "incuhub-agent: " and exits 2.
    =========================================================================*/
#ifndef IH_AGENTCONF_H_INCLUDED
#define IH_AGENTCONF_H_INCLUDED

#include <czmq.h>
#include "ih_err.h"
#include "ih_agent.h"

//  Number of options (site, key, hub, outbox, listen, window,
//  ack_timeout_ms, outbox_map_mb, hub_key, in this order).
#define IH_AGENTCONF_OPTIONS 9

typedef struct _ih_agentconf_t ih_agentconf_t;

//  Creates a configuration with every option unset. Never NULL.
ih_agentconf_t *ih_agentconf_new (void);

//  Frees; sets *self_p to NULL; safe to call twice.
void ih_agentconf_destroy (ih_agentconf_t **self_p);

//  Reads the ZPL file path and applies its `agent` keys over the current
//  values. Errors (IH_E_CONFIG, *error_p set to a message the caller
//  frees, self unchanged): the file does not exist or is not ZPL, it has
//  another section, an unknown key or a key with children, or a number
//  is not an integer within its bounds. Text values are not checked here
//  (ih_agent_new checks endpoints, the key and the outbox). error_p may
//  be NULL.
ih_err_t ih_agentconf_load_file (ih_agentconf_t *self, const char *path,
                                 char **error_p);

//  Same as ih_agentconf_load_file for ZPL text held in memory (messages
//  name the source "<text>"). Writes nothing.
ih_err_t ih_agentconf_load_string (ih_agentconf_t *self, const char *text,
                                   char **error_p);

//  Sets one option from the command line. key_or_flag is a config key
//  ("ack_timeout_ms") or a flag without dashes ("ack-timeout"). Errors
//  (IH_E_CONFIG, message "--<flag>: ...", self unchanged): unknown
//  option, number not an integer within its bounds.
ih_err_t ih_agentconf_set (ih_agentconf_t *self, const char *key_or_flag,
                           const char *value, char **error_p);

//  Checks that every required option (site, key, hub, outbox) is set,
//  then the transport rule: without hub_key the hub endpoint must be
//  local (ih_curve_local), the listen endpoint (plain text) must always
//  be, and hub_key, if set, must not be empty. Returns IH_OK or
//  IH_E_CONFIG with a message naming the first fault, e.g. "missing
//  required option site (...)" or "hub tcp://10.1.2.3:5555 is not local:
//  set hub_key (CURVE)". Key files are not read here (ih_agent_new does).
ih_err_t ih_agentconf_check (ih_agentconf_t *self, char **error_p);

//  The long flag (without dashes) of option index, in table order, or
//  NULL if index >= IH_AGENTCONF_OPTIONS.
const char *ih_agentconf_flag (size_t index);

//  Getters. Strings are borrowed (valid until the next successful load or
//  set, or destroy) and NULL when unset; numbers are 0 when unset.
const char *ih_agentconf_site (ih_agentconf_t *self);
const char *ih_agentconf_key (ih_agentconf_t *self);
const char *ih_agentconf_hub (ih_agentconf_t *self);
const char *ih_agentconf_outbox (ih_agentconf_t *self);
const char *ih_agentconf_listen (ih_agentconf_t *self);
uint32_t ih_agentconf_window (ih_agentconf_t *self);
uint32_t ih_agentconf_ack_timeout_ms (ih_agentconf_t *self);
uint64_t ih_agentconf_outbox_map_mb (ih_agentconf_t *self);
const char *ih_agentconf_hub_key (ih_agentconf_t *self);

//  Fills config for ih_agent_new; its strings borrow from self.
void ih_agentconf_agent_config (ih_agentconf_t *self,
                                ih_agent_config_t *config);

//  Selftest
void ih_agentconf_test (bool verbose);

#endif
