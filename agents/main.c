/*  =========================================================================
    incuhub-agent - the site agent daemon

    Runs one ih_agent for a site: local publishers (`incuhub publish`) talk
    to its listen socket, and it forwards the signed events to the hub.

    Usage: incuhub-agent [-c FILE] [--site ID] [--key FILE] [--hub ENDPOINT]
                         [--outbox DIR] [--listen ENDPOINT] [--window N]
                         [--ack-timeout MS] [--outbox-map MB] [-v] [--help]

    The ZPL config file (see config/agent-*.cfg) is read first, then flags
    override it. Every option is declared once in s_options with its
    bounds. Exit status: 0 after SIGINT/SIGTERM, 1 if the key or the outbox
    cannot be used, 2 for a usage or configuration error. Once running, it
    prints "incuhub-agent: ready site=<id> listen=<endpoint>" on stdout
    (the endpoint resolved, e.g. the port chosen for tcp://127.0.0.1:*, or
    "none"); logs go to stderr.
    =========================================================================*/
#include <czmq.h>
#include <getopt.h>
#include <signal.h>
#include "ih_agent.h"

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

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: incuhub-agent [-c FILE] [--site ID] [--key FILE]\n"
             "                     [--hub ENDPOINT] [--outbox DIR]\n"
             "                     [--listen ENDPOINT] [--window N]\n"
             "                     [--ack-timeout MS] [--outbox-map MB]\n"
             "                     [-v] [--help]\n"
             "Signs a site's events, keeps them in a durable outbox and\n"
             "forwards them to the incuhub hub. Flags override the config\n"
             "file (section `agent`, keys site, key, hub, outbox, listen,\n"
             "window (1..4096, default 256), ack_timeout_ms (default 3000;\n"
             "doubles while the hub does not answer), outbox_map_mb (1..\n"
             "1048576, default 1024; new events are refused with IH_E_FULL\n"
             "above 90%% of it)). Required: site, key, hub, outbox.\n");
}

//  Sets option i from text; from names the source for the error message.
static int
s_set (char *values[], int i, const char *text, const char *from)
{
    if (s_options[i].numeric) {
        char *end = NULL;
        errno = 0;
        long value = strtol (text, &end, 10);
        if (errno || end == text || *end || value < s_options[i].min ||
            value > s_options[i].max) {
            fprintf (stderr,
                     "incuhub-agent: %s: %s must be an integer in "
                     "%ld..%ld, not '%s'\n",
                     from, s_options[i].key, s_options[i].min, s_options[i].max,
                     text);
            return -1;
        }
    }
    free (values[i]);
    values[i] = strdup (text);
    return 0;
}

//  Reads the config file into values. Returns 0 or -1 (reported).
static int
s_load_config (const char *path, char *values[])
{
    if (!zsys_file_exists (path)) {
        fprintf (stderr, "incuhub-agent: %s: cannot read config file\n", path);
        return -1;
    }
    zconfig_t *root = zconfig_load (path);
    if (!root) {
        fprintf (stderr, "incuhub-agent: %s: not a valid ZPL file\n", path);
        return -1;
    }
    int rc = 0;
    for (zconfig_t *section = zconfig_child (root); section && rc == 0;
         section = zconfig_next (section)) {
        if (!streq (zconfig_name (section), "agent")) {
            fprintf (stderr, "incuhub-agent: %s: unknown section '%s'\n", path,
                     zconfig_name (section));
            rc = -1;
            break;
        }
        for (zconfig_t *item = zconfig_child (section); item && rc == 0;
             item = zconfig_next (item)) {
            int i;
            for (i = 0; i < OPT_COUNT; i++)
                if (streq (zconfig_name (item), s_options[i].key))
                    break;
            if (i == OPT_COUNT || zconfig_child (item)) {
                fprintf (stderr, "incuhub-agent: %s: unknown key 'agent/%s'\n",
                         path, zconfig_name (item));
                rc = -1;
            } else {
                char *from =
                    zsys_sprintf ("%s: agent/%s", path, zconfig_name (item));
                rc = s_set (values, i, zconfig_value (item), from);
                zstr_free (&from);
            }
        }
    }
    zconfig_destroy (&root);
    return rc;
}

int
main (int argc, char *argv[])
{
    //  Block SIGINT and SIGTERM in every thread (the ZeroMQ and actor
    //  threads inherit the mask), then take them with sigwait in main: no
    //  handler, no flag polling, no race.
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &signals, NULL);
    zsys_handler_set (NULL);
    zsys_set_logident ("incuhub-agent");
    zsys_set_logstream (stderr); //  stdout carries only the ready line

    char *values[OPT_COUNT] = {NULL};
    const char *config_file = NULL;
    bool verbose = false;
    int status = 2;
    ih_agent_t *agent = NULL;

    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"site", required_argument, NULL, 256 + OPT_SITE},
        {"key", required_argument, NULL, 256 + OPT_KEY},
        {"hub", required_argument, NULL, 256 + OPT_HUB},
        {"outbox", required_argument, NULL, 256 + OPT_OUTBOX},
        {"listen", required_argument, NULL, 256 + OPT_LISTEN},
        {"window", required_argument, NULL, 256 + OPT_WINDOW},
        {"ack-timeout", required_argument, NULL, 256 + OPT_ACK_TIMEOUT},
        {"outbox-map", required_argument, NULL, 256 + OPT_OUTBOX_MAP},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    //  Flags are collected first so that they override the file.
    const char *flags[OPT_COUNT] = {NULL};
    int opt;
    while ((opt = getopt_long (argc, argv, "c:vh", longopts, NULL)) != -1) {
        if (opt == 'c')
            config_file = optarg;
        else if (opt == 'v')
            verbose = true;
        else if (opt == 'h') {
            s_usage (stdout);
            status = 0;
            goto cleanup;
        } else if (opt >= 256 && opt < 256 + OPT_COUNT)
            flags[opt - 256] = optarg;
        else {
            s_usage (stderr);
            goto cleanup;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "incuhub-agent: unexpected argument '%s'\n",
                 argv[optind]);
        s_usage (stderr);
        goto cleanup;
    }
    if (config_file && s_load_config (config_file, values))
        goto cleanup;
    for (int i = 0; i < OPT_COUNT; i++) {
        if (flags[i]) {
            char *from = zsys_sprintf ("--%s", s_options[i].flag);
            int rc = s_set (values, i, flags[i], from);
            zstr_free (&from);
            if (rc)
                goto cleanup;
        }
    }
    for (int i = 0; i < OPT_COUNT; i++) {
        if (s_options[i].required && !values[i]) {
            fprintf (stderr,
                     "incuhub-agent: missing required option %s (--%s or "
                     "agent/%s in the config file)\n",
                     s_options[i].key, s_options[i].flag, s_options[i].key);
            goto cleanup;
        }
    }

    ih_agent_config_t config = {
        .site = values[OPT_SITE],
        .key = values[OPT_KEY],
        .hub = values[OPT_HUB],
        .outbox = values[OPT_OUTBOX],
        .listen = values[OPT_LISTEN],
        .window = values[OPT_WINDOW] ? (uint32_t) atol (values[OPT_WINDOW]) : 0,
        .ack_timeout = values[OPT_ACK_TIMEOUT]
                           ? (uint32_t) atol (values[OPT_ACK_TIMEOUT])
                           : 0,
        .outbox_map = values[OPT_OUTBOX_MAP]
                          ? (uint64_t) atol (values[OPT_OUTBOX_MAP]) << 20
                          : 0,
    };
    if (verbose)
        zsys_info ("agent: site=%s hub=%s outbox=%s listen=%s", config.site,
                   config.hub, config.outbox,
                   config.listen ? config.listen : "none");
    ih_err_t err;
    agent = ih_agent_new (&config, &err);
    if (!agent) {
        fprintf (stderr, "incuhub-agent: cannot start: %s (%s)\n",
                 ih_err_name (err), ih_strerror (err));
        status = err == IH_E_CONFIG ? 2 : 1;
        goto cleanup;
    }
    const char *endpoint = ih_agent_endpoint (agent);
    printf ("incuhub-agent: ready site=%s listen=%s\n", config.site,
            endpoint ? endpoint : "none");
    fflush (stdout);

    int sig = 0;
    while (sigwait (&signals, &sig) != 0)
        ;
    zsys_info ("agent: stopping on signal %d", sig);
    status = 0;
cleanup:
    ih_agent_destroy (&agent);
    for (int i = 0; i < OPT_COUNT; i++)
        free (values[i]);
    return status;
}
