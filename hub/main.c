/*  =========================================================================
    incuhubd - the incuhub hub daemon

    Where it sits: the centre of the network. Agents at incubators,
    offshore and remote bases send signed events to its ingest endpoint;
    it stores them durably (LMDB, group commit) and republishes them on
    its pub endpoint for district offices, the bureau and auditors.

    This file only reads the configuration (a ZPL file, then command-line
    flags override it), starts the ingest actor (ih_ingest), prints one
    "ready" line with the endpoints actually bound and waits for SIGINT or
    SIGTERM. Exit status: 0 after a clean shutdown, 1 on a runtime
    failure, 2 on a usage or configuration error.
    =========================================================================*/
#include <czmq.h>
#include <getopt.h>
#include "ih_ingest.h"

#define S_EXIT_RUNTIME 1
#define S_EXIT_USAGE 2

typedef enum { S_PATH, S_ENDPOINT, S_NUMBER } s_kind_t;

//  Every option, declared once: config key, flag, default, bounds.
typedef struct {
    const char *key;      //  key under "hub" in the config file
    const char *flag;     //  long command-line flag
    const char *fallback; //  default value
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
};

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: incuhubd [-c FILE] [--data DIR] [--registry FILE] "
                  "[--ingest ENDPOINT]\n"
                  "                [--pub ENDPOINT] [--map-size MB] "
                  "[--map-max MB]\n"
                  "                [--pub-hwm N] [--batch N] [-v] [--help]\n\n"
                  "  -c FILE          ZPL configuration file (section hub)\n");
    for (int i = 0; i < S_OPTIONS; i++)
        fprintf (out, "  --%-14s %s (default %s)\n", s_options[i].flag,
                 s_options[i].help, s_options[i].fallback);
    fprintf (out, "  -v               verbose logging\n"
                  "  --help           this text\n");
}

//  Checks value for option; on error writes why into why.
static int
s_validate (const s_option_t *option, const char *value, uint64_t *number_p,
            char *why, size_t why_size)
{
    if (!value || !*value) {
        snprintf (why, why_size, "empty value");
        return -1;
    }
    if (option->kind == S_ENDPOINT && !strstr (value, "://")) {
        snprintf (why, why_size, "'%s' is not a ZeroMQ endpoint", value);
        return -1;
    }
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

//  Reads file into values (strings owned by the caller). Returns 0, or -1
//  after printing the error.
static int
s_read_config (const char *file, char **values)
{
    if (access (file, R_OK)) {
        fprintf (stderr, "incuhubd: cannot read %s: %s\n", file,
                 strerror (errno));
        return -1;
    }
    //  zconfig reports parse errors with zclock_log, which writes to
    //  stdout; stdout is reserved for the ready line, so point it at
    //  stderr for the duration of the parse
    fflush (stdout);
    int saved = dup (STDOUT_FILENO);
    if (saved >= 0)
        dup2 (STDERR_FILENO, STDOUT_FILENO);
    zconfig_t *root = zconfig_load (file);
    fflush (stdout);
    if (saved >= 0) {
        dup2 (saved, STDOUT_FILENO);
        close (saved);
    }
    if (!root) {
        fprintf (stderr, "incuhubd: %s: not a valid ZPL file\n", file);
        return -1;
    }
    int rc = 0;
    for (zconfig_t *section = zconfig_child (root); section && rc == 0;
         section = zconfig_next (section)) {
        if (!streq (zconfig_name (section), "hub")) {
            fprintf (stderr, "incuhubd: %s: unknown section '%s'\n", file,
                     zconfig_name (section));
            rc = -1;
            break;
        }
        for (zconfig_t *item = zconfig_child (section); item;
             item = zconfig_next (item)) {
            const char *name = zconfig_name (item);
            int i;
            for (i = 0; i < S_OPTIONS; i++)
                if (streq (name, s_options[i].key))
                    break;
            if (i == S_OPTIONS) {
                fprintf (stderr, "incuhubd: %s: unknown key 'hub/%s'\n", file,
                         name);
                rc = -1;
                break;
            }
            if (zconfig_child (item)) {
                fprintf (stderr, "incuhubd: %s: key 'hub/%s' has children\n",
                         file, name);
                rc = -1;
                break;
            }
            const char *value = zconfig_value (item);
            uint64_t number;
            char why[200];
            if (s_validate (&s_options[i], value, &number, why, sizeof (why))) {
                fprintf (stderr, "incuhubd: %s: hub/%s: %s\n", file, name, why);
                rc = -1;
                break;
            }
            zstr_free (&values[i]);
            values[i] = strdup (value);
        }
    }
    zconfig_destroy (&root);
    return rc;
}

int
main (int argc, char *argv[])
{
    static const struct option long_options[] = {
        {"data", required_argument, NULL, 'd' + 256},
        {"registry", required_argument, NULL, 'r' + 256},
        {"ingest", required_argument, NULL, 'i' + 256},
        {"pub", required_argument, NULL, 'p' + 256},
        {"map-size", required_argument, NULL, 'm' + 256},
        {"map-max", required_argument, NULL, 'M' + 256},
        {"pub-hwm", required_argument, NULL, 'H' + 256},
        {"batch", required_argument, NULL, 'b' + 256},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    //  Logs go to stderr (also zconfig's parse errors): stdout carries
    //  only the ready line
    zsys_init (); //  first: it would reset the log stream
    zsys_set_logident ("incuhubd");
    zsys_set_logstream (stderr);

    //  Flags are collected first and applied after the file
    const char *flags[S_OPTIONS] = {NULL};
    const char *config_file = NULL;
    bool verbose = false;
    int opt;
    opterr = 0;
    while ((opt = getopt_long (argc, argv, ":c:vh", long_options, NULL)) !=
           -1) {
        switch (opt) {
        case 'c':
            config_file = optarg;
            break;
        case 'v':
            verbose = true;
            break;
        case 'h':
            s_usage (stdout);
            return 0;
        case 'd' + 256:
            flags[S_DATA] = optarg;
            break;
        case 'r' + 256:
            flags[S_REGISTRY] = optarg;
            break;
        case 'i' + 256:
            flags[S_INGEST] = optarg;
            break;
        case 'p' + 256:
            flags[S_PUB] = optarg;
            break;
        case 'm' + 256:
            flags[S_MAP_SIZE] = optarg;
            break;
        case 'M' + 256:
            flags[S_MAP_MAX] = optarg;
            break;
        case 'H' + 256:
            flags[S_PUB_HWM] = optarg;
            break;
        case 'b' + 256:
            flags[S_BATCH] = optarg;
            break;
        case ':':
            fprintf (stderr, "incuhubd: %s needs an argument\n",
                     argv[optind - 1]);
            fprintf (stderr, "try 'incuhubd --help'\n");
            return S_EXIT_USAGE;
        default:
            fprintf (stderr, "incuhubd: unknown option '%s'\n",
                     argv[optind - 1]);
            fprintf (stderr, "try 'incuhubd --help'\n");
            return S_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "incuhubd: unexpected argument '%s'\n", argv[optind]);
        fprintf (stderr, "try 'incuhubd --help'\n");
        return S_EXIT_USAGE;
    }

    char *values[S_OPTIONS];
    for (int i = 0; i < S_OPTIONS; i++)
        values[i] = strdup (s_options[i].fallback);
    int status = 0;
    zactor_t *ingest = NULL;
    char *ingest_ep = NULL, *pub_ep = NULL;

    if (config_file && s_read_config (config_file, values)) {
        status = S_EXIT_USAGE;
        goto cleanup;
    }
    uint64_t numbers[S_OPTIONS] = {0};
    for (int i = 0; i < S_OPTIONS; i++) {
        if (flags[i]) {
            zstr_free (&values[i]);
            values[i] = strdup (flags[i]);
        }
        char why[200];
        if (s_validate (&s_options[i], values[i], &numbers[i], why,
                        sizeof (why))) {
            fprintf (stderr, "incuhubd: --%s: %s\n", s_options[i].flag, why);
            status = S_EXIT_USAGE;
            goto cleanup;
        }
    }

    if (numbers[S_MAP_MAX] && numbers[S_MAP_MAX] < numbers[S_MAP_SIZE]) {
        fprintf (stderr,
                 "incuhubd: --map-max (%" PRIu64
                 " MiB) is below --map-size (%" PRIu64 " MiB)\n",
                 numbers[S_MAP_MAX], numbers[S_MAP_SIZE]);
        status = S_EXIT_USAGE;
        goto cleanup;
    }
    ingest = zactor_new (ih_ingest_actor, NULL);
    assert (ingest);
    if (verbose)
        zstr_send (ingest, "VERBOSE");
    ih_ingest_set_pub_hwm (ingest, (size_t) numbers[S_PUB_HWM]);
    size_t map_size = (size_t) numbers[S_MAP_SIZE] << 20;
    if (ih_ingest_start (ingest, values[S_DATA], values[S_REGISTRY],
                         values[S_INGEST], values[S_PUB], map_size,
                         (size_t) numbers[S_BATCH], &ingest_ep, &pub_ep)) {
        fprintf (stderr, "incuhubd: %s\n",
                 ingest_ep ? ingest_ep : "cannot start");
        status = S_EXIT_RUNTIME;
        goto cleanup;
    }
    if (numbers[S_MAP_MAX])
        ih_ingest_set_map_max (ingest, (size_t) numbers[S_MAP_MAX] << 20);
    printf ("incuhubd: ready ingest=%s pub=%s\n", ingest_ep, pub_ep);
    fflush (stdout);

    //  Wait for a signal (zpoller_terminated) or for the actor to end by
    //  itself (its pipe becomes readable). The actor's exit signal is left
    //  unread for zactor_destroy to collect.
    zpoller_t *poller = zpoller_new (ingest, NULL);
    assert (poller);
    //  The flag is checked once a second as well, because a signal that
    //  lands just before zpoller_wait would otherwise go unnoticed
    void *which = NULL;
    while (!zsys_interrupted) {
        which = zpoller_wait (poller, 1000);
        if (which == ingest || zpoller_terminated (poller))
            break;
    }
    if (which == ingest && !zsys_interrupted) {
        zsys_error ("ingest actor stopped unexpectedly");
        status = S_EXIT_RUNTIME;
    } else
        zsys_notice ("shutting down");
    zpoller_destroy (&poller);

cleanup:
    zactor_destroy (&ingest);
    zstr_free (&ingest_ep);
    zstr_free (&pub_ep);
    for (int i = 0; i < S_OPTIONS; i++)
        zstr_free (&values[i]);
    return status;
}
