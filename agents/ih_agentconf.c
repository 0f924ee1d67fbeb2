/*  =========================================================================
    ih_agentconf - the site agent daemon's configuration: every option once

    Design. One table, s_options, declares every option of incuhub-agent:
    the key under `agent` in the ZPL file, the long flag, whether it is a
    number (and its bounds) and whether it is required. The loader, the
    flag setter, the required check and the daemon's getopt table all use
    it. Defaults are not here on purpose: an unset option reaches
    ih_agent_new as NULL or 0, and ih_agent owns the defaults (so an
    embedding program gets the same ones).

    A load copies the current values, applies the file to the copy and
    swaps the copy in only when every key was valid. Invariant: a numeric
    value held by an ih_agentconf_t is an integer within its bounds.

    Error texts are those incuhub-agent printed before this module existed
    (tests match them): "<file>: unknown key 'agent/<key>'", "<file>:
    agent/<key>: <key> must be an integer in a..b, not 'x'", "--<flag>:
    <key> must be ...". A key without a value (a bare "site" line) counts
    as the empty string, like `site = ""`.
    =========================================================================*/
#include "ih_agentconf.h"

//  The options: one table, used by the config file and the flags alike.
typedef struct {
    const char *key;  //  name in the config file's agent section
    const char *flag; //  long flag
    bool numeric;     //  parsed as an integer within [min, max]
    long min, max;
    bool required;
} s_option_t;

enum {
    OPT_SITE,
    OPT_KEY,
    OPT_HUB,
    OPT_OUTBOX,
    OPT_LISTEN,
    OPT_WINDOW,
    OPT_ACK_TIMEOUT,
    OPT_OUTBOX_MAP,
    OPT_COUNT
};

static const s_option_t s_options[OPT_COUNT] = {
    [OPT_SITE] = {"site", "site", false, 0, 0, true},
    [OPT_KEY] = {"key", "key", false, 0, 0, true},
    [OPT_HUB] = {"hub", "hub", false, 0, 0, true},
    [OPT_OUTBOX] = {"outbox", "outbox", false, 0, 0, true},
    [OPT_LISTEN] = {"listen", "listen", false, 0, 0, false},
    //  Up to 4096 in flight: more buys no throughput on any link we run
    //  over, and every timeout resends the whole window.
    [OPT_WINDOW] = {"window", "window", true, 1, 4096, false},
    [OPT_ACK_TIMEOUT] = {"ack_timeout_ms", "ack-timeout", true, 10, 3600000,
                         false},
    //  The outbox's LMDB map in MiB (default 1024); 1 MiB to 1 TiB.
    [OPT_OUTBOX_MAP] = {"outbox_map_mb", "outbox-map", true, 1, 1048576, false},
};

_Static_assert(OPT_COUNT == IH_AGENTCONF_OPTIONS,
               "IH_AGENTCONF_OPTIONS must match the table");

//  One set of values; text[i] NULL means unset.
typedef struct {
    char *text[OPT_COUNT];  //  the value as given (owned), or NULL
    long number[OPT_COUNT]; //  parsed value of numeric options, else 0
} s_values_t;

struct _ih_agentconf_t {
    s_values_t values; //  current, all valid
};

//  Sets *error_p (if error_p) to a new formatted message; returns
//  IH_E_CONFIG.
static ih_err_t
s_fail (char **error_p, const char *format, ...)
{
    if (error_p) {
        va_list args;
        va_start (args, format);
        *error_p = zsys_vprintf (format, args);
        va_end (args);
    }
    return IH_E_CONFIG;
}

static void
s_values_free (s_values_t *values)
{
    for (int i = 0; i < OPT_COUNT; i++)
        zstr_free (&values->text[i]);
}

static void
s_values_copy (s_values_t *dest, const s_values_t *source)
{
    for (int i = 0; i < OPT_COUNT; i++) {
        dest->text[i] = NULL;
        if (source->text[i]) {
            dest->text[i] = strdup (source->text[i]);
            assert (dest->text[i]);
        }
        dest->number[i] = source->number[i];
    }
}

//  Sets option i of values from text; from names the source for the
//  error message. values is unchanged on error.
static ih_err_t
s_set (s_values_t *values, int i, const char *text, const char *from,
       char **error_p)
{
    if (!text)
        text = "";
    long number = 0;
    if (s_options[i].numeric) {
        char *end = NULL;
        errno = 0;
        number = strtol (text, &end, 10);
        if (errno || end == text || *end || number < s_options[i].min ||
            number > s_options[i].max)
            return s_fail (error_p,
                           "%s: %s must be an integer in %ld..%ld, not '%s'",
                           from, s_options[i].key, s_options[i].min,
                           s_options[i].max, text);
    }
    char *copy = strdup (text);
    assert (copy);
    zstr_free (&values->text[i]);
    values->text[i] = copy;
    values->number[i] = number;
    return IH_OK;
}

//  Applies root (a parsed ZPL tree) to values; origin names the source.
static ih_err_t
s_apply (s_values_t *values, zconfig_t *root, const char *origin,
         char **error_p)
{
    for (zconfig_t *section = zconfig_child (root); section;
         section = zconfig_next (section)) {
        const char *section_name = zconfig_name (section);
        if (!section_name || !streq (section_name, "agent"))
            return s_fail (error_p, "%s: unknown section '%s'", origin,
                           section_name ? section_name : "");
        for (zconfig_t *item = zconfig_child (section); item;
             item = zconfig_next (item)) {
            const char *name = zconfig_name (item);
            if (!name)
                name = "";
            int i;
            for (i = 0; i < OPT_COUNT; i++)
                if (streq (name, s_options[i].key))
                    break;
            if (i == OPT_COUNT || zconfig_child (item))
                return s_fail (error_p, "%s: unknown key 'agent/%s'", origin,
                               name);
            char *from = zsys_sprintf ("%s: agent/%s", origin, name);
            assert (from);
            ih_err_t rc =
                s_set (values, i, zconfig_value (item), from, error_p);
            zstr_free (&from);
            if (rc)
                return rc;
        }
    }
    return IH_OK;
}

//  Applies root to a fresh copy of self's values, swaps on success.
//  Takes ownership of *root_p.
static ih_err_t
s_load (ih_agentconf_t *self, zconfig_t **root_p, const char *origin,
        char **error_p)
{
    s_values_t fresh;
    s_values_copy (&fresh, &self->values);
    ih_err_t rc = s_apply (&fresh, *root_p, origin, error_p);
    zconfig_destroy (root_p);
    if (rc == IH_OK) {
        s_values_t old = self->values;
        self->values = fresh;
        s_values_free (&old);
    } else
        s_values_free (&fresh);
    return rc;
}

ih_agentconf_t *
ih_agentconf_new (void)
{
    ih_agentconf_t *self = (ih_agentconf_t *) zmalloc (sizeof (ih_agentconf_t));
    assert (self);
    return self;
}

void
ih_agentconf_destroy (ih_agentconf_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        s_values_free (&(*self_p)->values);
        free (*self_p);
        *self_p = NULL;
    }
}

ih_err_t
ih_agentconf_load_file (ih_agentconf_t *self, const char *path, char **error_p)
{
    assert (self);
    assert (path);
    if (!zsys_file_exists (path))
        return s_fail (error_p, "%s: cannot read config file", path);
    zconfig_t *root = zconfig_load (path);
    if (!root)
        return s_fail (error_p, "%s: not a valid ZPL file", path);
    return s_load (self, &root, path, error_p);
}

ih_err_t
ih_agentconf_load_string (ih_agentconf_t *self, const char *text,
                          char **error_p)
{
    assert (self);
    assert (text);
    zconfig_t *root = zconfig_str_load (text);
    if (!root)
        return s_fail (error_p, "<text>: not a valid ZPL file");
    return s_load (self, &root, "<text>", error_p);
}

ih_err_t
ih_agentconf_set (ih_agentconf_t *self, const char *key_or_flag,
                  const char *value, char **error_p)
{
    assert (self);
    assert (key_or_flag);
    for (int i = 0; i < OPT_COUNT; i++)
        if (streq (key_or_flag, s_options[i].key) ||
            streq (key_or_flag, s_options[i].flag)) {
            char *from = zsys_sprintf ("--%s", s_options[i].flag);
            assert (from);
            ih_err_t rc = s_set (&self->values, i, value, from, error_p);
            zstr_free (&from);
            return rc;
        }
    return s_fail (error_p, "--%s: unknown option", key_or_flag);
}

ih_err_t
ih_agentconf_check (ih_agentconf_t *self, char **error_p)
{
    assert (self);
    for (int i = 0; i < OPT_COUNT; i++)
        if (s_options[i].required && !self->values.text[i])
            return s_fail (error_p,
                           "missing required option %s (--%s or agent/%s in "
                           "the config file)",
                           s_options[i].key, s_options[i].flag,
                           s_options[i].key);
    return IH_OK;
}

const char *
ih_agentconf_flag (size_t index)
{
    return index < OPT_COUNT ? s_options[index].flag : NULL;
}

const char *
ih_agentconf_site (ih_agentconf_t *self)
{
    assert (self);
    return self->values.text[OPT_SITE];
}

const char *
ih_agentconf_key (ih_agentconf_t *self)
{
    assert (self);
    return self->values.text[OPT_KEY];
}

const char *
ih_agentconf_hub (ih_agentconf_t *self)
{
    assert (self);
    return self->values.text[OPT_HUB];
}

const char *
ih_agentconf_outbox (ih_agentconf_t *self)
{
    assert (self);
    return self->values.text[OPT_OUTBOX];
}

const char *
ih_agentconf_listen (ih_agentconf_t *self)
{
    assert (self);
    return self->values.text[OPT_LISTEN];
}

uint32_t
ih_agentconf_window (ih_agentconf_t *self)
{
    assert (self);
    return (uint32_t) self->values.number[OPT_WINDOW];
}

uint32_t
ih_agentconf_ack_timeout_ms (ih_agentconf_t *self)
{
    assert (self);
    return (uint32_t) self->values.number[OPT_ACK_TIMEOUT];
}

uint64_t
ih_agentconf_outbox_map_mb (ih_agentconf_t *self)
{
    assert (self);
    return (uint64_t) self->values.number[OPT_OUTBOX_MAP];
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
    ih_agent_config_t config;
    ih_agentconf_agent_config (conf, &config);
    assert (streq (config.site, "laoshan-inc-01"));
    assert (config.window == 256 && config.ack_timeout == 3000);
    assert (config.outbox_map == (uint64_t) 1024 << 20);

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
