/*  =========================================================================
    ih_bench_curve - what CurveZMQ costs on ingest: a plain-text hub and a
    CURVE hub side by side in one run

    Where it sits: in front of two real incuhubd processes on
    tcp://127.0.0.1:*, in place of the agents. One hub runs with
    --plaintext, the other with CURVE (its default since issue 4: --key,
    every client authenticated through ZAP against the registry, all
    traffic encrypted). Both read the same bureau journal, so they know
    the same sites with the same signing and transport keys, and each has
    its own data directory on the disk under test. The machinery shared
    with the other benchmarks (hub start-up, signed fleets, senders, data
    roots, options, medians, the machine) is in bench/ih_benchkit, whose
    hubs and senders can speak CURVE (senders then are ih_curve_client
    DEALERs, as agents are with --hub-key).

    What it shows:
      - ingest throughput: in each round K sender threads, one per site,
        each on its own DEALER, stream E events to one hub with up to a
        window in flight and wait for every ACK (as ih_bench_ingest and
        agents do). Rounds alternate plain, curve, plain, curve, ...; the
        report is events/s per round, the median of each configuration
        and the ratio curve / plain of the medians (below 1: CURVE is
        slower), plus the median of the per-round ratios as a check;
      - the handshake: time from connect to the first ACK on a fresh
        connection, plain and CURVE alternately, median of each. Both
        include one commit of one event by the hub; the difference is what
        the CURVE handshake (and its ZAP request) adds.

    How it measures, and why:
      - The machine is shared and noisy, so absolute figures from different
        runs do not compare; the two configurations alternate in the same
        process and the report is medians and their ratio.
      - Both hubs live for the whole run, so their logs grow in step: in
        round r each hub stores the same events (seq (r-1)*E+1 .. r*E of
        every site) on top of a log of the same size. Every event is signed
        before any timing; the same signed bytes go to both hubs.
      - Connecting (the TCP and CURVE handshakes) is not timed in the
        throughput rounds: each sender does a STATUS round trip on its new
        DEALER before the start barrier (a CURVE hub answers an incubator
        NAK IH_E_DENIED, which also proves the connection was
        authenticated; the plain hub answers STATUS); the clock runs
        from the first send of any sender to the last ACK of any sender.
      - Every event must be ACKed, in order, and never NAKed; after the
        hubs stop cleanly, each log must hold every event of every site
        exactly once, in order. Anything else fails the run (exit 1).
        There are no assertions on timing: the ctest smoke run only keeps
        this working.

    Usage: ih_bench_curve [--events E] [--sites K] [--rounds R]
                          [--window W] [--handshakes H] [--dir DIR]
    DIR (or $IH_BENCH_DIR) is where the data directories are made; keys,
    the journal and hub logs go to a temporary directory.
    =========================================================================*/
#include <signal.h>
#include "ih_benchkit.h"

#define S_REPLY_TIMEOUT_MS 60000 //  any one reply
#define S_HUB_READY_MS 20000
#define S_HUB_STOP_MS 20000
#define S_MAX_SITES IH_BENCHKIT_MAX_SITES
#define S_MAX_ROUNDS 100
#define S_MAX_HANDSHAKES 1000
#define S_MAX_EVENTS_PER_SITE 10000000 //  over all rounds
#define S_ENDPOINT "tcp://127.0.0.1:*"

typedef struct {
    int events; //  per site and round
    int sites;
    int rounds;     //  of each configuration
    int window;     //  events in flight per site
    int handshakes; //  fresh connections timed, of each configuration
    const char *root;
} s_options_t;

//  One of the two hubs.
typedef struct {
    const char *name;       //  "plain" or "curve"
    bool curve;             //  CURVE on (--key), else --plaintext
    ih_benchkit_hub_t *hub; //  the running incuhubd
    char data[1100];        //  its data directory
    uint64_t acked;         //  events ACKed over the whole run
    uint64_t expected;      //  events sent over the whole run
} s_hub_t;

//  ---------------------------------------------------------------------
//  The senders of one round: one thread per site (ih_benchkit senders)

//  One timed round on one hub: every site sends its events
//  [first, first + events). Returns events/s; fails the run on any error.
static double
s_round (s_hub_t *hub, ih_key_t *hub_key, ih_benchkit_fleet_t *fleet,
         const s_options_t *options, int round, double *seconds_p)
{
    ih_benchkit_send_config_t config = {
        options->window, S_REPLY_TIMEOUT_MS, (round - 1) * options->events,
        options->events, hub->curve ? hub_key : NULL};
    char label[64];
    snprintf (label, sizeof label, "%s round %d", hub->name, round);
    ih_benchkit_senders_t *senders = ih_benchkit_senders_new_ex (
        ih_benchkit_hub_ingest (hub->hub), fleet, &config);
    double seconds;
    uint64_t acked = ih_benchkit_senders_wait (senders, label, &seconds);
    ih_benchkit_senders_destroy (&senders);
    hub->acked += acked;
    hub->expected +=
        (uint64_t) ih_benchkit_fleet_sites (fleet) * (uint64_t) options->events;
    *seconds_p = seconds;
    return seconds > 0 ? (double) acked / seconds : 0.0;
}

//  ---------------------------------------------------------------------
//  The handshake: a fresh connection to the first ACK

//  Connects a fresh DEALER as site to hub, sends event n of the site and
//  waits for its ACK. Returns the milliseconds from connect to the ACK;
//  fails the run on anything but that ACK.
static double
s_handshake (s_hub_t *hub, ih_key_t *hub_key, ih_benchkit_fleet_t *fleet, int n)
{
    ih_tk_site_t *site = ih_benchkit_fleet_site (fleet, 0);
    zsock_t *dealer = ih_benchkit_dealer_new (
        site->key, hub->curve ? hub_key : NULL, S_REPLY_TIMEOUT_MS);
    IH_CHECK (dealer, "cannot make a DEALER");
    size_t size;
    const uint8_t *bytes = ih_benchkit_fleet_event (fleet, 0, n, &size);
    zmsg_t *msg = ih_wire_event (bytes, size);
    const char *ingest = ih_benchkit_hub_ingest (hub->hub);
    int64_t start = ih_benchkit_now_ns ();
    IH_CHECK (zsock_connect (dealer, "%s", ingest) == 0, "cannot connect to %s",
              ingest);
    //  Queued until the connection is up (and, with CURVE, authenticated)
    IH_CHECK (zmsg_send (&msg, dealer) == 0, "send");
    zmsg_t *reply = zmsg_recv (dealer);
    int64_t end = ih_benchkit_now_ns ();
    IH_CHECK (reply, "%s handshake %d: no reply within %d ms", hub->name, n + 1,
              S_REPLY_TIMEOUT_MS);
    ih_wire_t wire;
    IH_CHECK (ih_wire_decode (reply, &wire) == IH_OK &&
                  wire.kind == IH_WIRE_ACK && wire.seq == (uint64_t) n + 1,
              "%s handshake %d: not the ACK of seq %d (kind %d, %s)", hub->name,
              n + 1, n + 1, (int) wire.kind,
              wire.kind == IH_WIRE_NAK ? ih_err_name (wire.code) : "-");
    zmsg_destroy (&reply);
    zsock_destroy (&dealer);
    hub->acked++;
    hub->expected++;
    return (double) (end - start) / 1e6;
}

//  ---------------------------------------------------------------------
//  The hubs

//  Starts hub on the journal registry, on tcp://127.0.0.1:*; waits for
//  its ready line.
static void
s_hub_start (s_hub_t *hub, const char *work, const char *registry,
             const char *hub_key_path)
{
    ih_benchkit_hub_config_t config = {hub->name, S_ENDPOINT,
                                       hub->curve ? hub_key_path : NULL, NULL};
    hub->hub = ih_benchkit_hub_new_ex (work, hub->data, registry, &config);
    ih_benchkit_hub_wait_ready (hub->hub, S_HUB_READY_MS);
}

//  Stops hub with SIGTERM, expects a clean exit, then checks its log holds
//  every site's events exactly once and in order, expected in all.
static void
s_hub_stop_and_check (s_hub_t *hub)
{
    int status = ih_benchkit_hub_stop (hub->hub, SIGTERM, S_HUB_STOP_MS);
    IH_CHECK (status == 0, "%s hub did not stop cleanly: %d (see %s)",
              hub->name, status,
              ih_proc_stderr (ih_benchkit_hub_proc (hub->hub)));
    ih_benchkit_hub_destroy (&hub->hub);
    uint64_t stored = ih_tk_log_check (hub->data, NULL);
    IH_CHECK (stored == hub->expected,
              "%s hub: %" PRIu64 " site events in the log, %" PRIu64 " sent",
              hub->name, stored, hub->expected);
}

//  ---------------------------------------------------------------------
//  Main

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: ih_bench_curve [--events E] [--sites K] [--rounds R]\n"
             "                      [--window W] [--handshakes H] "
             "[--dir DIR]\n\n"
             "  --events E      events per site and round (default 5000)\n"
             "  --sites K       sites, one sender thread each (default 4, "
             "max %d)\n"
             "  --rounds R      rounds of each configuration (default 6)\n"
             "  --window W      events in flight per site (default 256)\n"
             "  --handshakes H  fresh connections timed, of each "
             "configuration (default 20)\n"
             "  --dir DIR       where data directories are made (default "
             "$IH_BENCH_DIR or %s)\n",
             S_MAX_SITES, IH_BENCH_DATA);
}

int
main (int argc, char *argv[])
{
    //  First, in this thread: zsys_init is not thread-safe, and the
    //  sender threads' first zsock_new would otherwise race to run it
    zsys_init ();
    s_options_t options = {5000, 4, 6, 256, 20, ih_benchkit_default_root ()};
    const ih_benchkit_option_t table[] = {
        IH_BENCHKIT_OPT_INT ("events", &options.events, 1,
                             S_MAX_EVENTS_PER_SITE),
        IH_BENCHKIT_OPT_INT ("sites", &options.sites, 1, S_MAX_SITES),
        IH_BENCHKIT_OPT_INT ("rounds", &options.rounds, 1, S_MAX_ROUNDS),
        IH_BENCHKIT_OPT_INT ("window", &options.window, 1, 100000),
        IH_BENCHKIT_OPT_INT ("handshakes", &options.handshakes, 1,
                             S_MAX_HANDSHAKES),
        IH_BENCHKIT_OPT_TEXT ("dir", &options.root),
        IH_BENCHKIT_OPT_END};
    const ih_benchkit_cli_t cli = {"ih_bench_curve", s_usage, table, NULL};
    ih_benchkit_parse_options (argc, argv, &cli);
    if ((int64_t) options.events * options.rounds > S_MAX_EVENTS_PER_SITE) {
        fprintf (stderr,
                 "ih_bench_curve: --events x --rounds is over %d per site\n",
                 S_MAX_EVENTS_PER_SITE);
        return IH_BENCHKIT_EXIT_USAGE;
    }

    //  Keys, journal and hub logs: a temporary directory (kept on
    //  failure). Data: fresh directories on the disk under test.
    ih_benchkit_dirs_t dirs;
    ih_benchkit_dirs_make (&dirs, options.root, "ih-bench-curve",
                           "bureau.journal");
    const char *work = dirs.work, *registry = dirs.registry;

    printf ("ih_bench_curve: %d sites x %d events, window %d per site, "
            "%d round%s of each, %d handshake%s of each\n",
            options.sites, options.events, options.window, options.rounds,
            options.rounds == 1 ? "" : "s", options.handshakes,
            options.handshakes == 1 ? "" : "s");
    ih_benchkit_print_machine (dirs.data_root);

    //  The hub's key pair; clients hold its public half, as agents do
    char keys[600], hub_key_path[700], hub_pub_path[700];
    snprintf (keys, sizeof keys, "%s/hubkeys", work);
    IH_CHECK (zsys_dir_create ("%s", keys) == 0, "mkdir %s", keys);
    ih_key_t *hub_secret = ih_key_new ("hub");
    IH_CHECK (hub_secret && ih_key_save (hub_secret, keys) == IH_OK,
              "cannot save the hub key in %s", keys);
    ih_key_destroy (&hub_secret);
    snprintf (hub_key_path, sizeof hub_key_path, "%s/hub.key", keys);
    snprintf (hub_pub_path, sizeof hub_pub_path, "%s/hub.pub", keys);
    ih_key_t *hub_key = NULL;
    IH_CHECK (ih_key_load (hub_pub_path, &hub_key) == IH_OK, "load %s",
              hub_pub_path);

    //  Sites in the journal both hubs read, and every event signed before
    //  any timing: the throughput sites' events for all rounds, and one
    //  site's events for the handshakes (event n on the n-th connection)
    ih_benchkit_fleet_t *fleet =
        ih_benchkit_fleet_new (work, registry, "bench-inc", "laoshan",
                               options.sites, options.events * options.rounds);
    ih_benchkit_fleet_t *greeter = ih_benchkit_fleet_new (
        work, registry, "bench-hs", "laoshan", 1, options.handshakes);

    s_hub_t hubs[2];
    memset (hubs, 0, sizeof hubs);
    hubs[0].name = "plain";
    hubs[1].name = "curve";
    hubs[1].curve = true;
    for (int i = 0; i < 2; i++) {
        snprintf (hubs[i].data, sizeof hubs[i].data, "%s/%s", dirs.data_root,
                  hubs[i].name);
        s_hub_start (&hubs[i], work, registry, hub_key_path);
    }
    printf ("hubs:    plain ingest=%s, curve ingest=%s\n",
            ih_benchkit_hub_ingest (hubs[0].hub),
            ih_benchkit_hub_ingest (hubs[1].hub));

    //  --- Throughput: plain, curve, plain, curve, ... ---------------------
    printf ("\nround  config   events   seconds   events/s\n");
    double rates[2][S_MAX_ROUNDS], ratios[S_MAX_ROUNDS];
    for (int round = 1; round <= options.rounds; round++) {
        for (int i = 0; i < 2; i++) {
            double seconds;
            rates[i][round - 1] =
                s_round (&hubs[i], hub_key, fleet, &options, round, &seconds);
            printf ("%-5d  %-6s  %7d  %8.3f  %9.0f\n", round, hubs[i].name,
                    options.sites * options.events, seconds,
                    rates[i][round - 1]);
            fflush (stdout);
        }
        ratios[round - 1] = rates[0][round - 1] > 0
                                ? rates[1][round - 1] / rates[0][round - 1]
                                : 0;
    }
    double plain_median = ih_benchkit_median (rates[0], options.rounds);
    double curve_median = ih_benchkit_median (rates[1], options.rounds);
    double round_ratio = ih_benchkit_median (ratios, options.rounds);
    printf ("\nmedian events/s: plain %.0f, curve %.0f (of %d round%s each)\n",
            plain_median, curve_median, options.rounds,
            options.rounds == 1 ? "" : "s");
    printf ("ratio curve / plain: %.3f  (median of the per-round ratios: "
            "%.3f)\n",
            plain_median > 0 ? curve_median / plain_median : 0, round_ratio);
    fflush (stdout);

    //  --- Handshake: a fresh connection to the first ACK -----------------
    double connect_ms[2][S_MAX_HANDSHAKES];
    for (int n = 0; n < options.handshakes; n++)
        for (int i = 0; i < 2; i++) {
            //  Alternate which goes first, so neither always follows the
            //  other's connection
            int which = n % 2 ? 1 - i : i;
            connect_ms[which][n] =
                s_handshake (&hubs[which], hub_key, greeter, n);
        }
    double plain_ms, plain_max, curve_ms, curve_max;
    ih_benchkit_median_max (connect_ms[0], options.handshakes, &plain_ms,
                            &plain_max);
    ih_benchkit_median_max (connect_ms[1], options.handshakes, &curve_ms,
                            &curve_max);
    printf ("\nconnect to first ACK, fresh connection (median of %d; max):\n"
            "  plain %.2f ms (%.2f), curve %.2f ms (%.2f): curve adds %.2f "
            "ms, %.2fx\n",
            options.handshakes, plain_ms, plain_max, curve_ms, curve_max,
            curve_ms - plain_ms, plain_ms > 0 ? curve_ms / plain_ms : 0);

    //  --- Every event ACKed, none NAKed, every log whole -----------------
    for (int i = 0; i < 2; i++)
        s_hub_stop_and_check (&hubs[i]);
    printf ("\nall ACKed, no NAKs: plain %" PRIu64 " of %" PRIu64
            ", curve %" PRIu64 " of %" PRIu64 "; both logs hold them all, "
            "in order\n",
            hubs[0].acked, hubs[0].expected, hubs[1].acked, hubs[1].expected);

    ih_benchkit_fleet_destroy (&greeter);
    ih_benchkit_fleet_destroy (&fleet);
    ih_key_destroy (&hub_key);
    ih_benchkit_dirs_remove (&dirs);
    return 0;
}
