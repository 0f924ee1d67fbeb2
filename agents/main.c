/*  =========================================================================
    incuhub-agent - the site agent daemon

    Runs one ih_agent for a site: local publishers (`incuhub publish`) talk
    to its listen socket, and it forwards the signed events to the hub.

    Usage: incuhub-agent [-c FILE] [--site ID] [--key FILE] [--hub ENDPOINT]
                         [--outbox DIR] [--listen ENDPOINT] [--window N]
                         [--ack-timeout MS] [--outbox-map MB] [-v] [--help]

    The ZPL config file (see config/agent-*.cfg) is read first, then flags
    override it. Every option is declared once, with its bounds, in
    ih_agentconf's table. Exit status: 0 after SIGINT/SIGTERM, 1 if the key or the outbox
    cannot be used, 2 for a usage or configuration error. Once running, it
    prints "incuhub-agent: ready site=<id> listen=<endpoint>" on stdout
    (the endpoint resolved, e.g. the port chosen for tcp://127.0.0.1:*, or
    "none"); logs go to stderr.
    =========================================================================*/
#include <czmq.h>
#include <getopt.h>
#include <signal.h>
#include "ih_agent.h"
#include "ih_agentconf.h"

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

//  The file first, then the flags in table order, then the required check.
static ih_err_t
s_configure (ih_agentconf_t *conf, const char *config_file,
             const char *flags[IH_AGENTCONF_OPTIONS], char **error_p)
{
    if (config_file && ih_agentconf_load_file (conf, config_file, error_p))
        return IH_E_CONFIG;
    for (int i = 0; i < IH_AGENTCONF_OPTIONS; i++)
        if (flags[i] &&
            ih_agentconf_set (conf, ih_agentconf_flag (i), flags[i], error_p))
            return IH_E_CONFIG;
    return ih_agentconf_check (conf, error_p);
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

    ih_agentconf_t *conf = ih_agentconf_new ();
    char *error = NULL;
    const char *config_file = NULL;
    bool verbose = false;
    int status = 2;
    ih_agent_t *agent = NULL;

    //  -c/--config, then the options from ih_agentconf's table (getopt
    //  returns 256 + the option's index), then -v and --help
    struct option longopts[IH_AGENTCONF_OPTIONS + 4];
    longopts[0] = (struct option){"config", required_argument, NULL, 'c'};
    for (int i = 0; i < IH_AGENTCONF_OPTIONS; i++)
        longopts[1 + i] = (struct option){ih_agentconf_flag (i),
                                          required_argument, NULL, 256 + i};
    longopts[IH_AGENTCONF_OPTIONS + 1] =
        (struct option){"verbose", no_argument, NULL, 'v'};
    longopts[IH_AGENTCONF_OPTIONS + 2] =
        (struct option){"help", no_argument, NULL, 'h'};
    longopts[IH_AGENTCONF_OPTIONS + 3] = (struct option){NULL, 0, NULL, 0};
    //  Flags are collected first so that they override the file.
    const char *flags[IH_AGENTCONF_OPTIONS] = {NULL};
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
        } else if (opt >= 256 && opt < 256 + IH_AGENTCONF_OPTIONS)
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
    if (s_configure (conf, config_file, flags, &error)) {
        fprintf (stderr, "incuhub-agent: %s\n", error);
        goto cleanup;
    }

    ih_agent_config_t config;
    ih_agentconf_agent_config (conf, &config);
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
    zstr_free (&error);
    ih_agentconf_destroy (&conf);
    return status;
}
