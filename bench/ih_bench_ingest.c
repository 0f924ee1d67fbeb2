/*  =========================================================================
    ih_bench_ingest - the hub's ingest throughput, with and without group
    commit, side by side in one run

    Where it sits: in front of a real incuhubd, in place of the agents. K
    sender threads, one per site, each own a DEALER and stream their own
    pre-signed events to the hub's ingest ROUTER with up to a window in
    flight, exactly as agents do (see tests/it_hub_kill.c).
    The machinery it shares with the other benchmarks (hub start-up,
    STATUS, signing, senders, medians) is in bench/ih_benchkit.

    What it shows: with `--batch 1` the hub commits (and so fsyncs) once
    per event; with the default `--batch 1024` it commits whatever is
    queued in one transaction, so the fsync cost is shared by many events.
    The ratio of the two throughputs is the benefit of group commit.

    How it measures, and why:
      - Machines here are shared and noisy, so absolute figures from
        different runs do not compare; the two configurations are run
        alternately in the same process (A B, B A, A B ...) and the report
        is the ratio per round and its median.
      - Each run starts a fresh hub on a fresh data directory on the real
        disk (under the build directory by default, never /tmp, which may
        be tmpfs where fsync is free). So every run stores the same events
        from sequence 1. The hub stores the registry journal (the sites)
        at start; STATUS "events" and "commits" are read once it is ready
        and again after the run, so the differences count only the run:
        events / commits is the grouping actually achieved.
      - Events are signed before timing; each sender checks its DEALER is
        connected (a STATUS round trip) before the start barrier. The
        clock runs from the first send of any sender to the last ACK of
        any sender.
      - Every event must be ACKed, in order, and the hub must report them
        all stored; anything else fails the run (exit 1). There are no
        assertions on timing: the ctest smoke run only keeps this working.

    Usage: ih_bench_ingest [--events N] [--sites K] [--rounds R]
                           [--window W] [--dir DIR]
    DIR (or $IH_BENCH_DIR) is where the data directories are made; sockets,
    keys and hub logs go to a temporary directory.
    =========================================================================*/
#include <signal.h>
#include "ih_benchkit.h"

#define S_REPLY_TIMEOUT_MS 60000 //  one reply; batch 1 on a slow disk
#define S_HUB_READY_MS 20000
#define S_HUB_STOP_MS 20000
#define S_BATCH_OFF 1   //  one commit per event
#define S_BATCH_ON 1024 //  incuhubd's default batch_max
#define S_MAX_SITES IH_BENCHKIT_MAX_SITES
#define S_MAX_ROUNDS 100

typedef struct {
    int events; //  per site
    int sites;
    int rounds;
    int window; //  events in flight per site
    const char *root;
} s_options_t;

//  One timed run of one configuration.
typedef struct {
    size_t batch;     //  --batch given to the hub
    uint64_t events;  //  events ACKed
    uint64_t commits; //  hub STATUS "commits"
    double seconds;   //  first send to last ACK
} s_result_t;

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: ih_bench_ingest [--events N] [--sites K] [--rounds R]\n"
             "                       [--window W] [--dir DIR]\n\n"
             "  --events N   events per site (default 5000)\n"
             "  --sites K    sites, one sender thread each (default 4, max "
             "%d)\n"
             "  --rounds R   rounds of both configurations (default 3)\n"
             "  --window W   events in flight per site (default 256)\n"
             "  --dir DIR    where data directories are made (default "
             "$IH_BENCH_DIR or %s)\n",
             S_MAX_SITES, IH_BENCH_DATA);
}

//  One run: a fresh hub with --batch batch on a fresh data directory,
//  every site streaming all its events. Fails the run on any error.
static s_result_t
s_run (const s_options_t *options, const char *work, const char *data_root,
       const char *registry, ih_benchkit_fleet_t *fleet, int round,
       size_t batch)
{
    char data[1100], tag[64], batch_text[32], label[32];
    snprintf (data, sizeof data, "%s/data-r%d-b%zu", data_root, round, batch);
    snprintf (tag, sizeof tag, "r%d-b%zu", round, batch);
    snprintf (batch_text, sizeof batch_text, "%zu", batch);
    snprintf (label, sizeof label, "batch %zu", batch);
    const char *extra[] = {"--batch", batch_text, NULL};
    ih_benchkit_hub_t *hub =
        ih_benchkit_hub_new (work, data, registry, tag, extra);
    ih_benchkit_hub_wait_ready (hub, S_HUB_READY_MS);
    const char *endpoint = ih_benchkit_hub_ingest (hub);
    //  The registry journal, stored at start, is not part of the run
    uint64_t stored_before = ih_benchkit_status_field (endpoint, "events");
    uint64_t commits_before = ih_benchkit_status_field (endpoint, "commits");
    IH_CHECK (stored_before == ih_tk_journal_count (registry),
              "batch %zu: hub starts with %" PRIu64 " events, the journal "
              "has %zu",
              batch, stored_before, ih_tk_journal_count (registry));

    ih_benchkit_senders_t *senders = ih_benchkit_senders_new (
        endpoint, fleet, options->window, S_REPLY_TIMEOUT_MS);
    s_result_t result = {batch, 0, 0, 0};
    result.events = ih_benchkit_senders_wait (senders, label, &result.seconds);
    ih_benchkit_senders_destroy (&senders);
    uint64_t stored =
        ih_benchkit_status_field (endpoint, "events") - stored_before;
    IH_CHECK (stored == result.events,
              "batch %zu: hub reports %" PRIu64 " events stored in the run, "
              "%" PRIu64 " ACKed",
              batch, stored, result.events);
    result.commits =
        ih_benchkit_status_field (endpoint, "commits") - commits_before;
    IH_CHECK (result.commits > 0, "batch %zu: hub reports no commits", batch);

    int status = ih_benchkit_hub_stop (hub, SIGTERM, S_HUB_STOP_MS);
    IH_CHECK (status == 0, "incuhubd --batch %zu did not stop cleanly (see %s)",
              batch, ih_proc_stderr (ih_benchkit_hub_proc (hub)));
    ih_benchkit_hub_destroy (&hub);
    ih_tk_rmrf (data);
    return result;
}

static void
s_print_result (int round, const s_result_t *result)
{
    char config[32];
    snprintf (config, sizeof config, "batch %zu", result->batch);
    printf ("%-5d  %-10s  %7" PRIu64 "  %8.3f  %9.0f  %13.1f\n", round, config,
            result->events, result->seconds,
            result->seconds > 0 ? (double) result->events / result->seconds
                                : 0.0,
            (double) result->events / (double) result->commits);
    fflush (stdout);
}

int
main (int argc, char *argv[])
{
    //  First, in this thread: zsys_init is not thread-safe, and the
    //  sender threads' first zsock_new would otherwise race to run it
    zsys_init ();
    s_options_t options = {5000, 4, 3, 256, ih_benchkit_default_root ()};
    const ih_benchkit_option_t table[] = {
        IH_BENCHKIT_OPT_INT ("events", &options.events, 1, 10000000),
        IH_BENCHKIT_OPT_INT ("sites", &options.sites, 1, S_MAX_SITES),
        IH_BENCHKIT_OPT_INT ("rounds", &options.rounds, 1, S_MAX_ROUNDS),
        IH_BENCHKIT_OPT_INT ("window", &options.window, 1, 100000),
        IH_BENCHKIT_OPT_TEXT ("dir", &options.root),
        IH_BENCHKIT_OPT_END};
    const ih_benchkit_cli_t cli = {"ih_bench_ingest", s_usage, table, NULL};
    ih_benchkit_parse_options (argc, argv, &cli);

    //  Sockets, keys, registry and hub logs: a temporary directory (kept
    //  on failure). Data: a fresh directory on the disk under test.
    ih_benchkit_dirs_t dirs;
    ih_benchkit_dirs_make (&dirs, options.root, "ih-bench", "registry.json");
    const char *work = dirs.work, *registry = dirs.registry;

    printf ("ih_bench_ingest: %d sites x %d events, window %d per site, "
            "%d round%s\n",
            options.sites, options.events, options.window, options.rounds,
            options.rounds == 1 ? "" : "s");
    ih_benchkit_print_machine (dirs.data_root);

    //  Sign everything before any timing
    ih_benchkit_fleet_t *fleet = ih_benchkit_fleet_new (
        work, registry, "bench-inc", "laoshan", options.sites, options.events);

    printf ("\nround  config       events   seconds   events/s  "
            "events/commit\n");
    double ratios[S_MAX_ROUNDS];
    for (int round = 1; round <= options.rounds; round++) {
        //  Alternate which goes first, so neither always runs on a
        //  cold (or warm) machine
        size_t order[2] = {S_BATCH_OFF, S_BATCH_ON};
        if (round % 2 == 0) {
            order[0] = S_BATCH_ON;
            order[1] = S_BATCH_OFF;
        }
        s_result_t results[2];
        for (int i = 0; i < 2; i++) {
            results[i] = s_run (&options, work, dirs.data_root, registry, fleet,
                                round, order[i]);
            s_print_result (round, &results[i]);
        }
        const s_result_t *on =
            results[0].batch == S_BATCH_ON ? &results[0] : &results[1];
        const s_result_t *off =
            results[0].batch == S_BATCH_ON ? &results[1] : &results[0];
        //  Same events in both: the throughput ratio is the time ratio
        ratios[round - 1] = on->seconds > 0 ? off->seconds / on->seconds : 0;
        printf ("%-5d  ratio (batch %d / batch %d): %.1fx\n", round, S_BATCH_ON,
                S_BATCH_OFF, ratios[round - 1]);
    }
    double median = ih_benchkit_median (ratios, options.rounds);
    printf ("\nratio (batch %d / batch %d): %.1fx  (median of %d round%s)\n",
            S_BATCH_ON, S_BATCH_OFF, median, options.rounds,
            options.rounds == 1 ? "" : "s");

    ih_benchkit_fleet_destroy (&fleet);
    ih_benchkit_dirs_remove (&dirs);
    return 0;
}
