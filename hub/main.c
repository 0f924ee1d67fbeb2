/*  =========================================================================
    incuhubd - the incuhub hub daemon

    Where it sits: the centre of the network. Agents at incubators,
    offshore and remote bases send signed events to its ingest endpoint;
    it stores them durably (LMDB, group commit) and republishes them on
    its pub endpoint for district offices, the bureau and auditors.

    This file only reads the configuration (ih_hubconf: a ZPL file, then
    command-line flags override it), loads the pinned bureau key and
    builds the registry from it (ih_registry; the ingest actor rebuilds it
    from the log and keeps it current), starts the ZAP handler (ih_zap)
    before any CURVE socket binds, then the ingest actor (ih_ingest, which
    also owns the feed) and the replay service (ih_replay), prints one
    "ready" line with the endpoints actually bound and waits for SIGINT or
    SIGTERM. In plain-text mode (development only, local endpoints) there
    is no ZAP handler and a warning goes to stderr. Exit status: 0 after a
    clean shutdown, 1 on a runtime failure, 2 on a usage or configuration
    error (a bad option, or a key file that is missing or unusable).
    =========================================================================*/
#include <czmq.h>
#include <getopt.h>
#include <sys/stat.h>
#include "ih_hubconf.h"
#include "ih_ingest.h"
#include "ih_registry.h"
#include "ih_replay.h"
#include "ih_zap.h"

#define S_EXIT_RUNTIME 1
#define S_EXIT_USAGE 2

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: incuhubd [-c FILE] --bureau-key FILE "
                  "(--key FILE | --plaintext)\n"
                  "                [--data DIR] [--registry JOURNAL] "
                  "[--ingest ENDPOINT]\n"
                  "                [--pub ENDPOINT] [--replay ENDPOINT] "
                  "[--map-size MB]\n"
                  "                [--map-max MB] [--pub-hwm N] [--batch N] "
                  "[-v] [--help]\n\n"
                  "  -c FILE          ZPL configuration file (section hub)\n");
    ih_hubconf_help (out);
    fprintf (out, "  -v               verbose logging\n"
                  "  --help           this text\n");
}

//  The file first, then the flags in table order, then the cross-checks.
static ih_err_t
s_configure (ih_hubconf_t *conf, const char *config_file,
             const char *flags[IH_HUBCONF_OPTIONS], char **error_p)
{
    if (config_file && ih_hubconf_load_file (conf, config_file, error_p))
        return IH_E_CONFIG;
    for (int i = 0; i < IH_HUBCONF_OPTIONS; i++)
        if (flags[i] &&
            ih_hubconf_set (conf, ih_hubconf_flag (i), flags[i], error_p))
            return IH_E_CONFIG;
    return ih_hubconf_check (conf, error_p);
}

int
main (int argc, char *argv[])
{
    //  The option flags come from ih_hubconf's table (getopt returns 256
    //  + the option's index), then -v and --help
    struct option long_options[IH_HUBCONF_OPTIONS + 3];
    //  A switch (--plaintext) takes no value and means "1"
    for (int i = 0; i < IH_HUBCONF_OPTIONS; i++)
        long_options[i] = (struct option){
            ih_hubconf_flag (i),
            ih_hubconf_flag_switch (i) ? no_argument : required_argument, NULL,
            256 + i};
    long_options[IH_HUBCONF_OPTIONS] =
        (struct option){"verbose", no_argument, NULL, 'v'};
    long_options[IH_HUBCONF_OPTIONS + 1] =
        (struct option){"help", no_argument, NULL, 'h'};
    long_options[IH_HUBCONF_OPTIONS + 2] = (struct option){NULL, 0, NULL, 0};

    //  Logs go to stderr (also zconfig's parse errors): stdout carries
    //  only the ready line
    zsys_init (); //  first: it would reset the log stream
    zsys_set_logident ("incuhubd");
    zsys_set_logstream (stderr);

    //  Flags are collected first and applied after the file
    const char *flags[IH_HUBCONF_OPTIONS] = {NULL};
    const char *config_file = NULL;
    bool verbose = false;
    int opt;
    opterr = 0;
    while ((opt = getopt_long (argc, argv, ":c:vh", long_options, NULL)) !=
           -1) {
        if (opt == 'c')
            config_file = optarg;
        else if (opt == 'v')
            verbose = true;
        else if (opt == 'h') {
            s_usage (stdout);
            return 0;
        } else if (opt >= 256 && opt < 256 + IH_HUBCONF_OPTIONS)
            flags[opt - 256] =
                ih_hubconf_flag_switch (opt - 256) ? "1" : optarg;
        else if (opt == ':') {
            fprintf (stderr, "incuhubd: %s needs an argument\n",
                     argv[optind - 1]);
            fprintf (stderr, "try 'incuhubd --help'\n");
            return S_EXIT_USAGE;
        } else {
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

    ih_hubconf_t *conf = ih_hubconf_new ();
    int status = 0;
    ih_key_t *bureau = NULL;
    ih_key_t *hub_key = NULL;
    ih_registry_t *registry = NULL;
    zactor_t *zap = NULL;
    zactor_t *ingest = NULL;
    zactor_t *replay = NULL;
    char *ingest_ep = NULL, *pub_ep = NULL, *replay_ep = NULL;
    char *error = NULL;

    if (s_configure (conf, config_file, flags, &error)) {
        fprintf (stderr, "incuhubd: %s\n", error);
        status = S_EXIT_USAGE;
        goto cleanup;
    }
    bool plaintext = ih_hubconf_plaintext (conf);

    //  The keys: a file that is missing or unusable is a configuration
    //  error, found before anything binds
    ih_err_t err = ih_key_load (ih_hubconf_bureau_key (conf), &bureau);
    if (err != IH_OK) {
        fprintf (stderr, "incuhubd: cannot load the bureau key %s: %s\n",
                 ih_hubconf_bureau_key (conf), ih_strerror (err));
        status = S_EXIT_USAGE;
        goto cleanup;
    }
    {
        //  The trust anchor: whoever can rewrite it can replace the bureau
        struct stat st;
        if (stat (ih_hubconf_bureau_key (conf), &st) == 0 &&
            (st.st_mode & (S_IWGRP | S_IWOTH)))
            fprintf (stderr,
                     "incuhubd: warning: the pinned bureau key %s is "
                     "writable by group or others (chmod 644 it)\n",
                     ih_hubconf_bureau_key (conf));
    }
    if (!plaintext && !ih_key_has_curve (bureau)) {
        fprintf (stderr,
                 "incuhubd: the bureau key %s has no transport (curve) key: "
                 "make it with a current `incuhub keygen`\n",
                 ih_hubconf_bureau_key (conf));
        status = S_EXIT_USAGE;
        goto cleanup;
    }
    if (*ih_hubconf_key (conf)) {
        err = ih_key_load (ih_hubconf_key (conf), &hub_key);
        if (err != IH_OK) {
            fprintf (stderr, "incuhubd: cannot load the hub key %s: %s\n",
                     ih_hubconf_key (conf), ih_strerror (err));
            status = S_EXIT_USAGE;
            goto cleanup;
        }
        if (!ih_key_has_secret (hub_key) ||
            (!plaintext && !ih_key_has_curve_secret (hub_key))) {
            fprintf (stderr,
                     "incuhubd: the hub key %s must be a NAME.key with its "
                     "secret parts%s\n",
                     ih_hubconf_key (conf),
                     plaintext ? "" : " (signing and transport)");
            status = S_EXIT_USAGE;
            goto cleanup;
        }
    }
    if (plaintext)
        fprintf (stderr,
                 "incuhubd: warning: plain-text transport (development "
                 "only): clients are not authenticated, nothing is "
                 "encrypted, and every subscriber may read every event\n");

    //  The registry starts as the pinned bureau alone; the ingest actor
    //  rebuilds it from the log at START and applies registry events as
    //  it stores them. ZAP, the feed and replay read it
    registry = ih_registry_new (bureau);
    assert (registry);
    if (!plaintext) {
        //  Before any CURVE socket binds: libzmq lets every client in
        //  while no ZAP handler is bound
        zap = ih_zap_new (registry);
        if (!zap) {
            fprintf (stderr, "incuhubd: cannot start the ZAP handler "
                             "(see log)\n");
            status = S_EXIT_RUNTIME;
            goto cleanup;
        }
        if (verbose)
            zstr_send (zap, "VERBOSE");
    }

    ingest = zactor_new (ih_ingest_actor, NULL);
    assert (ingest);
    if (verbose)
        zstr_send (ingest, "VERBOSE");
    ih_ingest_set_registry (ingest, registry);
    if (plaintext)
        ih_ingest_set_plaintext (ingest);
    ih_ingest_set_pub_hwm (ingest, (size_t) ih_hubconf_pub_hwm (conf));
    ih_ingest_set_checkpoint (ingest, ih_hubconf_checkpoint_events (conf),
                              ih_hubconf_checkpoint_ms (conf));
    if (*ih_hubconf_key (conf) &&
        ih_ingest_set_key (ingest, ih_hubconf_key (conf))) {
        fprintf (stderr, "incuhubd: cannot use hub key %s (see log)\n",
                 ih_hubconf_key (conf));
        status = S_EXIT_RUNTIME;
        goto cleanup;
    }
    size_t map_size = (size_t) ih_hubconf_map_size_mb (conf) << 20;
    if (ih_ingest_start (
            ingest, ih_hubconf_data (conf), ih_hubconf_registry (conf),
            ih_hubconf_ingest (conf), ih_hubconf_pub (conf), map_size,
            (size_t) ih_hubconf_batch_max (conf), &ingest_ep, &pub_ep)) {
        fprintf (stderr, "incuhubd: %s\n",
                 ingest_ep ? ingest_ep : "cannot start");
        status = S_EXIT_RUNTIME;
        goto cleanup;
    }
    if (ih_hubconf_map_max_mb (conf))
        ih_ingest_set_map_max (ingest, (size_t) ih_hubconf_map_max_mb (conf)
                                           << 20);
    if (*ih_hubconf_replay (conf)) {
        //  The replay actor reads the ingest actor's log (one LMDB env per
        //  process); it is destroyed first, before the log closes
        replay = zactor_new (ih_replay_actor, NULL);
        assert (replay);
        if (verbose)
            zstr_send (replay, "VERBOSE");
        if (ih_replay_start (replay, ih_ingest_log (ingest), registry,
                             plaintext ? NULL : hub_key,
                             ih_hubconf_replay (conf), &replay_ep)) {
            fprintf (stderr, "incuhubd: %s\n",
                     replay_ep ? replay_ep : "cannot start replay");
            status = S_EXIT_RUNTIME;
            goto cleanup;
        }
        printf ("incuhubd: ready ingest=%s pub=%s replay=%s\n", ingest_ep,
                pub_ep, replay_ep);
    } else
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
    //  Readers of the registry and the log first, then the ZAP handler
    //  (only once no CURVE socket is left), then the registry
    zactor_destroy (&replay);
    zactor_destroy (&ingest);
    zactor_destroy (&zap);
    ih_registry_destroy (&registry);
    ih_key_destroy (&hub_key);
    ih_key_destroy (&bureau);
    zstr_free (&replay_ep);
    zstr_free (&ingest_ep);
    zstr_free (&pub_ep);
    zstr_free (&error);
    ih_hubconf_destroy (&conf);
    return status;
}
