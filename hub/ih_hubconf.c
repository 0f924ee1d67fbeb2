/*  =========================================================================
    ih_hubconf - the hub daemon's configuration: every option once

    Design. One table, s_options, declares every option of incuhubd: the
    key under `hub` in the ZPL file, the long flag, the default, the kind
    and, for numbers, the bounds. Nothing else in the hub names an option:
    the file loader, the flag setter, the help text and incuhubd's getopt
    table are all driven by it, so an option cannot be accepted in one
    place and rejected in another.

    The machinery (validating, loading into a fresh copy and swapping on
    success, setting by key or flag, help lines, error texts) is the
    shared engine ih_conftab (proto/); this file holds the table, the
    typed getters and the cross-option checks (map_max vs map_size; the
    pinned bureau key; CURVE needs the hub key, plain text needs local
    endpoints). Invariant: every value held by an ih_hubconf_t has passed
    its check, so the getters never see an unchecked string.

    `plaintext` is a switch: in the file `plaintext = 1` (or 0), on the
    command line `--plaintext` without a value (incuhubd asks
    ih_hubconf_flag_switch which flags take none and passes "1").
    =========================================================================*/
#include "ih_hubconf.h"
#include "ih_conftab.h"
#include "ih_curve.h"
#include "ih_ingest.h"

enum {
    S_DATA,
    S_REGISTRY,
    S_INGEST,
    S_PUB,
    S_MAP_SIZE,
    S_MAP_MAX,
    S_PUB_HWM,
    S_BATCH,
    S_REPLAY,
    S_KEY,
    S_CHECKPOINT_EVENTS,
    S_CHECKPOINT_MS,
    S_BUREAU_KEY,
    S_PLAINTEXT,
    S_OPTIONS
};

//  Every option, declared once: config key, flag, default, kind, bounds.
static const ih_conftab_option_t s_options[S_OPTIONS] = {
    {"data", "data", "/var/lib/incuhub", IH_CONFTAB_PATH, 0, 0,
     "directory of the LMDB event log"},
    {"registry", "registry", "", IH_CONFTAB_OPTIONAL_PATH, 0, 0,
     "the bureau's registry journal, read at start and when it changes "
     "(empty: none)"},
    {"ingest", "ingest", "tcp://*:7700", IH_CONFTAB_ENDPOINT, 0, 0,
     "ROUTER endpoint agents send events to"},
    {"pub", "pub", "tcp://*:7701", IH_CONFTAB_ENDPOINT, 0, 0,
     "PUB endpoint stored events are published on"},
    {"map_size_mb", "map-size", "1024", IH_CONFTAB_NUMBER, 1, 1048576,
     "LMDB map size in MiB (1..1048576)"},
    {"map_max_mb", "map-max", "0", IH_CONFTAB_NUMBER, 0, 1048576,
     "grow a full map up to this many MiB; 0 = never grow"},
    {"pub_hwm", "pub-hwm", "1000", IH_CONFTAB_NUMBER, 1, 10000000,
     "events queued per subscriber before the hub drops for it"},
    {"batch_max", "batch", "1024", IH_CONFTAB_NUMBER, 1, IH_INGEST_BATCH_MAX,
     "events per group commit (1..65536)"},
    //  Optional: empty means "not set", the feature is off
    {"replay", "replay", "", IH_CONFTAB_OPTIONAL_ENDPOINT, 0, 0,
     "ROUTER endpoint of the replay service (empty: off)"},
    {"key", "key", "", IH_CONFTAB_OPTIONAL_PATH, 0, 0,
     "the hub's secret key (NAME.key): CURVE and signed checkpoints "
     "(required unless --plaintext)"},
    {"checkpoint_events", "checkpoint-events", "1000", IH_CONFTAB_NUMBER, 1,
     1000000000, "sign a checkpoint at least every N events"},
    {"checkpoint_ms", "checkpoint-ms", "5000", IH_CONFTAB_NUMBER, 100, 86400000,
     "and at least every MS ms while events arrive"},
    //  Required (ih_hubconf_check): the pinned root of the registry
    {"bureau_key", "bureau-key", "", IH_CONFTAB_OPTIONAL_PATH, 0, 0,
     "the bureau's public key (NAME.pub), pinned (required)"},
    //  A switch: --plaintext takes no value (ih_hubconf_flag_switch)
    {"plaintext", "plaintext", "0", IH_CONFTAB_NUMBER, 0, 1,
     "plain-text transport, ipc:// or loopback only (development)"},
};

_Static_assert(S_OPTIONS == IH_HUBCONF_OPTIONS,
               "IH_HUBCONF_OPTIONS must match the table");

static const ih_conftab_table_t s_table = {s_options, S_OPTIONS, 0};

struct _ih_hubconf_t {
    ih_conftab_t *values; //  current, all valid
};

ih_hubconf_t *
ih_hubconf_new (void)
{
    ih_hubconf_t *self = (ih_hubconf_t *) zmalloc (sizeof (ih_hubconf_t));
    assert (self);
    self->values = ih_conftab_new (&s_table);
    return self;
}

void
ih_hubconf_destroy (ih_hubconf_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        ih_conftab_destroy (&(*self_p)->values);
        free (*self_p);
        *self_p = NULL;
    }
}

ih_err_t
ih_hubconf_load_file (ih_hubconf_t *self, const char *path, char **error_p)
{
    assert (self);
    assert (path);
    return ih_conftab_load_file (self->values, "hub", path, error_p);
}

ih_err_t
ih_hubconf_load_string (ih_hubconf_t *self, const char *text, char **error_p)
{
    assert (self);
    assert (text);
    return ih_conftab_load_string (self->values, "hub", text, error_p);
}

ih_err_t
ih_hubconf_set (ih_hubconf_t *self, const char *key_or_flag, const char *value,
                char **error_p)
{
    assert (self);
    return ih_conftab_set (self->values, key_or_flag, value, error_p);
}

//  Plain text: every endpoint must stay on this machine.
static ih_err_t
s_check_local (const char *flag, const char *endpoint, char **error_p)
{
    if (!*endpoint || ih_curve_local (endpoint))
        return IH_OK;
    return ih_conftab_fail (error_p,
                            "plaintext is allowed only on ipc:// or loopback "
                            "endpoints: --%s %s",
                            flag, endpoint);
}

ih_err_t
ih_hubconf_check (ih_hubconf_t *self, char **error_p)
{
    assert (self);
    uint64_t map_max = ih_conftab_number (self->values, S_MAP_MAX);
    uint64_t map_size = ih_conftab_number (self->values, S_MAP_SIZE);
    if (map_max && map_max < map_size)
        return ih_conftab_fail (error_p,
                                "--map-max (%" PRIu64
                                " MiB) is below --map-size (%" PRIu64 " MiB)",
                                map_max, map_size);
    if (!*ih_hubconf_bureau_key (self))
        return ih_conftab_fail (error_p,
                                "--bureau-key is required: the bureau's "
                                "public key (NAME.pub), pinned");
    if (ih_hubconf_plaintext (self)) {
        ih_err_t err =
            s_check_local ("ingest", ih_hubconf_ingest (self), error_p);
        if (!err)
            err = s_check_local ("pub", ih_hubconf_pub (self), error_p);
        if (!err)
            err = s_check_local ("replay", ih_hubconf_replay (self), error_p);
        return err;
    }
    if (!*ih_hubconf_key (self))
        return ih_conftab_fail (error_p,
                                "--key is required for CURVE: the hub's secret "
                                "key (NAME.key); or --plaintext on ipc:// or "
                                "loopback endpoints");
    return IH_OK;
}

bool
ih_hubconf_flag_switch (size_t index)
{
    return index == S_PLAINTEXT;
}

const char *
ih_hubconf_flag (size_t index)
{
    return ih_conftab_flag (&s_table, index);
}

void
ih_hubconf_help (FILE *out)
{
    ih_conftab_help (&s_table, out);
}

//  Getters: every hub option has a default, so text is never NULL.
#define S_TEXT_GETTER(name, index)                                             \
    const char *ih_hubconf_##name (ih_hubconf_t *self)                         \
    {                                                                          \
        assert (self);                                                         \
        return ih_conftab_text (self->values, index);                          \
    }
#define S_NUMBER_GETTER(name, index)                                           \
    uint64_t ih_hubconf_##name (ih_hubconf_t *self)                            \
    {                                                                          \
        assert (self);                                                         \
        return ih_conftab_number (self->values, index);                        \
    }

S_TEXT_GETTER (data, S_DATA)
S_TEXT_GETTER (registry, S_REGISTRY)
S_TEXT_GETTER (ingest, S_INGEST)
S_TEXT_GETTER (pub, S_PUB)
S_NUMBER_GETTER (map_size_mb, S_MAP_SIZE)
S_NUMBER_GETTER (map_max_mb, S_MAP_MAX)
S_NUMBER_GETTER (pub_hwm, S_PUB_HWM)
S_NUMBER_GETTER (batch_max, S_BATCH)
S_TEXT_GETTER (replay, S_REPLAY)
S_TEXT_GETTER (key, S_KEY)
S_NUMBER_GETTER (checkpoint_events, S_CHECKPOINT_EVENTS)
S_NUMBER_GETTER (checkpoint_ms, S_CHECKPOINT_MS)
S_TEXT_GETTER (bureau_key, S_BUREAU_KEY)

bool
ih_hubconf_plaintext (ih_hubconf_t *self)
{
    assert (self);
    return ih_conftab_number (self->values, S_PLAINTEXT) != 0;
}

//  --------------------------------------------------------------------------
//  Selftest

//  Loads text into a fresh config; expects failure with a message that
//  contains needle, and the defaults left in place.
static void
s_expect_error (const char *text, const char *needle, bool verbose)
{
    ih_hubconf_t *conf = ih_hubconf_new ();
    char *error = NULL;
    ih_err_t rc = ih_hubconf_load_string (conf, text, &error);
    if (verbose)
        zsys_debug ("hubconf: %s", error ? error : "(no error)");
    assert (rc == IH_E_CONFIG);
    assert (error);
    if (!strstr (error, needle)) {
        fprintf (stderr, "hubconf: '%s' lacks '%s'\n", error, needle);
        assert (false);
    }
    zstr_free (&error);
    //  Unchanged: still the defaults
    assert (streq (ih_hubconf_data (conf), "/var/lib/incuhub"));
    assert (streq (ih_hubconf_ingest (conf), "tcp://*:7700"));
    assert (ih_hubconf_map_size_mb (conf) == 1024);
    assert (ih_hubconf_batch_max (conf) == 1024);
    //  error_p may be NULL
    assert (ih_hubconf_load_string (conf, text, NULL) == IH_E_CONFIG);
    ih_hubconf_destroy (&conf);
}

void
ih_hubconf_test (bool verbose)
{
    printf (" * ih_hubconf: ");

    //  Defaults
    ih_hubconf_t *conf = ih_hubconf_new ();
    assert (conf);
    assert (streq (ih_hubconf_data (conf), "/var/lib/incuhub"));
    assert (streq (ih_hubconf_registry (conf), ""));
    assert (streq (ih_hubconf_ingest (conf), "tcp://*:7700"));
    assert (streq (ih_hubconf_pub (conf), "tcp://*:7701"));
    assert (ih_hubconf_map_size_mb (conf) == 1024);
    assert (ih_hubconf_map_max_mb (conf) == 0);
    assert (ih_hubconf_pub_hwm (conf) == 1000);
    assert (ih_hubconf_batch_max (conf) == 1024);
    assert (streq (ih_hubconf_bureau_key (conf), ""));
    assert (!ih_hubconf_plaintext (conf));
    assert (streq (ih_hubconf_flag (0), "data"));
    assert (streq (ih_hubconf_flag (IH_HUBCONF_OPTIONS - 1), "plaintext"));
    assert (ih_hubconf_flag (IH_HUBCONF_OPTIONS) == NULL);
    for (size_t i = 0; i < IH_HUBCONF_OPTIONS; i++)
        assert (ih_hubconf_flag_switch (i) ==
                streq (ih_hubconf_flag (i), "plaintext"));

    //  The security checks: the bureau key is pinned, CURVE needs the
    //  hub's key, plain text needs endpoints that stay on this machine
    char *error = NULL;
    assert (ih_hubconf_check (conf, &error) == IH_E_CONFIG);
    assert (strncmp (error, "--bureau-key is required", 24) == 0);
    zstr_free (&error);
    assert (ih_hubconf_set (conf, "bureau-key", "/etc/ih/qd-bureau.pub",
                            NULL) == IH_OK);
    assert (streq (ih_hubconf_bureau_key (conf), "/etc/ih/qd-bureau.pub"));
    assert (ih_hubconf_check (conf, &error) == IH_E_CONFIG);
    assert (strncmp (error, "--key is required for CURVE", 27) == 0);
    zstr_free (&error);
    assert (ih_hubconf_set (conf, "key", "/etc/ih/hub.key", NULL) == IH_OK);
    assert (ih_hubconf_check (conf, NULL) == IH_OK);
    //  tcp://*:7700 is not local
    assert (ih_hubconf_set (conf, "plaintext", "1", NULL) == IH_OK);
    assert (ih_hubconf_plaintext (conf));
    assert (ih_hubconf_check (conf, &error) == IH_E_CONFIG);
    assert (streq (error, "plaintext is allowed only on ipc:// or loopback "
                          "endpoints: --ingest tcp://*:7700"));
    zstr_free (&error);
    assert (ih_hubconf_set (conf, "ingest", "ipc:///tmp/ih-in", NULL) == IH_OK);
    assert (ih_hubconf_set (conf, "pub", "tcp://0.0.0.0:5556", NULL) == IH_OK);
    assert (ih_hubconf_check (conf, &error) == IH_E_CONFIG);
    assert (streq (error, "plaintext is allowed only on ipc:// or loopback "
                          "endpoints: --pub tcp://0.0.0.0:5556"));
    zstr_free (&error);
    assert (ih_hubconf_set (conf, "pub", "tcp://127.0.0.1:5556", NULL) ==
            IH_OK);
    assert (ih_hubconf_set (conf, "replay", "tcp://10.0.0.1:5557", NULL) ==
            IH_OK);
    assert (ih_hubconf_check (conf, &error) == IH_E_CONFIG);
    assert (streq (error, "plaintext is allowed only on ipc:// or loopback "
                          "endpoints: --replay tcp://10.0.0.1:5557"));
    zstr_free (&error);
    assert (ih_hubconf_set (conf, "replay", "", NULL) == IH_OK);
    //  Plain text needs no hub key
    assert (ih_hubconf_set (conf, "key", "", NULL) == IH_OK);
    assert (ih_hubconf_check (conf, NULL) == IH_OK);
    assert (ih_hubconf_set (conf, "plaintext", "2", &error) == IH_E_CONFIG);
    assert (streq (error, "--plaintext: '2' is not a number in 0..1"));
    zstr_free (&error);
    assert (ih_hubconf_load_string (conf, "hub\n    plaintext = 0\n", NULL) ==
            IH_OK);
    assert (!ih_hubconf_plaintext (conf));
    assert (ih_hubconf_check (conf, &error) == IH_E_CONFIG);
    assert (strncmp (error, "--key is required for CURVE", 27) == 0);
    zstr_free (&error);
    ih_hubconf_destroy (&conf);
    conf = ih_hubconf_new ();
    {
        //  Optional options: empty means off; a set value is still checked
        ih_hubconf_t *conf = ih_hubconf_new ();
        char *error = NULL;
        assert (streq (ih_hubconf_replay (conf), ""));
        assert (streq (ih_hubconf_key (conf), ""));
        assert (ih_hubconf_set (conf, "replay", "", &error) == IH_OK);
        assert (ih_hubconf_set (conf, "replay", "nonsense", &error) ==
                IH_E_CONFIG);
        assert (error && strstr (error, "not a ZeroMQ endpoint"));
        zstr_free (&error);
        assert (ih_hubconf_set (conf, "replay", "tcp://*:7702", &error) ==
                IH_OK);
        assert (streq (ih_hubconf_replay (conf), "tcp://*:7702"));
        assert (ih_hubconf_set (conf, "checkpoint-ms", "10", &error) ==
                IH_E_CONFIG);
        zstr_free (&error);
        assert (ih_hubconf_checkpoint_events (conf) == 1000);
        ih_hubconf_destroy (&conf);
    }
    assert (ih_hubconf_flag (IH_HUBCONF_OPTIONS) == NULL);

    //  A full valid file, then a partial one on top: unmentioned keys keep
    //  their values
    assert (ih_hubconf_load_string (conf,
                                    "#   comment\n"
                                    "hub\n"
                                    "    data = \"/tmp/ih-data\"\n"
                                    "    registry = \"/tmp/reg.journal\"\n"
                                    "    bureau_key = \"/tmp/qd-bureau.pub\"\n"
                                    "    key = \"/tmp/hub.key\"\n"
                                    "    ingest = \"ipc:///tmp/in\"\n"
                                    "    pub = \"tcp://127.0.0.1:*\"\n"
                                    "    map_size_mb = 16\n"
                                    "    map_max_mb = 64\n"
                                    "    pub_hwm = 1\n"
                                    "    batch_max = 65536\n",
                                    &error) == IH_OK);
    assert (error == NULL);
    assert (streq (ih_hubconf_data (conf), "/tmp/ih-data"));
    assert (streq (ih_hubconf_registry (conf), "/tmp/reg.journal"));
    assert (streq (ih_hubconf_bureau_key (conf), "/tmp/qd-bureau.pub"));
    assert (streq (ih_hubconf_key (conf), "/tmp/hub.key"));
    assert (streq (ih_hubconf_ingest (conf), "ipc:///tmp/in"));
    assert (streq (ih_hubconf_pub (conf), "tcp://127.0.0.1:*"));
    assert (ih_hubconf_map_size_mb (conf) == 16);
    assert (ih_hubconf_map_max_mb (conf) == 64);
    assert (ih_hubconf_pub_hwm (conf) == 1);
    assert (ih_hubconf_batch_max (conf) == 65536);
    assert (ih_hubconf_load_string (conf, "hub\n    pub_hwm = 5\n", NULL) ==
            IH_OK);
    assert (ih_hubconf_pub_hwm (conf) == 5);
    assert (ih_hubconf_map_size_mb (conf) == 16);
    //  A failed load leaves everything as it was, even keys that came
    //  before the bad one
    assert (ih_hubconf_load_string (conf,
                                    "hub\n    pub_hwm = 7\n    batch_max = 0\n",
                                    &error) == IH_E_CONFIG);
    assert (streq (error, "<text>: hub/batch_max: '0' is not a number in "
                          "1..65536"));
    zstr_free (&error);
    assert (ih_hubconf_pub_hwm (conf) == 5);
    //  An empty text is a valid, empty configuration
    assert (ih_hubconf_load_string (conf, "", NULL) == IH_OK);
    assert (ih_hubconf_pub_hwm (conf) == 5);

    //  Flags, by flag or by key
    assert (ih_hubconf_set (conf, "map-size", "2048", NULL) == IH_OK);
    assert (ih_hubconf_map_size_mb (conf) == 2048);
    assert (ih_hubconf_set (conf, "pub_hwm", "10000000", NULL) == IH_OK);
    assert (ih_hubconf_pub_hwm (conf) == 10000000);
    assert (ih_hubconf_set (conf, "data", "/srv/ih", NULL) == IH_OK);
    assert (streq (ih_hubconf_data (conf), "/srv/ih"));
    assert (ih_hubconf_set (conf, "batch", "65537", &error) == IH_E_CONFIG);
    assert (streq (error, "--batch: '65537' is not a number in 1..65536"));
    zstr_free (&error);
    assert (ih_hubconf_set (conf, "ingest", "localhost:7700", &error) ==
            IH_E_CONFIG);
    assert (
        streq (error, "--ingest: 'localhost:7700' is not a ZeroMQ endpoint"));
    zstr_free (&error);
    //  The journal is optional, the bureau key only required by the check
    assert (ih_hubconf_set (conf, "registry", "", &error) == IH_OK);
    assert (streq (ih_hubconf_registry (conf), ""));
    assert (ih_hubconf_set (conf, "registry", "/tmp/reg.journal", NULL) ==
            IH_OK);
    assert (ih_hubconf_set (conf, "registry", NULL, NULL) == IH_E_CONFIG);
    assert (ih_hubconf_set (conf, "nope", "1", &error) == IH_E_CONFIG);
    assert (streq (error, "--nope: unknown option"));
    zstr_free (&error);
    assert (ih_hubconf_set (conf, "pub-hwm", "-1", NULL) == IH_E_CONFIG);
    assert (ih_hubconf_set (conf, "pub-hwm", " 1", NULL) == IH_E_CONFIG);
    assert (ih_hubconf_set (conf, "pub-hwm", "1x", NULL) == IH_E_CONFIG);
    assert (ih_hubconf_set (conf, "pub-hwm", "99999999999999999999999", NULL) ==
            IH_E_CONFIG);
    assert (ih_hubconf_pub_hwm (conf) == 10000000);
    assert (streq (ih_hubconf_registry (conf), "/tmp/reg.journal"));

    //  Cross-check: map_max below map_size (0 means "never grow": fine)
    assert (ih_hubconf_map_max_mb (conf) == 64);
    assert (ih_hubconf_check (conf, &error) == IH_E_CONFIG);
    assert (streq (error, "--map-max (64 MiB) is below --map-size (2048 MiB)"));
    zstr_free (&error);
    assert (ih_hubconf_set (conf, "map-max", "0", NULL) == IH_OK);
    assert (ih_hubconf_check (conf, NULL) == IH_OK);
    assert (ih_hubconf_set (conf, "map-max", "2048", NULL) == IH_OK);
    assert (ih_hubconf_check (conf, NULL) == IH_OK);
    ih_hubconf_destroy (&conf);
    ih_hubconf_destroy (&conf);
    assert (conf == NULL);

    //  Every error of the loader
    s_expect_error ("hub\n    dta = \"/x\"\n", "<text>: unknown key 'hub/dta'",
                    verbose);
    s_expect_error ("hub\n    map-size = 5\n",
                    "<text>: unknown key 'hub/map-size'", verbose);
    s_expect_error ("agent\n    site = \"x\"\n",
                    "<text>: unknown section 'agent'", verbose);
    s_expect_error ("hub\n    data = \"/x\"\n        deep = 1\n",
                    "<text>: key 'hub/data' has children", verbose);
    s_expect_error ("hub\n    data = \"\"\n", "<text>: hub/data: empty value",
                    verbose);
    s_expect_error ("hub\n    data\n", "<text>: hub/data: empty value",
                    verbose);
    s_expect_error ("hub\n    pub = \"tcp:/x\"\n",
                    "<text>: hub/pub: 'tcp:/x' is not a ZeroMQ endpoint",
                    verbose);
    s_expect_error ("hub\n    map_size_mb = big\n",
                    "hub/map_size_mb: 'big' is not a number in 1..1048576",
                    verbose);
    s_expect_error ("hub\n    map_size_mb = 0\n",
                    "hub/map_size_mb: '0' is not a number in 1..1048576",
                    verbose);
    s_expect_error ("hub\n    map_max_mb = 1048577\n",
                    "hub/map_max_mb: '1048577' is not a number in 0..1048576",
                    verbose);
    s_expect_error ("hub\n    pub_hwm = 10000001\n",
                    "hub/pub_hwm: '10000001' is not a number in 1..10000000",
                    verbose);
    s_expect_error ("hub\n    batch_max = -5\n",
                    "hub/batch_max: '-5' is not a number in 1..65536", verbose);
    s_expect_error ("hub\n    batch_max = 18446744073709551617\n",
                    "is not a number in 1..65536", verbose);
    s_expect_error ("hub\n  data = 1\n", "not a valid ZPL file", verbose);
    s_expect_error ("hub\n    plaintext = yes\n",
                    "hub/plaintext: 'yes' is not a number in 0..1", verbose);

    //  Files: a good one, a bad one (the message names file:key), a
    //  missing one
    char dir[] = "/tmp/ih-hubconf-XXXXXX";
    assert (mkdtemp (dir));
    char *path = zsys_sprintf ("%s/hub.cfg", dir);
    FILE *file = fopen (path, "w");
    assert (file);
    fprintf (file, "hub\n    batch_max = 7\n    pub = \"ipc://@x\"\n");
    fclose (file);
    conf = ih_hubconf_new ();
    assert (ih_hubconf_load_file (conf, path, &error) == IH_OK);
    assert (ih_hubconf_batch_max (conf) == 7);
    assert (streq (ih_hubconf_pub (conf), "ipc://@x"));
    file = fopen (path, "w");
    assert (file);
    fprintf (file, "hub\n    batch_max = 8\n    bogus = 1\n");
    fclose (file);
    assert (ih_hubconf_load_file (conf, path, &error) == IH_E_CONFIG);
    char *expected = zsys_sprintf ("%s: unknown key 'hub/bogus'", path);
    assert (streq (error, expected));
    zstr_free (&expected);
    zstr_free (&error);
    assert (ih_hubconf_batch_max (conf) == 7);
    unlink (path);
    assert (ih_hubconf_load_file (conf, path, &error) == IH_E_CONFIG);
    assert (strncmp (error, "cannot read ", 12) == 0);
    zstr_free (&error);
    ih_hubconf_destroy (&conf);
    zstr_free (&path);
    rmdir (dir);

    printf ("OK\n");
}
