/*  =========================================================================
    it_catchup - gapless tail: replay first, then live, holes filled

    Where it sits: at the reading end of the data flow, after the hub's
    publish and replay sockets. `incuhub tail --replay` (cli/ih_follow.c)
    must hand out every event matching its filters exactly once and in
    hub order, whatever PUB drops. The checks compare its output, line by
    line, with the hub's own log (read-only, ih_log_read).

    (a) Catch-up under load: three real agents, each fed 1,000 events by
        `incuhub publish`; an unfiltered tail and a tail filtered on one
        site (c) start while they publish, from hub_seq 1.
    (b) A stopped subscriber: the hub's PUB high-water mark is 50; an
        unfiltered and a filtered tail are SIGSTOPped while thousands of
        padded events are stored (far beyond what the PUB queue and the
        socket buffers hold, so PUB drops for them), then SIGCONTed: both
        must fill the hole by themselves.
    =========================================================================*/
#include "ih_testkit.h"
#include "ih_json.h"

#define S_SITES 3
#define S_EVENTS 1000
#define S_STOPPED_EVENTS 5000
#define S_WINDOW 256

static const char *s_site[S_SITES] = {"shinan-district", "laoshan-inc-01",
                                      "sg-offshore-01"};
static const char *s_kind[S_SITES] = {"district", "incubator", "offshore"};
static const char *s_district[S_SITES] = {"shinan", "laoshan", "laoshan"};

//  One event of the log, as the reference.
typedef struct {
    char site[IH_NAME_MAX + 1];
    uint64_t seq;
} s_entry_t;

typedef struct {
    s_entry_t *entries; //  index hub_seq - 1
    uint64_t count;
} s_log_t;

static int
s_log_one (uint64_t hub_seq, uint64_t received, const uint8_t *bytes,
           size_t size, void *arg)
{
    s_log_t *log = (s_log_t *) arg;
    IH_CHECK (received != 0, "record %" PRIu64 " does not decode", hub_seq);
    IH_CHECK (hub_seq == log->count + 1,
              "log hub_seq %" PRIu64 " after %" PRIu64, hub_seq, log->count);
    ih_event_t event;
    IH_CHECK (ih_event_decode (bytes, size, &event) == IH_OK,
              "event at %" PRIu64 " does not decode", hub_seq);
    log->entries = (s_entry_t *) realloc (log->entries, (log->count + 1) *
                                                            sizeof (s_entry_t));
    IH_CHECK (log->entries, "out of memory");
    snprintf (log->entries[log->count].site, IH_NAME_MAX + 1, "%s", event.site);
    log->entries[log->count].seq = event.seq;
    log->count++;
    return 0;
}

//  The whole log, read-only (safe next to the running hub).
static s_log_t
s_log_load (const char *data)
{
    s_log_t log = {NULL, 0};
    ih_tk_log_scan (data, s_log_one, &log);
    return log;
}

//  Lines of a file so far (a tail's progress).
static uint64_t
s_lines (const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    uint64_t lines = 0;
    int c;
    while ((c = fgetc (file)) != EOF)
        if (c == '\n')
            lines++;
    fclose (file);
    return lines;
}

//  Checks a tail's stdout against the log: exactly the events of site
//  (NULL: every event) from hub_seq 1, each once, in hub order. Returns
//  how many it printed.
static uint64_t
s_check_tail (const char *path, const s_log_t *log, const char *site)
{
    FILE *file = fopen (path, "r");
    IH_CHECK (file, "cannot read %s", path);
    uint64_t next = 0; //  index into log of the next expected event
    uint64_t lines = 0;
    char line[8192];
    while (fgets (line, sizeof line, file)) {
        json_error_t error;
        json_t *json = json_loads (line, 0, &error);
        IH_CHECK (json, "%s: line %" PRIu64 " is not JSON: %s", path, lines + 1,
                  error.text);
        uint64_t hub_seq =
            (uint64_t) json_integer_value (json_object_get (json, "hub_seq"));
        const char *got_site =
            json_string_value (json_object_get (json, "site"));
        uint64_t seq =
            (uint64_t) json_integer_value (json_object_get (json, "seq"));
        IH_CHECK (got_site, "%s: line %" PRIu64 " has no site", path,
                  lines + 1);
        while (next < log->count && site &&
               !streq (log->entries[next].site, site))
            next++;
        IH_CHECK (next < log->count,
                  "%s: line %" PRIu64 " (hub_seq %" PRIu64
                  ") beyond the log's matching events",
                  path, lines + 1, hub_seq);
        IH_CHECK (hub_seq == next + 1,
                  "%s: line %" PRIu64 " has hub_seq %" PRIu64
                  ", expected %" PRIu64 " (duplicate, hole or disorder)",
                  path, lines + 1, hub_seq, next + 1);
        IH_CHECK (streq (got_site, log->entries[next].site) &&
                      seq == log->entries[next].seq,
                  "%s: hub_seq %" PRIu64 " is %s/%" PRIu64
                  ", the log has %s/%" PRIu64,
                  path, hub_seq, got_site, seq, log->entries[next].site,
                  log->entries[next].seq);
        json_decref (json);
        next++;
        lines++;
    }
    fclose (file);
    //  Nothing matching was left out at the end either
    while (next < log->count && site && !streq (log->entries[next].site, site))
        next++;
    IH_CHECK (next == log->count,
              "%s: stops at log index %" PRIu64 " of %" PRIu64, path, next,
              log->count);
    return lines;
}

//  Starts the hub with a replay endpoint and extra flags; copies the three
//  resolved endpoints.
static ih_proc_t *
s_hub_start (const char *dir, const char *data, const char *registry,
             const char *ingest_ep, const char *pub_ep, const char *replay_ep,
             const char *pub_hwm, char *ingest, char *pub, char *replay)
{
    const char *extra[] = {"--replay", replay_ep, "--pub-hwm", pub_hwm, NULL};
    ih_proc_t *hub = ih_tk_hub_start_ex (dir, data, registry, ingest_ep, pub_ep,
                                         extra, ingest, pub);
    char *line = ih_proc_wait_line (hub, "incuhubd: ready", 5000);
    IH_CHECK (line, "no ready line");
    char *value = ih_tk_field (line, "replay");
    IH_CHECK (value, "no replay= in '%s'", line);
    snprintf (replay, 256, "%s", value);
    free (value);
    free (line);
    return hub;
}

static ih_proc_t *
s_tail_start (const char *dir, const char *pub, const char *replay,
              const char *site, uint64_t count)
{
    char count_text[32];
    snprintf (count_text, sizeof count_text, "%" PRIu64, count);
    const char *args[] = {"tail",      "--hub",   pub,
                          "--replay",  replay,    "--from",
                          "1",         "--count", count_text,
                          "--timeout", "60000",   site ? "--site" : NULL,
                          site,        NULL};
    return ih_proc_start (dir, "incuhub", args);
}

//  Event n of a burst: alternating between sites, padded.
typedef struct {
    ih_tk_site_t *sites;
    int nsites;
    const char *pad;
} s_burst_t;

static uint8_t *
s_burst_event (int n, size_t *size_p, void *arg)
{
    s_burst_t *burst = (s_burst_t *) arg;
    char json[1024];
    snprintf (json, sizeof json, "{\"n\":%d,\"pad\":\"%s\"}", n, burst->pad);
    return ih_tk_site_sign (&burst->sites[n % burst->nsites], "test.burst",
                            json, size_p);
}

//  Streams count events, alternating between sites, straight to the hub's
//  ingest with a window in flight, as an agent does; waits for every ACK.
static void
s_ingest (const char *endpoint, ih_tk_site_t *sites, int nsites, int count,
          const char *pad)
{
    s_burst_t burst = {sites, nsites, pad};
    ih_tk_ingest (endpoint, count, S_WINDOW, 30000, s_burst_event, &burst);
}

//  (a) and (c): catch-up while three agents publish.
static void
s_test_load (void)
{
    const char *dir = ih_tk_tempdir ();
    char data[512], registry[512], ingest[256], pub[256], replay[256];
    ih_tk_paths (dir, data, registry, NULL, NULL);
    ih_tk_site_t sites[S_SITES];
    for (int i = 0; i < S_SITES; i++)
        ih_tk_site_init (&sites[i], dir, registry, s_site[i], s_kind[i],
                         s_district[i]);
    ih_proc_t *hub = s_hub_start (dir, data, registry, "tcp://127.0.0.1:*",
                                  "tcp://127.0.0.1:*", "tcp://127.0.0.1:*",
                                  "1000", ingest, pub, replay);
    //  The bureau's registry events take the log's first hub_seqs; an
    //  unfiltered tail from hub_seq 1 prints them too.
    uint64_t base = ih_tk_journal_count (registry);
    ih_proc_t *agents[S_SITES];
    char listen[S_SITES][256];
    for (int i = 0; i < S_SITES; i++)
        agents[i] = ih_tk_agent_start (dir, s_site[i], ingest, NULL, listen[i]);

    char in_path[512];
    snprintf (in_path, sizeof in_path, "%s/events.jsonl", dir);
    FILE *file = fopen (in_path, "w");
    IH_CHECK (file, "cannot write %s", in_path);
    for (int n = 1; n <= S_EVENTS; n++)
        fprintf (file,
                 "{\"type\":\"enterprise.admitted\",\"data\":"
                 "{\"enterprise\":\"ent-%04d\",\"n\":%d}}\n",
                 n, n);
    fclose (file);
    ih_proc_t *publishers[S_SITES];
    for (int i = 0; i < S_SITES; i++) {
        const char *args[] = {"publish", "--agent", listen[i], NULL};
        publishers[i] = ih_proc_start_stdin (dir, "incuhub", args, in_path);
    }
    //  Start the tails once the log has a head start, while the
    //  publishers are still going: they must replay, then switch to live.
    int64_t deadline = ih_tk_now () + 60000;
    uint64_t stored = 0;
    while ((stored = (uint64_t) ih_tk_status_int (ingest, "events")) <
               base + 100 &&
           ih_tk_now () < deadline)
        ;
    IH_CHECK (stored >= base + 100, "the hub stores nothing");
    ih_proc_t *tail_all =
        s_tail_start (dir, pub, replay, NULL, base + S_SITES * S_EVENTS);
    ih_proc_t *tail_site = s_tail_start (dir, pub, replay, s_site[1], S_EVENTS);
    uint64_t at_start = (uint64_t) ih_tk_status_int (ingest, "events");

    for (int i = 0; i < S_SITES; i++) {
        IH_CHECK (ih_proc_wait_exit (publishers[i], 120000) == 0,
                  "publisher %d failed (see %s)", i,
                  ih_proc_stderr (publishers[i]));
        ih_proc_destroy (&publishers[i]);
    }
    IH_CHECK (ih_proc_wait_exit (tail_all, 120000) == 0,
              "tail (all) failed (see %s)", ih_proc_stderr (tail_all));
    IH_CHECK (ih_proc_wait_exit (tail_site, 120000) == 0,
              "tail --site failed (see %s)", ih_proc_stderr (tail_site));

    s_log_t log = s_log_load (data);
    IH_CHECK (log.count == base + S_SITES * S_EVENTS, "log holds %" PRIu64,
              log.count);
    uint64_t all = s_check_tail (ih_proc_stdout (tail_all), &log, NULL);
    uint64_t one = s_check_tail (ih_proc_stdout (tail_site), &log, s_site[1]);
    IH_CHECK (all == base + S_SITES * S_EVENTS && one == S_EVENTS,
              "tails printed %" PRIu64 " and %" PRIu64, all, one);
    printf ("it_catchup: (a) tails started at ~%" PRIu64
            " stored events; %" PRIu64 " and %" PRIu64
            " (site %s) printed once, in order\n",
            at_start, all, one, s_site[1]);
    free (log.entries);
    ih_proc_destroy (&tail_all);
    ih_proc_destroy (&tail_site);

    for (int i = 0; i < S_SITES; i++)
        ih_tk_stop (&agents[i], s_site[i]);
    ih_tk_stop (&hub, "hub");
    for (int i = 0; i < S_SITES; i++)
        ih_tk_site_fini (&sites[i]);
}

//  (b): tails stopped past the PUB high-water mark recover by themselves.
static void
s_test_stopped (void)
{
    const char *dir = ih_tk_tempdir ();
    char data[512], registry[512], ingest[256], pub[256], replay[256];
    char ingest_ep[300], pub_ep[300], replay_ep[300];
    ih_tk_paths (dir, data, registry, NULL, NULL);
    snprintf (ingest_ep, sizeof ingest_ep, "ipc://%s/ingest.sock", dir);
    snprintf (pub_ep, sizeof pub_ep, "ipc://%s/pub.sock", dir);
    snprintf (replay_ep, sizeof replay_ep, "ipc://%s/replay.sock", dir);
    ih_tk_site_t sites[2];
    ih_tk_site_init (&sites[0], dir, registry, "lh-inc-01", "incubator",
                     "laoshan");
    ih_tk_site_init (&sites[1], dir, registry, "sn-inc-02", "incubator",
                     "shinan");
    ih_proc_t *hub = s_hub_start (dir, data, registry, ingest_ep, pub_ep,
                                  replay_ep, "50", ingest, pub, replay);
    //  The bureau's registry events take the log's first hub_seqs; the
    //  unfiltered tail prints them too.
    const uint64_t base = ih_tk_journal_count (registry);

    const int first = 100;
    const uint64_t sent = (uint64_t) first + S_STOPPED_EVENTS;
    const uint64_t total = base + sent;
    s_ingest (ingest, sites, 2, first, "x");
    ih_proc_t *tail_all = s_tail_start (dir, pub, replay, NULL, total);
    ih_proc_t *tail_site =
        s_tail_start (dir, pub, replay, "sn-inc-02", sent / 2);
    //  Both have caught up with the first burst (and so are live) ...
    int64_t deadline = ih_tk_now () + 30000;
    while ((s_lines (ih_proc_stdout (tail_all)) < base + first ||
            s_lines (ih_proc_stdout (tail_site)) < (uint64_t) first / 2) &&
           ih_tk_now () < deadline) {
        IH_CHECK (ih_proc_alive (tail_all) && ih_proc_alive (tail_site),
                  "a tail died (see %s, %s)", ih_proc_stderr (tail_all),
                  ih_proc_stderr (tail_site));
        zclock_sleep (10); //  poll interval, not synchronisation
    }
    IH_CHECK (s_lines (ih_proc_stdout (tail_all)) == base + first &&
                  s_lines (ih_proc_stdout (tail_site)) == (uint64_t) first / 2,
              "tails did not catch up with the first burst");

    //  ... then stop reading while the hub stores ~2 MB more than PUB and
    //  the socket buffers can hold for them.
    ih_proc_signal (tail_all, SIGSTOP);
    ih_proc_signal (tail_site, SIGSTOP);
    char pad[401];
    memset (pad, 'p', 400);
    pad[400] = 0;
    s_ingest (ingest, sites, 2, S_STOPPED_EVENTS, pad);
    ih_proc_signal (tail_all, SIGCONT);
    ih_proc_signal (tail_site, SIGCONT);

    IH_CHECK (ih_proc_wait_exit (tail_all, 120000) == 0,
              "tail (all) did not recover (see %s)", ih_proc_stderr (tail_all));
    IH_CHECK (ih_proc_wait_exit (tail_site, 120000) == 0,
              "tail --site did not recover (see %s)",
              ih_proc_stderr (tail_site));
    s_log_t log = s_log_load (data);
    IH_CHECK (log.count == total, "log holds %" PRIu64, log.count);
    uint64_t all = s_check_tail (ih_proc_stdout (tail_all), &log, NULL);
    uint64_t one = s_check_tail (ih_proc_stdout (tail_site), &log, "sn-inc-02");
    IH_CHECK (all == total && one == sent / 2,
              "tails printed %" PRIu64 " and %" PRIu64, all, one);
    printf ("it_catchup: (b) stopped past --pub-hwm 50 for %d events: %" PRIu64
            " and %" PRIu64 " (filtered) printed once, in order\n",
            S_STOPPED_EVENTS, all, one);
    free (log.entries);
    ih_proc_destroy (&tail_all);
    ih_proc_destroy (&tail_site);
    ih_tk_stop (&hub, "hub");
    ih_tk_site_fini (&sites[0]);
    ih_tk_site_fini (&sites[1]);
}

int
main (void)
{
    s_test_load ();
    s_test_stopped ();
    ih_tk_cleanup ();
    printf ("it_catchup: OK\n");
    return 0;
}
