/*  =========================================================================
    ih_hubconf - the hub daemon's configuration: every option once

    Design. One table, s_options, declares every option of incuhubd: the
    key under `hub` in the ZPL file, the long flag, the default, the kind
    and, for numbers, the bounds. Nothing else in the hub names an option:
    the file loader, the flag setter, the help text and incuhubd's getopt
    table are all driven by it, so an option cannot be accepted in one
    place and rejected in another.

    Values live in an s_values_t (strings, plus the parsed number for
    numeric options). A load copies the current values, applies the file
    to the copy and swaps the copy in only when every key was valid;
    otherwise the copy is dropped and the object keeps its old values.
    Invariant: every value held by an ih_hubconf_t has passed s_validate,
    so the getters never see an unchecked string.

    Error texts are those incuhubd printed before this module existed
    (tests match them): "<file>: unknown key 'hub/<key>'", "<file>:
    hub/<key>: <why>", "--<flag>: <why>", where <why> is "empty value",
    "'x' is not a ZeroMQ endpoint" or "'x' is not a number in a..b".
    =========================================================================*/
#include "ih_hubconf.h"
#include "ih_ingest.h"

//  S_OPTIONAL_*: may be empty, meaning "not set" (the feature is off).
typedef enum {
    S_PATH,
    S_ENDPOINT,
    S_NUMBER,
    S_OPTIONAL_PATH,
    S_OPTIONAL_ENDPOINT
} s_kind_t;

//  Every option, declared once: config key, flag, default, bounds.
typedef struct {
    const char *key;      //  key under "hub" in the config file
    const char *flag;     //  long command-line flag
    const char *fallback; //  default value (must pass s_validate)
    s_kind_t kind;
    uint64_t min, max; //  bounds for numbers
    const char *help;
} s_option_t;

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
    S_OPTIONS
};

static const s_option_t s_options[S_OPTIONS] = {
    {"data", "data", "/var/lib/incuhub", S_PATH, 0, 0,
     "directory of the LMDB event log"},
    {"registry", "registry", "/etc/incuhub/registry.json", S_PATH, 0, 0,
     "site registry (JSON)"},
    {"ingest", "ingest", "tcp://*:7700", S_ENDPOINT, 0, 0,
     "ROUTER endpoint agents send events to"},
    {"pub", "pub", "tcp://*:7701", S_ENDPOINT, 0, 0,
     "PUB endpoint stored events are published on"},
    {"map_size_mb", "map-size", "1024", S_NUMBER, 1, 1048576,
     "LMDB map size in MiB (1..1048576)"},
    {"map_max_mb", "map-max", "0", S_NUMBER, 0, 1048576,
     "grow a full map up to this many MiB; 0 = never grow"},
    {"pub_hwm", "pub-hwm", "1000", S_NUMBER, 1, 10000000,
     "events queued per subscriber before the hub drops for it"},
    {"batch_max", "batch", "1024", S_NUMBER, 1, IH_INGEST_BATCH_MAX,
     "events per group commit (1..65536)"},
    {"replay", "replay", "", S_OPTIONAL_ENDPOINT, 0, 0,
     "ROUTER endpoint of the replay service (empty: off)"},
    {"key", "key", "", S_OPTIONAL_PATH, 0, 0,
     "the hub's secret key, for signed checkpoints (empty: none)"},
    {"checkpoint_events", "checkpoint-events", "1000", S_NUMBER, 1, 1000000000,
     "sign a checkpoint at least every N events"},
    {"checkpoint_ms", "checkpoint-ms", "5000", S_NUMBER, 100, 86400000,
     "and at least every MS ms while events arrive"},
};

_Static_assert(S_OPTIONS == IH_HUBCONF_OPTIONS,
               "IH_HUBCONF_OPTIONS must match the table");

//  One complete set of values; text[i] is never NULL once filled.
typedef struct {
    char *text[S_OPTIONS];      //  the value as given (owned)
    uint64_t number[S_OPTIONS]; //  parsed value of numeric options, else 0
} s_values_t;

struct _ih_hubconf_t {
    s_values_t values; //  current, all valid
};

//  Sets *error_p (if error_p) to a new formatted message; returns
//  IH_E_CONFIG so callers can `return s_fail (...)`.
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

//  Checks value for option; on error writes why into why.
static int
s_validate (const s_option_t *option, const char *value, uint64_t *number_p,
            char *why, size_t why_size)
{
    *number_p = 0;
    bool optional =
        option->kind == S_OPTIONAL_PATH || option->kind == S_OPTIONAL_ENDPOINT;
    if (value && !*value && optional)
        return 0;
    if (!value || !*value) {
        snprintf (why, why_size, "empty value");
        return -1;
    }
    if ((option->kind == S_ENDPOINT || option->kind == S_OPTIONAL_ENDPOINT) &&
        !strstr (value, "://")) {
        snprintf (why, why_size, "'%s' is not a ZeroMQ endpoint", value);
        return -1;
    }
    *number_p = 0;
    if (option->kind == S_NUMBER) {
        char *end;
        errno = 0;
        unsigned long long number = strtoull (value, &end, 10);
        if (!isdigit ((unsigned char) *value) || errno || *end ||
            number < option->min || number > option->max) {
            snprintf (why, why_size,
                      "'%s' is not a number in %" PRIu64 "..%" PRIu64, value,
                      option->min, option->max);
            return -1;
        }
        *number_p = number;
    }
    return 0;
}

static void
s_values_free (s_values_t *values)
{
    for (int i = 0; i < S_OPTIONS; i++)
        zstr_free (&values->text[i]);
}

static void
s_values_copy (s_values_t *dest, const s_values_t *source)
{
    for (int i = 0; i < S_OPTIONS; i++) {
        dest->text[i] = strdup (source->text[i]);
        assert (dest->text[i]);
        dest->number[i] = source->number[i];
    }
}

//  Stores an already validated value.
static void
s_values_put (s_values_t *values, int i, const char *text, uint64_t number)
{
    char *copy = strdup (text);
    assert (copy);
    zstr_free (&values->text[i]);
    values->text[i] = copy;
    values->number[i] = number;
}

static int
s_find (const char *name)
{
    for (int i = 0; i < S_OPTIONS; i++)
        if (streq (name, s_options[i].key) || streq (name, s_options[i].flag))
            return i;
    return -1;
}

//  Applies root (a parsed ZPL tree) to values; origin names the source.
static ih_err_t
s_apply (s_values_t *values, zconfig_t *root, const char *origin,
         char **error_p)
{
    for (zconfig_t *section = zconfig_child (root); section;
         section = zconfig_next (section)) {
        const char *section_name = zconfig_name (section);
        if (!section_name || !streq (section_name, "hub"))
            return s_fail (error_p, "%s: unknown section '%s'", origin,
                           section_name ? section_name : "");
        for (zconfig_t *item = zconfig_child (section); item;
             item = zconfig_next (item)) {
            const char *name = zconfig_name (item);
            if (!name)
                name = "";
            int i;
            for (i = 0; i < S_OPTIONS; i++)
                if (streq (name, s_options[i].key))
                    break;
            if (i == S_OPTIONS)
                return s_fail (error_p, "%s: unknown key 'hub/%s'", origin,
                               name);
            if (zconfig_child (item))
                return s_fail (error_p, "%s: key 'hub/%s' has children", origin,
                               name);
            const char *value = zconfig_value (item);
            uint64_t number;
            char why[200];
            if (s_validate (&s_options[i], value, &number, why, sizeof (why)))
                return s_fail (error_p, "%s: hub/%s: %s", origin, name, why);
            s_values_put (values, i, value, number);
        }
    }
    return IH_OK;
}

//  Applies root to a fresh copy of self's values, swaps on success.
//  Takes ownership of *root_p.
static ih_err_t
s_load (ih_hubconf_t *self, zconfig_t **root_p, const char *origin,
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

ih_hubconf_t *
ih_hubconf_new (void)
{
    ih_hubconf_t *self = (ih_hubconf_t *) zmalloc (sizeof (ih_hubconf_t));
    assert (self);
    for (int i = 0; i < S_OPTIONS; i++) {
        uint64_t number;
        char why[200];
        int rc = s_validate (&s_options[i], s_options[i].fallback, &number, why,
                             sizeof (why));
        assert (rc == 0); //  a bad default is a programmer error
        (void) rc;
        s_values_put (&self->values, i, s_options[i].fallback, number);
    }
    return self;
}

void
ih_hubconf_destroy (ih_hubconf_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        s_values_free (&(*self_p)->values);
        free (*self_p);
        *self_p = NULL;
    }
}

ih_err_t
ih_hubconf_load_file (ih_hubconf_t *self, const char *path, char **error_p)
{
    assert (self);
    assert (path);
    if (access (path, R_OK))
        return s_fail (error_p, "cannot read %s: %s", path, strerror (errno));
    //  zconfig reports parse errors with zclock_log, which writes to
    //  stdout; stdout is reserved for the ready line, so point it at
    //  stderr for the duration of the parse
    fflush (stdout);
    int saved = dup (STDOUT_FILENO);
    if (saved >= 0)
        dup2 (STDERR_FILENO, STDOUT_FILENO);
    zconfig_t *root = zconfig_load (path);
    fflush (stdout);
    if (saved >= 0) {
        dup2 (saved, STDOUT_FILENO);
        close (saved);
    }
    if (!root)
        return s_fail (error_p, "%s: not a valid ZPL file", path);
    return s_load (self, &root, path, error_p);
}

ih_err_t
ih_hubconf_load_string (ih_hubconf_t *self, const char *text, char **error_p)
{
    assert (self);
    assert (text);
    zconfig_t *root = zconfig_str_load (text);
    if (!root)
        return s_fail (error_p, "<text>: not a valid ZPL file");
    return s_load (self, &root, "<text>", error_p);
}

ih_err_t
ih_hubconf_set (ih_hubconf_t *self, const char *key_or_flag, const char *value,
                char **error_p)
{
    assert (self);
    assert (key_or_flag);
    int i = s_find (key_or_flag);
    if (i < 0)
        return s_fail (error_p, "--%s: unknown option", key_or_flag);
    uint64_t number;
    char why[200];
    if (s_validate (&s_options[i], value, &number, why, sizeof (why)))
        return s_fail (error_p, "--%s: %s", s_options[i].flag, why);
    s_values_put (&self->values, i, value, number);
    return IH_OK;
}

ih_err_t
ih_hubconf_check (ih_hubconf_t *self, char **error_p)
{
    assert (self);
    uint64_t map_max = self->values.number[S_MAP_MAX];
    uint64_t map_size = self->values.number[S_MAP_SIZE];
    if (map_max && map_max < map_size)
        return s_fail (error_p,
                       "--map-max (%" PRIu64
                       " MiB) is below --map-size (%" PRIu64 " MiB)",
                       map_max, map_size);
    return IH_OK;
}

const char *
ih_hubconf_flag (size_t index)
{
    return index < S_OPTIONS ? s_options[index].flag : NULL;
}

void
ih_hubconf_help (FILE *out)
{
    for (int i = 0; i < S_OPTIONS; i++)
        fprintf (out, "  --%-14s %s (default %s)\n", s_options[i].flag,
                 s_options[i].help, s_options[i].fallback);
}

const char *
ih_hubconf_data (ih_hubconf_t *self)
{
    assert (self);
    return self->values.text[S_DATA];
}

const char *
ih_hubconf_registry (ih_hubconf_t *self)
{
    assert (self);
    return self->values.text[S_REGISTRY];
}

const char *
ih_hubconf_ingest (ih_hubconf_t *self)
{
    assert (self);
    return self->values.text[S_INGEST];
}

const char *
ih_hubconf_pub (ih_hubconf_t *self)
{
    assert (self);
    return self->values.text[S_PUB];
}

uint64_t
ih_hubconf_map_size_mb (ih_hubconf_t *self)
{
    assert (self);
    return self->values.number[S_MAP_SIZE];
}

uint64_t
ih_hubconf_map_max_mb (ih_hubconf_t *self)
{
    assert (self);
    return self->values.number[S_MAP_MAX];
}

uint64_t
ih_hubconf_pub_hwm (ih_hubconf_t *self)
{
    assert (self);
    return self->values.number[S_PUB_HWM];
}

uint64_t
ih_hubconf_batch_max (ih_hubconf_t *self)
{
    assert (self);
    return self->values.number[S_BATCH];
}

const char *
ih_hubconf_replay (ih_hubconf_t *self)
{
    assert (self);
    return self->values.text[S_REPLAY];
}

const char *
ih_hubconf_key (ih_hubconf_t *self)
{
    assert (self);
    return self->values.text[S_KEY];
}

uint64_t
ih_hubconf_checkpoint_events (ih_hubconf_t *self)
{
    assert (self);
    return self->values.number[S_CHECKPOINT_EVENTS];
}

uint64_t
ih_hubconf_checkpoint_ms (ih_hubconf_t *self)
{
    assert (self);
    return self->values.number[S_CHECKPOINT_MS];
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
    assert (streq (ih_hubconf_registry (conf), "/etc/incuhub/registry.json"));
    assert (streq (ih_hubconf_ingest (conf), "tcp://*:7700"));
    assert (streq (ih_hubconf_pub (conf), "tcp://*:7701"));
    assert (ih_hubconf_map_size_mb (conf) == 1024);
    assert (ih_hubconf_map_max_mb (conf) == 0);
    assert (ih_hubconf_pub_hwm (conf) == 1000);
    assert (ih_hubconf_batch_max (conf) == 1024);
    assert (ih_hubconf_check (conf, NULL) == IH_OK);
    assert (streq (ih_hubconf_flag (0), "data"));
    assert (streq (ih_hubconf_flag (IH_HUBCONF_OPTIONS - 1), "checkpoint-ms"));
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
    char *error = NULL;
    assert (ih_hubconf_load_string (conf,
                                    "#   comment\n"
                                    "hub\n"
                                    "    data = \"/tmp/ih-data\"\n"
                                    "    registry = \"/tmp/reg.json\"\n"
                                    "    ingest = \"ipc:///tmp/in\"\n"
                                    "    pub = \"tcp://127.0.0.1:*\"\n"
                                    "    map_size_mb = 16\n"
                                    "    map_max_mb = 64\n"
                                    "    pub_hwm = 1\n"
                                    "    batch_max = 65536\n",
                                    &error) == IH_OK);
    assert (error == NULL);
    assert (streq (ih_hubconf_data (conf), "/tmp/ih-data"));
    assert (streq (ih_hubconf_registry (conf), "/tmp/reg.json"));
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
    assert (ih_hubconf_set (conf, "registry", "", &error) == IH_E_CONFIG);
    assert (streq (error, "--registry: empty value"));
    zstr_free (&error);
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
    assert (streq (ih_hubconf_registry (conf), "/tmp/reg.json"));

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
