/*  =========================================================================
    incuhub-agent - the site agent daemon

    Runs one ih_agent for a site: local publishers (`incuhub publish`) talk
    to its listen socket, and it forwards the signed events to the hub.

    Usage: incuhub-agent [-c FILE] [--site ID] [--key FILE] [--hub ENDPOINT]
                         [--hub-key FILE] [--outbox DIR] [--listen ENDPOINT]
                         [--window N] [--ack-timeout MS] [--outbox-map MB]
                         [-v] [--help]

    The ZPL config file (see config/agent-*.cfg) is read first, then flags
    override it. Every option is declared once, with its bounds, in
    ih_agentconf's table. With hub_key the agent talks CURVE to the hub
    (its own key file must then hold a transport secret); without it the
    hub must be local and it warns on stderr:
        incuhub-agent: warning: plain-text transport to the hub
        (development only)
    Exit status: 0 after SIGINT/SIGTERM, 1 if the key or the outbox cannot
    be used, 2 for a usage or configuration error (the transport rule
    included, and a key without the transport part CURVE needs). Once
    running, it prints
        incuhub-agent: ready site=<id> listen=<endpoint> next_seq=<n>
    on stdout (the endpoint resolved, e.g. the port chosen for
    tcp://127.0.0.1:*, or "none"; next_seq the seq the next new event will
    get, for `incuhub site rotate --from-seq`); logs go to stderr.
    =========================================================================*/
#include <czmq.h>
#include <getopt.h>
#include <signal.h>
#include "ih_agent.h"
#include "ih_agentconf.h"
#include "ih_key.h"

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: incuhub-agent [-c FILE] [--site ID] [--key FILE]\n"
             "                     [--hub ENDPOINT] [--hub-key FILE]\n"
             "                     [--outbox DIR] [--listen ENDPOINT]\n"
             "                     [--window N] [--ack-timeout MS]\n"
             "                     [--outbox-map MB] [-v] [--help]\n"
             "Signs a site's events, keeps them in a durable outbox and\n"
             "forwards them to the incuhub hub. Flags override the config\n"
             "file (section `agent`, keys site, key, hub, hub_key, outbox,\n"
             "listen, window (1..4096, default 256), ack_timeout_ms\n"
             "(default 3000; doubles while the hub does not answer),\n"
             "outbox_map_mb (1..1048576, default 1024; new events are\n"
             "refused with IH_E_FULL above 90%% of it)). Required: site,\n"
             "key, hub, outbox.\n"
             "Transport: hub_key (--hub-key) is the hub's public key file\n"
             "(NAME.pub): the agent then talks CURVE to the hub, as the\n"
             "site whose key (a NAME.key with its transport part, made by\n"
             "incuhub keygen) the bureau registered. Without hub_key the\n"
             "hub must be local (ipc:// or loopback tcp://; plain text,\n"
             "development only). The listen endpoint is plain text and\n"
             "must be local.\n"
             "Prints 'incuhub-agent: ready site=ID listen=EP next_seq=N'\n"
             "on stdout once running (next_seq: the seq of the next new\n"
             "event, for incuhub site rotate --from-seq).\n");
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

//  With hub_key, the key files CURVE needs, so that a key without its
//  transport part is a configuration error (exit 2) named as such. A key
//  file that does not load at all is left to ih_agent_new (exit 1).
static ih_err_t
s_check_keys (ih_agent_config_t *config, char **error_p)
{
    if (!config->hub_key)
        return IH_OK;
    ih_key_t *key = NULL, *hub_key = NULL;
    ih_err_t err = ih_key_load (config->hub_key, &hub_key);
    if (err != IH_OK)
        *error_p = zsys_sprintf ("cannot load hub_key %s: %s", config->hub_key,
                                 ih_strerror (err));
    else if (!ih_key_has_curve (hub_key)) {
        *error_p = zsys_sprintf ("hub_key %s has no transport (curve) "
                                 "public key",
                                 config->hub_key);
        err = IH_E_KEY;
    } else if (ih_key_load (config->key, &key) == IH_OK &&
               !ih_key_has_curve_secret (key)) {
        *error_p = zsys_sprintf ("key %s has no transport (curve) secret "
                                 "key, which CURVE to the hub needs; make the "
                                 "site's keys with incuhub keygen",
                                 config->key);
        err = IH_E_KEY;
    }
    ih_key_destroy (&key);
    ih_key_destroy (&hub_key);
    return err;
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
    ih_err_t err = s_check_keys (&config, &error);
    if (err) {
        fprintf (stderr, "incuhub-agent: %s (%s)\n", error, ih_err_name (err));
        goto cleanup;
    }
    if (verbose)
        zsys_info ("agent: site=%s hub=%s outbox=%s listen=%s transport=%s",
                   config.site, config.hub, config.outbox,
                   config.listen ? config.listen : "none",
                   config.hub_key ? "curve" : "plaintext");
    if (!config.hub_key)
        fprintf (stderr, "incuhub-agent: warning: plain-text transport to the "
                         "hub (development only)\n");
    agent = ih_agent_new (&config, &err);
    if (!agent) {
        fprintf (stderr, "incuhub-agent: cannot start: %s (%s)\n",
                 ih_err_name (err), ih_strerror (err));
        status = err == IH_E_CONFIG ? 2 : 1;
        goto cleanup;
    }
    const char *endpoint = ih_agent_endpoint (agent);
    json_t *agent_status = ih_agent_status (agent);
    json_int_t next_seq =
        json_integer_value (json_object_get (agent_status, "next_seq"));
    json_decref (agent_status);
    printf (
        "incuhub-agent: ready site=%s listen=%s next_seq=%" JSON_INTEGER_FORMAT
        "\n",
        config.site, endpoint ? endpoint : "none", next_seq);
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
