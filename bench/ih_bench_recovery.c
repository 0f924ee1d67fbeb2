/*  =========================================================================
    ih_bench_recovery - how long the hub takes to come back after a crash,
    as its log grows

    Where it sits: in front of a real incuhubd, in place of the agents. One
    thread drives one DEALER per site, each streaming its own pre-signed
    events to the hub's ingest ROUTER with up to a window in flight (as
    agents do, see tests/it_hub_kill.c), and SIGKILLs and restarts the hub.
    Hub start-up, STATUS, option parsing and medians come from
    bench/ih_benchkit; the single-threaded crash-aware streaming is its own.

    For each log size N in --sizes (ascending; one log that grows from one
    size to the next, so the largest size is not refilled from 0):
      1. fill: stream events until the log holds N (not timed, only shown);
      2. R times: stream another 2 windows per site and SIGKILL the hub
         once half of that is ACKed, so every site still has events in
         flight; then restart incuhubd on the same data directory and
         measure from the spawn to
           (a) its "incuhubd: ready" line, and
           (b) the first ACK of a resent event.
         Every site resends its unacknowledged window (duplicates must be
         ACKed with their original hub sequence, the rest stored).
    The table shows data.mdb's size and the median and max of (a) and (b).

    How it measures, and why:
      - The resent windows are queued in fresh DEALERs before the spawn,
        so they leave the moment the hub's socket accepts a connection;
        the DEALERs reconnect every 1 ms (agents use 100 ms with backoff,
        which would hide the hub's own time). So (b) is the hub's start,
        recovery, bind and first group commit, to within about 1 ms.
      - The ready line is looked for in the hub's stdout file every 1 ms
        or so, between polls of the DEALERs.
      - Data goes on the real disk (under the build directory by default,
        never /tmp, which may be tmpfs where fsync is free).
      - The log starts with the registry journal (the bureau's events,
        stored when the hub first starts, hub_seq 1..J); sizes and counts
        here are of the sites' events, after those.
      - Correctness, not timing, is asserted: every ACK is in order per
        site, a site's event ACKed twice must get the same hub sequence
        both times, the resends ACKed with a hub sequence at or below the
        dead hub's last must be exactly the events it stored but had not
        ACKed, the hub must report the events we count, and at the
        end ih_tk_log_check must find every event exactly once and the
        log's index must give each event the hub sequence its ACKs gave.
        Anything else fails the run (exit 1). The ctest smoke run uses
        tiny numbers only to keep this working.

    Usage: ih_bench_recovery [--sizes N,N,...] [--sites K] [--repeats R]
                             [--window W] [--map-size MB] [--dir DIR]
    DIR (or $IH_BENCH_DIR) is where the data directory is made; sockets,
    keys and hub logs go to a temporary directory.
    =========================================================================*/
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include "ih_benchkit.h"

#define S_REPLY_TIMEOUT_MS 60000 //  without any ACK progress
#define S_HUB_READY_MS 60000     //  a restart, on a large log
#define S_HUB_STOP_MS 20000
#define S_MAX_SITES IH_BENCHKIT_MAX_SITES
#define S_MAX_SIZES 16
#define S_MAX_REPEATS 100
#define S_MAX_SIZE 100000000
#define S_CHUNK 100000 //  events signed at once (all sites) while filling
#define S_RECONNECT_MS 1

typedef struct {
    int sizes[S_MAX_SIZES];
    int size_count;
    int sites;
    int repeats;
    int window; //  events in flight per site
    int map_mb; //  incuhubd --map-size
    const char *root;
} s_options_t;

//  One site: its chain, the signed events not yet all ACKed, and what the
//  hub said about each event.
typedef struct {
    ih_tk_site_t tk;    //  chain; tk.seq is the last signed
    uint8_t **events;   //  events[i] has seq base + 1 + i
    size_t *sizes;      //  their sizes
    uint64_t base;      //  seq before the current chunk
    uint64_t acked;     //  last ACKed, in order
    uint64_t sent;      //  last sent
    uint64_t *hub_seqs; //  [seq] -> hub_seq of its ACKs, 0 = none yet
    uint64_t hub_seqs_cap;
    zsock_t *dealer;
} s_site_t;

//  The whole run.
typedef struct {
    const s_options_t *options;
    const char *work;       //  temporary: sockets, keys, registry, logs
    char data[1100];        //  the hub's data directory
    const char *registry;   //  registry.json in work
    char ingest[512];       //  ipc:// endpoint, the same across restarts
    char map_size[32];      //  --map-size value
    s_site_t *sites;        //  options->sites of them
    zpoller_t *poller;      //  over the sites' DEALERs
    ih_benchkit_hub_t *hub; //  running incuhubd, or NULL
    uint64_t journal;       //  registry events, first in the log
    uint64_t stored;        //  log's last hub_seq at the last kill
    uint64_t dup_acks;      //  ACKs with hub_seq <= stored since the kill
    uint64_t all_dups;      //  dup_acks over all restarts
} s_bench_t;

//  What one restart measured, in ms from the spawn (-1 = not seen).
typedef struct {
    double ready_ms;
    double first_ack_ms;
} s_probe_t;

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: ih_bench_recovery [--sizes N,N,...] [--sites K] "
             "[--repeats R]\n"
             "                         [--window W] [--map-size MB] "
             "[--dir DIR]\n\n"
             "  --sizes LIST   log sizes in events, comma-separated (default "
             "10000,100000,1000000)\n"
             "  --sites K      sites, one DEALER each (default 4, max %d)\n"
             "  --repeats R    crashes and restarts per size (default 3)\n"
             "  --window W     events in flight per site (default 256)\n"
             "  --map-size MB  incuhubd --map-size (default 4096)\n"
             "  --dir DIR      where the data directory is made (default "
             "$IH_BENCH_DIR or %s)\n",
             S_MAX_SITES, IH_BENCH_DATA);
}

static int
s_compare_int (const void *a, const void *b)
{
    int x = *(const int *) a, y = *(const int *) b;
    return (x > y) - (x < y);
}

//  Parses "N,N,..." into options->sizes, sorted, without repeats.
//  Returns 0 or -1.
static int
s_parse_sizes (const char *text, void *arg)
{
    s_options_t *options = (s_options_t *) arg;
    char copy[512];
    if (strlen (text) >= sizeof copy)
        return -1;
    snprintf (copy, sizeof copy, "%s", text);
    int count = 0;
    char *save = NULL;
    for (char *item = strtok_r (copy, ",", &save); item;
         item = strtok_r (NULL, ",", &save)) {
        if (count == S_MAX_SIZES ||
            ih_benchkit_parse_int (item, 1, S_MAX_SIZE, &options->sizes[count]))
            return -1;
        count++;
    }
    if (count == 0)
        return -1;
    qsort (options->sizes, (size_t) count, sizeof (int), s_compare_int);
    int unique = 1;
    for (int i = 1; i < count; i++)
        if (options->sizes[i] != options->sizes[unique - 1])
            options->sizes[unique++] = options->sizes[i];
    options->size_count = unique;
    return 0;
}

//  Events in the log, as we count them: every signed event of every site
//  (callers make sure all are ACKed first).
static uint64_t
s_total (const s_bench_t *self)
{
    uint64_t total = 0;
    for (int i = 0; i < self->options->sites; i++)
        total += self->sites[i].tk.seq;
    return total;
}

//  Frees a site's current chunk of signed events.
static void
s_site_free_chunk (s_site_t *site)
{
    for (uint64_t seq = site->base + 1; seq <= site->tk.seq; seq++)
        free (site->events[seq - site->base - 1]);
    free (site->events);
    free (site->sizes);
    site->events = NULL;
    site->sizes = NULL;
    site->base = site->tk.seq;
}

typedef struct {
    s_site_t *site;
    uint64_t count;
} s_sign_job_t;

//  Signs the next count events of a site as its new chunk. The previous
//  chunk must be fully ACKed. Runs in a thread per site.
static void *
s_site_sign (void *arg)
{
    s_sign_job_t *job = (s_sign_job_t *) arg;
    s_site_t *site = job->site;
    IH_CHECK (site->acked == site->tk.seq, "signing over unacked events");
    s_site_free_chunk (site);
    site->events = (uint8_t **) calloc (job->count, sizeof (uint8_t *));
    site->sizes = (size_t *) calloc (job->count, sizeof (size_t));
    uint64_t need = site->tk.seq + job->count + 1;
    if (need > site->hub_seqs_cap) {
        uint64_t cap = site->hub_seqs_cap ? site->hub_seqs_cap : 1024;
        while (cap < need)
            cap *= 2;
        uint64_t *grown =
            (uint64_t *) realloc (site->hub_seqs, cap * sizeof (uint64_t));
        IH_CHECK (grown, "out of memory");
        memset (grown + site->hub_seqs_cap, 0,
                (cap - site->hub_seqs_cap) * sizeof (uint64_t));
        site->hub_seqs = grown;
        site->hub_seqs_cap = cap;
    }
    IH_CHECK (site->events && site->sizes, "out of memory");
    for (uint64_t i = 0; i < job->count; i++) {
        char json[160];
        uint64_t seq = site->tk.seq + 1;
        snprintf (json, sizeof json,
                  "{\"enterprise\":\"ent-%" PRIu64
                  "\",\"round\":\"angel\",\"amount_cny\":%" PRIu64 "}",
                  seq, (seq % 1000 + 1) * 1000);
        site->events[i] = ih_tk_site_sign (&site->tk, "financing.round_closed",
                                           json, &site->sizes[i]);
    }
    return NULL;
}

//  Signs count events in all (count split evenly, at least 1 per site),
//  one thread per site.
static void
s_sign (s_bench_t *self, uint64_t count)
{
    int sites = self->options->sites;
    s_sign_job_t jobs[S_MAX_SITES];
    pthread_t threads[S_MAX_SITES];
    for (int i = 0; i < sites; i++) {
        jobs[i].site = &self->sites[i];
        jobs[i].count = count / (uint64_t) sites +
                        ((uint64_t) i < count % (uint64_t) sites ? 1 : 0);
        if (jobs[i].count == 0)
            jobs[i].count = 1;
        IH_CHECK (pthread_create (&threads[i], NULL, s_site_sign, &jobs[i]) ==
                      0,
                  "pthread_create");
    }
    for (int i = 0; i < sites; i++)
        pthread_join (threads[i], NULL);
}

//  (Re)creates every site's DEALER and the poller over them; the old ones
//  (a dead hub's) are dropped with whatever they still held.
static void
s_connect (s_bench_t *self)
{
    zpoller_destroy (&self->poller);
    for (int i = 0; i < self->options->sites; i++) {
        s_site_t *site = &self->sites[i];
        zsock_destroy (&site->dealer);
        site->dealer = zsock_new (ZMQ_DEALER);
        IH_CHECK (site->dealer, "zsock_new");
        zsock_set_linger (site->dealer, 0);
        zsock_set_reconnect_ivl (site->dealer, S_RECONNECT_MS);
        zsock_set_sndhwm (site->dealer, self->options->window * 4 + 64);
        IH_CHECK (zsock_connect (site->dealer, "%s", self->ingest) == 0,
                  "cannot connect to %s", self->ingest);
        if (i == 0)
            self->poller = zpoller_new (site->dealer, NULL);
        else
            zpoller_add (self->poller, site->dealer);
    }
}

//  Sends, for every site, events after its last sent until the window is
//  full or all signed events are out.
static void
s_fill_windows (s_bench_t *self)
{
    uint64_t window = (uint64_t) self->options->window;
    for (int i = 0; i < self->options->sites; i++) {
        s_site_t *site = &self->sites[i];
        while (site->sent < site->tk.seq && site->sent - site->acked < window) {
            uint64_t index = site->sent - site->base; //  of seq sent + 1
            zmsg_t *msg =
                ih_wire_event (site->events[index], site->sizes[index]);
            IH_CHECK (zmsg_send (&msg, site->dealer) == 0,
                      "send failed: site %s seq %" PRIu64, site->tk.site,
                      site->sent + 1);
            site->sent++;
        }
    }
}

//  Handles one reply on site's DEALER: it must be the ACK of the site's
//  next event, with the same hub_seq as any earlier ACK of that event.
static void
s_take_reply (s_bench_t *self, s_site_t *site)
{
    zmsg_t *reply = zmsg_recv (site->dealer);
    IH_CHECK (reply, "recv failed on site %s", site->tk.site);
    ih_wire_t wire;
    ih_err_t err = ih_wire_decode (reply, &wire);
    IH_CHECK (err == IH_OK, "site %s: undecodable reply: %s", site->tk.site,
              ih_err_name (err));
    IH_CHECK (wire.kind != IH_WIRE_NAK,
              "site %s: NAK seq=%" PRIu64 " %s: %s (acked %" PRIu64 ")",
              site->tk.site, wire.seq, ih_err_name (wire.code), wire.reason,
              site->acked);
    IH_CHECK (wire.kind == IH_WIRE_ACK && streq (wire.site, site->tk.site) &&
                  wire.seq == site->acked + 1 && wire.hub_seq != 0,
              "site %s: reply kind %d site '%s' seq %" PRIu64
              " hub_seq %" PRIu64 ", expected ACK %" PRIu64,
              site->tk.site, (int) wire.kind, wire.site, wire.seq, wire.hub_seq,
              site->acked + 1);
    uint64_t *known = &site->hub_seqs[wire.seq];
    IH_CHECK (*known == 0 || *known == wire.hub_seq,
              "site %s seq %" PRIu64 " ACKed with hub_seq %" PRIu64
              ", earlier with %" PRIu64,
              site->tk.site, wire.seq, wire.hub_seq, *known);
    if (wire.hub_seq <= self->stored)
        self->dup_acks++;
    *known = wire.hub_seq;
    site->acked++;
    zmsg_destroy (&reply);
}

//  Streams every site's signed events with a window in flight until all
//  are ACKed, or, if stop_after > 0, until stop_after ACKs have come in
//  (events are then still in flight). With a probe, also times, from
//  spawned_ns, the hub's ready line and the first ACK.
static void
s_stream (s_bench_t *self, uint64_t stop_after, s_probe_t *probe,
          int64_t spawned_ns)
{
    uint64_t taken = 0;
    int64_t progress_ns = ih_benchkit_now_ns ();
    while (true) {
        bool done = true;
        for (int i = 0; i < self->options->sites; i++)
            done = done && self->sites[i].acked == self->sites[i].tk.seq;
        if (done && (!probe || probe->ready_ms >= 0))
            return;
        s_fill_windows (self);
        //  While timing a restart, wake often to look for the ready line
        zsock_t *which =
            (zsock_t *) zpoller_wait (self->poller, probe ? 1 : 500);
        int64_t now = ih_benchkit_now_ns ();
        if (probe && probe->ready_ms < 0) {
            if (ih_benchkit_hub_ready_seen (self->hub))
                probe->ready_ms = (double) (now - spawned_ns) / 1e6;
            else
                IH_CHECK (ih_proc_alive (ih_benchkit_hub_proc (self->hub)) &&
                              now - spawned_ns <
                                  (int64_t) S_HUB_READY_MS * 1000000,
                          "incuhubd did not become ready (see %s)",
                          ih_proc_stderr (ih_benchkit_hub_proc (self->hub)));
        }
        if (which) {
            for (int i = 0; i < self->options->sites; i++)
                if (self->sites[i].dealer == which)
                    s_take_reply (self, &self->sites[i]);
            if (probe && probe->first_ack_ms < 0)
                probe->first_ack_ms = (double) (now - spawned_ns) / 1e6;
            progress_ns = now;
            if (stop_after && ++taken >= stop_after)
                return;
        } else {
            IH_CHECK (!zpoller_terminated (self->poller), "interrupted");
            IH_CHECK (now - progress_ns <
                          (int64_t) S_REPLY_TIMEOUT_MS * 1000000,
                      "no ACK for %d ms (hub stderr %s)", S_REPLY_TIMEOUT_MS,
                      ih_proc_stderr (ih_benchkit_hub_proc (self->hub)));
        }
    }
}

//  Spawns incuhubd on the data directory, on the same endpoints every
//  time. Returns the spawn time.
static int64_t
s_hub_spawn (s_bench_t *self)
{
    const char *extra[] = {"--map-size", self->map_size, NULL};
    self->hub = ih_benchkit_hub_new (self->work, self->data, self->registry,
                                     NULL, extra);
    return ih_benchkit_hub_spawned_ns (self->hub);
}

//  Checks that the hub stores exactly the events we have had ACKed (and
//  the registry journal).
static void
s_check_status (s_bench_t *self)
{
    uint64_t stored = ih_benchkit_status_field (self->ingest, "events");
    IH_CHECK (stored == self->journal + s_total (self),
              "hub reports %" PRIu64 " events, %" PRIu64
              " were ACKed after %" PRIu64 " registry events",
              stored, s_total (self), self->journal);
}

//  Fills the log up to size events (if it holds fewer), in signed chunks.
static void
s_fill (s_bench_t *self, uint64_t size)
{
    uint64_t start = s_total (self);
    int64_t start_ns = ih_benchkit_now_ns ();
    while (s_total (self) < size) {
        uint64_t count = size - s_total (self);
        s_sign (self, count < S_CHUNK ? count : S_CHUNK);
        s_stream (self, 0, NULL, 0);
    }
    double seconds = (double) (ih_benchkit_now_ns () - start_ns) / 1e9;
    uint64_t added = s_total (self) - start;
    printf ("fill:  %" PRIu64 " -> %" PRIu64 " events in %.1f s "
            "(%.0f events/s, signing included)\n",
            start, s_total (self), seconds,
            seconds > 0 ? (double) added / seconds : 0.0);
    fflush (stdout);
    s_check_status (self);
}

//  One crash and restart: streams 2 windows per site, SIGKILLs the hub
//  halfway, restarts it with every unacked window queued for resending,
//  times it, and waits until all is ACKed.
static s_probe_t
s_crash (s_bench_t *self, int repeat)
{
    int sites = self->options->sites;
    uint64_t per_site = 2 * (uint64_t) self->options->window;
    s_sign (self, per_site * (uint64_t) sites);
    s_stream (self, per_site * (uint64_t) sites / 2, NULL, 0);
    IH_CHECK (ih_benchkit_hub_stop (self->hub, SIGKILL, S_HUB_STOP_MS) ==
                  128 + SIGKILL,
              "incuhubd did not die of SIGKILL");
    ih_benchkit_hub_destroy (&self->hub);

    //  What the dead hub had committed: hub sequences are dense from 1,
    //  so its last is its count (the registry journal's events first).
    //  Those above our ACKs were stored but not ACKed; their resends must
    //  be ACKed as duplicates.
    ih_log_t *log = ih_log_new (self->data, true, 0);
    IH_CHECK (log, "cannot open %s read-only after the kill", self->data);
    self->stored = ih_log_last (log);
    ih_log_destroy (&log);
    uint64_t in_flight = 0, acked = 0;
    for (int i = 0; i < sites; i++) {
        in_flight += self->sites[i].sent - self->sites[i].acked;
        acked += self->sites[i].acked;
    }
    IH_CHECK (in_flight > 0, "nothing in flight at the kill");
    IH_CHECK (self->stored >= self->journal, "log lost its registry events");
    uint64_t stored = self->stored - self->journal;
    IH_CHECK (stored >= acked && stored <= acked + in_flight,
              "log holds %" PRIu64 " site events after the kill: %" PRIu64
              " were ACKed, %" PRIu64 " in flight",
              stored, acked, in_flight);

    //  Fresh DEALERs (what the dead hub's held is gone, as for an agent
    //  whose connection broke), each with its unacked window queued.
    for (int i = 0; i < sites; i++)
        self->sites[i].sent = self->sites[i].acked;
    s_connect (self);
    s_fill_windows (self);
    self->dup_acks = 0;
    s_probe_t probe = {-1, -1};
    int64_t spawned_ns = s_hub_spawn (self);
    s_stream (self, 0, &probe, spawned_ns);
    printf ("  crash %d: %" PRIu64 " in flight, %" PRIu64
            " stored before the kill, ACKed as duplicates; ready %.1f ms, "
            "first ACK %.1f ms\n",
            repeat, in_flight, self->dup_acks, probe.ready_ms,
            probe.first_ack_ms);
    fflush (stdout);
    //  A resend below the dead hub's last was stored before the kill; the
    //  index check in s_verify shows its ACK gave the original hub_seq
    IH_CHECK (self->dup_acks == stored - acked,
              "%" PRIu64 " resends ACKed as stored before the kill, the log "
              "had %" PRIu64,
              self->dup_acks, stored - acked);
    self->all_dups += self->dup_acks;
    self->stored = 0;
    s_check_status (self);
    return probe;
}

//  Index entries against the hub sequences the ACKs gave.
static int
s_check_index (const char *site_name, uint64_t seq, uint64_t hub_seq, void *arg)
{
    s_bench_t *self = (s_bench_t *) arg;
    if (streq (site_name, IH_TK_BUREAU)) {
        IH_CHECK (seq >= 1 && seq <= self->journal && hub_seq == seq,
                  "index: registry event seq %" PRIu64 " at hub_seq %" PRIu64,
                  seq, hub_seq);
        return 0; //  the registry journal, first in the log
    }
    for (int i = 0; i < self->options->sites; i++) {
        s_site_t *site = &self->sites[i];
        if (streq (site->tk.site, site_name)) {
            IH_CHECK (seq >= 1 && seq <= site->tk.seq &&
                          site->hub_seqs[seq] == hub_seq,
                      "index: site %s seq %" PRIu64 " at hub_seq %" PRIu64
                      ", ACKed with %" PRIu64,
                      site_name, seq, hub_seq,
                      seq >= 1 && seq <= site->tk.seq ? site->hub_seqs[seq]
                                                      : 0);
            return 0;
        }
    }
    IH_CHECK (false, "index: unknown site '%s'", site_name);
    return 1;
}

//  With the hub stopped: every event exactly once, and where its ACKs said.
static void
s_verify (s_bench_t *self)
{
    zhashx_t *counts;
    uint64_t events = ih_tk_log_check (self->data, &counts);
    IH_CHECK (events == s_total (self),
              "log holds %" PRIu64 " events, %" PRIu64 " were ACKed", events,
              s_total (self));
    for (int i = 0; i < self->options->sites; i++) {
        s_site_t *site = &self->sites[i];
        uint64_t *last = (uint64_t *) zhashx_lookup (counts, site->tk.site);
        IH_CHECK (last && *last == site->tk.seq,
                  "site %s: log holds %" PRIu64 ", %" PRIu64 " were ACKed",
                  site->tk.site, last ? *last : 0, site->tk.seq);
    }
    zhashx_destroy (&counts);
    ih_log_t *log = ih_log_new (self->data, true, 0);
    IH_CHECK (log, "cannot open %s read-only", self->data);
    IH_CHECK (ih_log_index (log, s_check_index, self) == IH_OK, "ih_log_index");
    ih_log_destroy (&log);
    printf ("verify: %" PRIu64 " events, each exactly once and at the hub "
            "sequence its ACKs gave; %" PRIu64 " duplicates ACKed\n",
            events, self->all_dups);
}

int
main (int argc, char *argv[])
{
    //  First, in this thread: zsys_init is not thread-safe, and the
    //  signing threads' libraries must not race to initialise
    zsys_init ();
    s_options_t options = {{10000, 100000, 1000000},   3, 4, 3, 256, 4096,
                           ih_benchkit_default_root ()};
    const ih_benchkit_option_t table[] = {
        IH_BENCHKIT_OPT_PARSE ("sizes", s_parse_sizes, &options),
        IH_BENCHKIT_OPT_INT ("sites", &options.sites, 1, S_MAX_SITES),
        IH_BENCHKIT_OPT_INT ("repeats", &options.repeats, 1, S_MAX_REPEATS),
        IH_BENCHKIT_OPT_INT ("window", &options.window, 1, 100000),
        IH_BENCHKIT_OPT_INT ("map-size", &options.map_mb, 1, 1048576),
        IH_BENCHKIT_OPT_TEXT ("dir", &options.root),
        IH_BENCHKIT_OPT_END};
    const ih_benchkit_cli_t cli = {"ih_bench_recovery", s_usage, table,
                                   "is not valid"};
    ih_benchkit_parse_options (argc, argv, &cli);

    s_bench_t bench;
    memset (&bench, 0, sizeof bench);
    bench.options = &options;
    ih_benchkit_dirs_t dirs;
    ih_benchkit_dirs_make (&dirs, options.root, "ih-recovery", "registry.json");
    bench.work = dirs.work;
    bench.registry = dirs.registry;
    snprintf (bench.data, sizeof bench.data, "%s/data", dirs.data_root);
    //  The endpoint ih_benchkit_hub_new binds with no tag; the DEALERs
    //  connect to it before each restart, ahead of the hub
    snprintf (bench.ingest, sizeof bench.ingest, "ipc://%s/ingest.sock",
              bench.work);
    snprintf (bench.map_size, sizeof bench.map_size, "%d", options.map_mb);

    printf ("ih_bench_recovery: sizes");
    for (int i = 0; i < options.size_count; i++)
        printf ("%s%d", i ? "," : " ", options.sizes[i]);
    printf (", %d sites, window %d, %d crash%s per size\ndata: %s\n",
            options.sites, options.window, options.repeats,
            options.repeats == 1 ? "" : "es", bench.data);

    bench.sites =
        (s_site_t *) calloc ((size_t) options.sites, sizeof (s_site_t));
    IH_CHECK (bench.sites, "out of memory");
    for (int i = 0; i < options.sites; i++) {
        char name[IH_NAME_MAX + 1];
        snprintf (name, sizeof name, "recov-inc-%02d", i + 1);
        ih_tk_site_init (&bench.sites[i].tk, bench.work, bench.registry, name,
                         "incubator", "chengyang");
    }
    bench.journal = ih_tk_journal_count (bench.registry);
    s_hub_spawn (&bench);
    ih_benchkit_hub_wait_ready (bench.hub, S_HUB_READY_MS);
    s_connect (&bench);

    typedef struct {
        uint64_t events;
        double mdb_mb, ready_median, ready_max, ack_median, ack_max;
    } s_row_t;
    s_row_t rows[S_MAX_SIZES];
    for (int n = 0; n < options.size_count; n++) {
        printf ("\nsize %d\n", options.sizes[n]);
        s_fill (&bench, (uint64_t) options.sizes[n]);
        rows[n].events = s_total (&bench);
        double ready[S_MAX_REPEATS], first_ack[S_MAX_REPEATS];
        for (int r = 0; r < options.repeats; r++) {
            s_probe_t probe = s_crash (&bench, r + 1);
            ready[r] = probe.ready_ms;
            first_ack[r] = probe.first_ack_ms;
        }
        ih_benchkit_median_max (ready, options.repeats, &rows[n].ready_median,
                                &rows[n].ready_max);
        ih_benchkit_median_max (first_ack, options.repeats, &rows[n].ack_median,
                                &rows[n].ack_max);
        char mdb[1200];
        snprintf (mdb, sizeof mdb, "%s/data.mdb", bench.data);
        struct stat st;
        IH_CHECK (stat (mdb, &st) == 0, "stat %s: %s", mdb, strerror (errno));
        rows[n].mdb_mb = (double) st.st_size / (1024.0 * 1024.0);
    }

    IH_CHECK (ih_benchkit_hub_stop (bench.hub, SIGTERM, S_HUB_STOP_MS) == 0,
              "incuhubd did not stop cleanly (see %s)",
              ih_proc_stderr (ih_benchkit_hub_proc (bench.hub)));
    ih_benchkit_hub_destroy (&bench.hub);
    printf ("\n");
    s_verify (&bench);

    printf ("\n%10s  %10s  %12s  %20s  %20s\n", "size", "log events",
            "data.mdb MB", "ready ms (med, max)", "1st ACK ms (med, max)");
    for (int n = 0; n < options.size_count; n++)
        printf ("%10d  %10" PRIu64 "  %12.1f  %9.1f  %9.1f  %9.1f  %9.1f\n",
                options.sizes[n], rows[n].events, rows[n].mdb_mb,
                rows[n].ready_median, rows[n].ready_max, rows[n].ack_median,
                rows[n].ack_max);
    printf ("(log events: after the fill; each of the %d crash%s per size "
            "then adds %d per site;\n data.mdb: after the crashes; ms from "
            "the spawn of incuhubd)\n",
            options.repeats, options.repeats == 1 ? "" : "es",
            2 * options.window);

    zpoller_destroy (&bench.poller);
    for (int i = 0; i < options.sites; i++) {
        s_site_t *site = &bench.sites[i];
        zsock_destroy (&site->dealer);
        s_site_free_chunk (site);
        free (site->hub_seqs);
        ih_tk_site_fini (&site->tk);
    }
    free (bench.sites);
    ih_benchkit_dirs_remove (&dirs);
    return 0;
}
