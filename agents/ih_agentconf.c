/*  =========================================================================
    ih_agentconf - the site agent daemon's configuration: every option once

    Design. One table, s_options, declares every option of incuhub-agent:
    the key under `agent` in the ZPL file, the long flag and, for numbers,
    the bounds. The loader, the flag setter and the daemon's getopt table
    all use it; the machinery (loading into a fresh copy and swapping on
    success, setting by key or flag, error texts) is the shared engine
    ih_conftab (proto/). This file holds the table, the typed getters and
    the required-options check. Defaults are not here on purpose: an unset
    option reaches ih_agent_new as NULL or 0, and ih_agent owns the
    defaults (so an embedding program gets the same ones).

    Text values are IH_CONFTAB_STRING (checked later, by ih_agent_new; a
    bare "site" line counts as the empty string, like `site = ""`) and
    numbers IH_CONFTAB_INTEGER, whose message is the agent's historical
    "<key> must be an integer in a..b, not 'x'". A key with children is
    an unknown key (IH_CONFTAB_CHILDREN_UNKNOWN), as before. Invariant: a
    numeric value held by an ih_agentconf_t is an integer within its
    bounds.

    The transport rule (issue 4) is a cross-option check here, so that the
    daemon can name it before anything starts: with hub_key the agent is a
    CURVE client of the hub; without it the hub endpoint must stay on this
    machine (ih_curve_local). The listen endpoint is always plain text and
    so must always be local. ih_agent_new enforces the same rule for
    programs that embed the agent.
    =========================================================================*/
#include "ih_agentconf.h"
#include "ih_conftab.h"
#include "ih_curve.h"

enum {
    OPT_SITE,
    OPT_KEY,
    OPT_HUB,
    OPT_OUTBOX,
    OPT_LISTEN,
    OPT_WINDOW,
    OPT_ACK_TIMEOUT,
    OPT_OUTBOX_MAP,
    OPT_HUB_KEY,
    OPT_COUNT
};

//  The options: one table, used by the config file and the flags alike.
//  No defaults and no help lines (incuhub-agent's usage text is its own).
static const ih_conftab_option_t s_options[OPT_COUNT] = {
    [OPT_SITE] = {"site", "site", NULL, IH_CONFTAB_STRING, 0, 0, NULL},
    [OPT_KEY] = {"key", "key", NULL, IH_CONFTAB_STRING, 0, 0, NULL},
    [OPT_HUB] = {"hub", "hub", NULL, IH_CONFTAB_STRING, 0, 0, NULL},
    [OPT_OUTBOX] = {"outbox", "outbox", NULL, IH_CONFTAB_STRING, 0, 0, NULL},
    [OPT_LISTEN] = {"listen", "listen", NULL, IH_CONFTAB_STRING, 0, 0, NULL},
    //  Up to 4096 in flight: more buys no throughput on any link we run
    //  over, and every timeout resends the whole window.
    [OPT_WINDOW] = {"window", "window", NULL, IH_CONFTAB_INTEGER, 1, 4096,
                    NULL},
    [OPT_ACK_TIMEOUT] = {"ack_timeout_ms", "ack-timeout", NULL,
                         IH_CONFTAB_INTEGER, 10, 3600000, NULL},
    //  The outbox's LMDB map in MiB (default 1024); 1 MiB to 1 TiB.
    [OPT_OUTBOX_MAP] = {"outbox_map_mb", "outbox-map", NULL, IH_CONFTAB_INTEGER,
                        1, 1048576, NULL},
    //  The hub's public key file (NAME.pub): CURVE to the hub. Last, so
    //  that the older options keep their index.
    [OPT_HUB_KEY] = {"hub_key", "hub-key", NULL, IH_CONFTAB_STRING, 0, 0, NULL},
};

_Static_assert(OPT_COUNT == IH_AGENTCONF_OPTIONS,
               "IH_AGENTCONF_OPTIONS must match the table");

static const ih_conftab_table_t s_table = {s_options, OPT_COUNT,
                                           IH_CONFTAB_CHILDREN_UNKNOWN};

//  The options ih_agentconf_check requires, in the order it reports them.
static const int s_required[] = {OPT_SITE, OPT_KEY, OPT_HUB, OPT_OUTBOX};

struct _ih_agentconf_t {
    ih_conftab_t *values; //  current, all valid
};

ih_agentconf_t *
ih_agentconf_new (void)
{
    ih_agentconf_t *self = (ih_agentconf_t *) zmalloc (sizeof (ih_agentconf_t));
    assert (self);
    self->values = ih_conftab_new (&s_table);
    return self;
}

void
ih_agentconf_destroy (ih_agentconf_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        ih_conftab_destroy (&(*self_p)->values);
        free (*self_p);
        *self_p = NULL;
    }
}

ih_err_t
ih_agentconf_load_file (ih_agentconf_t *self, const char *path, char **error_p)
{
    assert (self);
    assert (path);
    //  The agent's historical text for a missing file
    if (!zsys_file_exists (path))
        return ih_conftab_fail (error_p, "%s: cannot read config file", path);
    return ih_conftab_load_file (self->values, "agent", path, error_p);
}

ih_err_t
ih_agentconf_load_string (ih_agentconf_t *self, const char *text,
                          char **error_p)
{
    assert (self);
    assert (text);
    return ih_conftab_load_string (self->values, "agent", text, error_p);
}

ih_err_t
ih_agentconf_set (ih_agentconf_t *self, const char *key_or_flag,
                  const char *value, char **error_p)
{
    assert (self);
    return ih_conftab_set (self->values, key_or_flag, value, error_p);
}

ih_err_t
ih_agentconf_check (ih_agentconf_t *self, char **error_p)
{
    assert (self);
    for (size_t i = 0; i < sizeof (s_required) / sizeof (s_required[0]); i++) {
        const ih_conftab_option_t *option = &s_options[s_required[i]];
        if (!ih_conftab_text (self->values, (size_t) s_required[i]))
            return ih_conftab_fail (
                error_p,
                "missing required option %s (--%s or agent/%s in the config "
                "file)",
                option->key, option->flag, option->key);
    }
    const char *hub = ih_conftab_text (self->values, OPT_HUB);
    const char *hub_key = ih_conftab_text (self->values, OPT_HUB_KEY);
    const char *listen = ih_conftab_text (self->values, OPT_LISTEN);
    if (hub_key && !*hub_key)
        return ih_conftab_fail (error_p, "hub_key is empty: give the hub's "
                                         "public key file (NAME.pub)");
    if (!hub_key && !ih_curve_local (hub))
        return ih_conftab_fail (
            error_p, "hub %s is not local: set hub_key (CURVE)", hub);
    if (listen && !ih_curve_local (listen))
        return ih_conftab_fail (error_p,
                                "listen %s is not local: the listen socket "
                                "is plain text, for publishers on this "
                                "machine (ipc:// or tcp://127.0.0.1)",
                                listen);
    return IH_OK;
}

const char *
ih_agentconf_flag (size_t index)
{
    return ih_conftab_flag (&s_table, index);
}

//  Getters: NULL or 0 when unset.
const char *
ih_agentconf_site (ih_agentconf_t *self)
{
    assert (self);
    return ih_conftab_text (self->values, OPT_SITE);
}

const char *
ih_agentconf_key (ih_agentconf_t *self)
{
    assert (self);
    return ih_conftab_text (self->values, OPT_KEY);
}

const char *
ih_agentconf_hub (ih_agentconf_t *self)
{
    assert (self);
    return ih_conftab_text (self->values, OPT_HUB);
}

const char *
ih_agentconf_outbox (ih_agentconf_t *self)
{
    assert (self);
    return ih_conftab_text (self->values, OPT_OUTBOX);
}

const char *
ih_agentconf_listen (ih_agentconf_t *self)
{
    assert (self);
    return ih_conftab_text (self->values, OPT_LISTEN);
}

uint32_t
ih_agentconf_window (ih_agentconf_t *self)
{
    assert (self);
    return (uint32_t) ih_conftab_number (self->values, OPT_WINDOW);
}

uint32_t
ih_agentconf_ack_timeout_ms (ih_agentconf_t *self)
{
    assert (self);
    return (uint32_t) ih_conftab_number (self->values, OPT_ACK_TIMEOUT);
}

uint64_t
ih_agentconf_outbox_map_mb (ih_agentconf_t *self)
{
    assert (self);
    return ih_conftab_number (self->values, OPT_OUTBOX_MAP);
}

const char *
ih_agentconf_hub_key (ih_agentconf_t *self)
{
    assert (self);
    return ih_conftab_text (self->values, OPT_HUB_KEY);
}

void
ih_agentconf_agent_config (ih_agentconf_t *self, ih_agent_config_t *config)
{
    assert (self);
    assert (config);
    *config = (ih_agent_config_t){
        .site = ih_agentconf_site (self),
        .key = ih_agentconf_key (self),
        .hub = ih_agentconf_hub (self),
        .outbox = ih_agentconf_outbox (self),
        .listen = ih_agentconf_listen (self),
        .window = ih_agentconf_window (self),
        .ack_timeout = ih_agentconf_ack_timeout_ms (self),
        .outbox_map = ih_agentconf_outbox_map_mb (self) << 20,
        .hub_key = ih_agentconf_hub_key (self),
    };
}

//  --------------------------------------------------------------------------
//  Selftest

//  Loads text into a config holding site "before"; expects failure with
//  exactly the message wanted and the config unchanged.
static void
s_expect_error (const char *text, const char *wanted, bool verbose)
{
    ih_agentconf_t *conf = ih_agentconf_new ();
    assert (ih_agentconf_set (conf, "site", "before", NULL) == IH_OK);
    char *error = NULL;
    ih_err_t rc = ih_agentconf_load_string (conf, text, &error);
    if (verbose)
        zsys_debug ("agentconf: %s", error ? error : "(no error)");
    assert (rc == IH_E_CONFIG);
    assert (error);
    if (!streq (error, wanted)) {
        fprintf (stderr, "agentconf: '%s' is not '%s'\n", error, wanted);
        assert (false);
    }
    zstr_free (&error);
    assert (streq (ih_agentconf_site (conf), "before"));
    assert (ih_agentconf_window (conf) == 0);
    assert (ih_agentconf_load_string (conf, text, NULL) == IH_E_CONFIG);
    ih_agentconf_destroy (&conf);
}

void
ih_agentconf_test (bool verbose)
{
    printf (" * ih_agentconf: ");

    //  Nothing set: the required check names the first missing option
    ih_agentconf_t *conf = ih_agentconf_new ();
    assert (conf);
    assert (ih_agentconf_site (conf) == NULL);
    assert (ih_agentconf_listen (conf) == NULL);
    assert (ih_agentconf_window (conf) == 0);
    assert (ih_agentconf_ack_timeout_ms (conf) == 0);
    assert (ih_agentconf_outbox_map_mb (conf) == 0);
    char *error = NULL;
    assert (ih_agentconf_check (conf, &error) == IH_E_CONFIG);
    assert (streq (error, "missing required option site (--site or "
                          "agent/site in the config file)"));
    zstr_free (&error);
    assert (streq (ih_agentconf_flag (0), "site"));
    assert (streq (ih_agentconf_flag (6), "ack-timeout"));
    assert (streq (ih_agentconf_flag (8), "hub-key"));
    assert (ih_agentconf_flag (IH_AGENTCONF_OPTIONS) == NULL);

    //  A full file, like config/agent-incubator.cfg
    assert (ih_agentconf_load_string (
                conf,
                "#   an incubator\n"
                "agent\n"
                "    site = \"laoshan-inc-01\"\n"
                "    key = \"keys/laoshan-inc-01.key\"\n"
                "    hub = \"tcp://127.0.0.1:7700\"\n"
                "    outbox = \"/var/lib/incuhub-agent/laoshan-inc-01\"\n"
                "    listen = \"ipc:///run/incuhub/laoshan-inc-01.sock\"\n"
                "    window = 256\n"
                "    ack_timeout_ms = 3000\n"
                "    outbox_map_mb = 1024\n",
                &error) == IH_OK);
    assert (error == NULL);
    assert (ih_agentconf_check (conf, NULL) == IH_OK);
    assert (streq (ih_agentconf_site (conf), "laoshan-inc-01"));
    assert (streq (ih_agentconf_key (conf), "keys/laoshan-inc-01.key"));
    assert (streq (ih_agentconf_hub (conf), "tcp://127.0.0.1:7700"));
    assert (streq (ih_agentconf_outbox (conf),
                   "/var/lib/incuhub-agent/laoshan-inc-01"));
    assert (streq (ih_agentconf_listen (conf),
                   "ipc:///run/incuhub/laoshan-inc-01.sock"));
    assert (ih_agentconf_window (conf) == 256);
    assert (ih_agentconf_ack_timeout_ms (conf) == 3000);
    assert (ih_agentconf_outbox_map_mb (conf) == 1024);
    assert (ih_agentconf_hub_key (conf) == NULL);
    ih_agent_config_t config;
    ih_agentconf_agent_config (conf, &config);
    assert (streq (config.site, "laoshan-inc-01"));
    assert (config.window == 256 && config.ack_timeout == 3000);
    assert (config.outbox_map == (uint64_t) 1024 << 20);
    assert (config.hub_key == NULL);

    //  The transport rule: a hub elsewhere needs hub_key (CURVE); the
    //  listen socket must stay on this machine
    assert (ih_agentconf_set (conf, "hub", "tcp://10.1.2.3:5555", NULL) ==
            IH_OK);
    assert (ih_agentconf_check (conf, &error) == IH_E_CONFIG);
    assert (streq (error, "hub tcp://10.1.2.3:5555 is not local: set hub_key "
                          "(CURVE)"));
    zstr_free (&error);
    assert (ih_agentconf_set (conf, "hub-key", "keys/hub.pub", NULL) == IH_OK);
    assert (streq (ih_agentconf_hub_key (conf), "keys/hub.pub"));
    assert (ih_agentconf_check (conf, NULL) == IH_OK);
    ih_agentconf_agent_config (conf, &config);
    assert (streq (config.hub_key, "keys/hub.pub"));
    assert (ih_agentconf_set (conf, "listen", "tcp://*:7701", NULL) == IH_OK);
    assert (ih_agentconf_check (conf, &error) == IH_E_CONFIG);
    assert (strstr (error, "listen tcp://*:7701 is not local"));
    zstr_free (&error);
    assert (ih_agentconf_set (conf, "hub_key", "", NULL) == IH_OK);
    assert (ih_agentconf_set (conf, "listen", "ipc:///tmp/a.sock", NULL) ==
            IH_OK);
    assert (ih_agentconf_check (conf, &error) == IH_E_CONFIG);
    assert (strstr (error, "hub_key is empty"));
    zstr_free (&error);
    assert (ih_agentconf_load_string (conf,
                                      "agent\n"
                                      "    hub = \"tcp://127.0.0.1:7700\"\n"
                                      "    hub_key = \"keys/hub.pub\"\n"
                                      "    listen = \"ipc:///run/a.sock\"\n",
                                      NULL) == IH_OK);
    assert (ih_agentconf_check (conf, NULL) == IH_OK);

    //  A failed load changes nothing, not even the keys before the bad one
    assert (ih_agentconf_load_string (
                conf, "agent\n    window = 8\n    window = 4097\n", &error) ==
            IH_E_CONFIG);
    assert (streq (error, "<text>: agent/window: window must be an integer "
                          "in 1..4096, not '4097'"));
    zstr_free (&error);
    assert (ih_agentconf_window (conf) == 256);
    assert (ih_agentconf_load_string (conf, "agent\n    window = 4096\n",
                                      NULL) == IH_OK);
    assert (ih_agentconf_window (conf) == 4096);
    assert (streq (ih_agentconf_site (conf), "laoshan-inc-01"));

    //  Flags, by flag or by key
    assert (ih_agentconf_set (conf, "ack-timeout", "10", NULL) == IH_OK);
    assert (ih_agentconf_ack_timeout_ms (conf) == 10);
    assert (ih_agentconf_set (conf, "outbox_map_mb", "1048576", NULL) == IH_OK);
    assert (ih_agentconf_outbox_map_mb (conf) == 1048576);
    assert (ih_agentconf_set (conf, "ack-timeout", "9", &error) == IH_E_CONFIG);
    assert (streq (error, "--ack-timeout: ack_timeout_ms must be an integer "
                          "in 10..3600000, not '9'"));
    zstr_free (&error);
    assert (ih_agentconf_set (conf, "outbox-map", "0", NULL) == IH_E_CONFIG);
    assert (ih_agentconf_set (conf, "window", "", NULL) == IH_E_CONFIG);
    assert (ih_agentconf_set (conf, "window", "12abc", NULL) == IH_E_CONFIG);
    assert (ih_agentconf_set (conf, "window", "99999999999999999999999999",
                              NULL) == IH_E_CONFIG);
    assert (ih_agentconf_set (conf, "window", NULL, NULL) == IH_E_CONFIG);
    assert (ih_agentconf_window (conf) == 4096);
    assert (ih_agentconf_ack_timeout_ms (conf) == 10);
    assert (ih_agentconf_set (conf, "bogus", "1", &error) == IH_E_CONFIG);
    assert (streq (error, "--bogus: unknown option"));
    zstr_free (&error);
    assert (ih_agentconf_set (conf, "listen", "tcp://127.0.0.1:*", NULL) ==
            IH_OK);
    assert (streq (ih_agentconf_listen (conf), "tcp://127.0.0.1:*"));
    ih_agentconf_destroy (&conf);
    ih_agentconf_destroy (&conf);
    assert (conf == NULL);

    //  Every error of the loader
    s_expect_error ("agent\n    sit = \"x\"\n",
                    "<text>: unknown key 'agent/sit'", verbose);
    s_expect_error ("agent\n    ack-timeout = 100\n",
                    "<text>: unknown key 'agent/ack-timeout'", verbose);
    s_expect_error ("agent\n    site = \"x\"\n        sub = 1\n",
                    "<text>: unknown key 'agent/site'", verbose);
    s_expect_error ("hub\n    data = \"/x\"\n", "<text>: unknown section 'hub'",
                    verbose);
    s_expect_error ("agent\n    window = 0\n",
                    "<text>: agent/window: window must be an integer in "
                    "1..4096, not '0'",
                    verbose);
    s_expect_error ("agent\n    window = many\n",
                    "<text>: agent/window: window must be an integer in "
                    "1..4096, not 'many'",
                    verbose);
    s_expect_error ("agent\n    window\n",
                    "<text>: agent/window: window must be an integer in "
                    "1..4096, not ''",
                    verbose);
    s_expect_error ("agent\n    ack_timeout_ms = 3600001\n",
                    "<text>: agent/ack_timeout_ms: ack_timeout_ms must be an "
                    "integer in 10..3600000, not '3600001'",
                    verbose);
    s_expect_error ("agent\n    outbox_map_mb = -1\n",
                    "<text>: agent/outbox_map_mb: outbox_map_mb must be an "
                    "integer in 1..1048576, not '-1'",
                    verbose);
    s_expect_error ("agent\n  site = 1\n", "<text>: not a valid ZPL file",
                    verbose);

    //  A bare key is an empty string (it used to crash the daemon)
    conf = ih_agentconf_new ();
    assert (ih_agentconf_load_string (conf, "agent\n    listen\n", NULL) ==
            IH_OK);
    assert (streq (ih_agentconf_listen (conf), ""));

    //  Files: a good one, a bad one (the message names file:key), a
    //  missing one
    char dir[] = "/tmp/ih-agentconf-XXXXXX";
    assert (mkdtemp (dir));
    char *path = zsys_sprintf ("%s/agent.cfg", dir);
    FILE *file = fopen (path, "w");
    assert (file);
    fprintf (file, "agent\n    site = \"s1\"\n    window = 64\n");
    fclose (file);
    assert (ih_agentconf_load_file (conf, path, &error) == IH_OK);
    assert (streq (ih_agentconf_site (conf), "s1"));
    assert (ih_agentconf_window (conf) == 64);
    assert (ih_agentconf_check (conf, &error) == IH_E_CONFIG);
    assert (streq (error, "missing required option key (--key or agent/key "
                          "in the config file)"));
    zstr_free (&error);
    file = fopen (path, "w");
    assert (file);
    fprintf (file, "agent\n    site = \"s2\"\n    keyfile = \"k\"\n");
    fclose (file);
    assert (ih_agentconf_load_file (conf, path, &error) == IH_E_CONFIG);
    char *expected = zsys_sprintf ("%s: unknown key 'agent/keyfile'", path);
    assert (streq (error, expected));
    zstr_free (&expected);
    zstr_free (&error);
    assert (streq (ih_agentconf_site (conf), "s1"));
    unlink (path);
    assert (ih_agentconf_load_file (conf, path, &error) == IH_E_CONFIG);
    expected = zsys_sprintf ("%s: cannot read config file", path);
    assert (streq (error, expected));
    zstr_free (&expected);
    zstr_free (&error);
    ih_agentconf_destroy (&conf);
    zstr_free (&path);
    rmdir (dir);

    printf ("OK\n");
}
