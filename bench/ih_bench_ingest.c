/*  =========================================================================
    ih_bench_ingest - the hub's ingest throughput, with and without group
    commit, side by side in one run

    Where it sits: in front of a real incuhubd, in place of the agents. K
    sender threads, one per site, each own a DEALER and stream their own
    pre-signed events to the hub's ingest ROUTER with up to a window in
    flight, exactly as agents do (see tests/it_hub_kill.c).

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
        from sequence 1, and the hub's STATUS "commits" counts only that
        run: events / commits is the grouping actually achieved.
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
#include <getopt.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/vfs.h>
#endif
#include "ih_testkit.h"
#include "ih_json.h"

#define S_EXIT_USAGE 2
#define S_REPLY_TIMEOUT_MS 60000 //  one reply; batch 1 on a slow disk
#define S_HUB_READY_MS 20000
#define S_HUB_STOP_MS 20000
#define S_BATCH_OFF 1   //  one commit per event
#define S_BATCH_ON 1024 //  incuhubd's default batch_max
#define S_MAX_SITES 64
#define S_MAX_ROUNDS 100

typedef struct {
    int events; //  per site
    int sites;
    int rounds;
    int window; //  events in flight per site
    const char *root;
} s_options_t;

//  One sender thread: a site's pre-signed events and its outcome.
typedef struct {
    const char *endpoint;       //  hub ingest (borrowed)
    uint8_t *const *events;     //  signed events, seq 1..count (borrowed)
    const size_t *sizes;        //  their sizes (borrowed)
    int count;                  //  events to send
    int window;                 //  max unacknowledged
    pthread_barrier_t *barrier; //  released when every sender is ready
    int64_t first_send_ns;      //  monotonic, at the first send
    int64_t last_ack_ns;        //  monotonic, at the last ACK
    int acked;                  //  ACKs received, in order
    char error[256];            //  empty unless the sender failed
} s_sender_t;

//  One timed run of one configuration.
typedef struct {
    size_t batch;     //  --batch given to the hub
    uint64_t events;  //  events ACKed
    uint64_t commits; //  hub STATUS "commits"
    double seconds;   //  first send to last ACK
} s_result_t;

static int64_t
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

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

//  Parses a decimal int in [min, max] into *value_p. Returns 0 or -1.
static int
s_parse_int (const char *text, int min, int max, int *value_p)
{
    char *end;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (!isdigit ((unsigned char) *text) || errno || *end || value < min ||
        value > max)
        return -1;
    *value_p = (int) value;
    return 0;
}

//  Removes a directory of files and folders we made.
static void
s_rmrf (const char *path)
{
    DIR *dir = opendir (path);
    if (!dir)
        return;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (streq (entry->d_name, ".") || streq (entry->d_name, ".."))
            continue;
        char child[1024];
        snprintf (child, sizeof child, "%s/%s", path, entry->d_name);
        struct stat st;
        if (lstat (child, &st) == 0 && S_ISDIR (st.st_mode))
            s_rmrf (child);
        else
            unlink (child);
    }
    closedir (dir);
    rmdir (path);
}

//  Name of the filesystem holding path, from statfs f_type.
static const char *
s_fs_name (const char *path)
{
#ifdef __linux__
    static const struct {
        unsigned long magic;
        const char *name;
    } names[] = {
        {0xEF53, "ext2/3/4"},  {0x58465342, "xfs"},       {0x9123683E, "btrfs"},
        {0x01021994, "tmpfs"}, {0x794C7630, "overlayfs"}, {0x6969, "nfs"},
        {0x2FC12FC1, "zfs"},   {0xF2F52010, "f2fs"},      {0x65735546, "fuse"},
        {0x858458F6, "ramfs"}, {0x01021997, "9p (v9fs)"}, {0x5346544E, "ntfs"},
        {0x4D44, "vfat"},      {0x73717368, "squashfs"}};
    struct statfs st;
    if (statfs (path, &st))
        return "unknown (statfs failed)";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((unsigned long) st.f_type == names[i].magic)
            return names[i].name;
    static char other[64];
    snprintf (other, sizeof other, "f_type 0x%lX", (unsigned long) st.f_type);
    return other;
#else
    (void) path;
    return "unknown";
#endif
}

//  Prints nproc, CPU model, kernel and the data filesystem.
static void
s_print_machine (const char *data_root)
{
    char model[256] = "unknown";
    FILE *file = fopen ("/proc/cpuinfo", "r");
    if (file) {
        char line[512];
        while (fgets (line, sizeof line, file))
            if (strncmp (line, "model name", 10) == 0 && strchr (line, ':')) {
                const char *value = strchr (line, ':') + 1;
                while (*value == ' ')
                    value++;
                snprintf (model, sizeof model, "%.*s",
                          (int) strcspn (value, "\n"), value);
                break;
            }
        fclose (file);
    }
    struct utsname uts;
    bool have_uts = uname (&uts) == 0;
    const char *fs = s_fs_name (data_root);
    printf ("machine: nproc %ld, cpu %s, kernel %s %s\n",
            sysconf (_SC_NPROCESSORS_ONLN), model, have_uts ? uts.sysname : "?",
            have_uts ? uts.release : "?");
    printf ("data:    %s (%s)%s\n", data_root, fs,
            streq (fs, "tmpfs") || streq (fs, "ramfs")
                ? "  WARNING: memory filesystem, fsync is free"
                : "");
}

//  Asks the hub for its STATUS and returns one integer field; fails the
//  run if there is no reply or no such field.
static uint64_t
s_status_field (const char *endpoint, const char *field)
{
    zmsg_t *request = ih_wire_status_request ();
    ih_wire_t wire;
    zmsg_t *reply = ih_tk_request (endpoint, &request, &wire, 10000);
    IH_CHECK (reply && wire.kind == IH_WIRE_STATUS, "no STATUS from %s",
              endpoint);
    json_t *status = json_loadb (wire.json, wire.json_size, 0, NULL);
    IH_CHECK (status, "STATUS reply is not JSON");
    json_t *value = json_object_get (status, field);
    IH_CHECK (json_is_integer (value), "STATUS has no integer '%s'", field);
    uint64_t number = (uint64_t) json_integer_value (value);
    json_decref (status);
    zmsg_destroy (&reply);
    return number;
}

//  Waits until dealer reaches the hub: one STATUS round trip. Returns 0,
//  or -1 after writing why into the sender's error.
static int
s_sender_connect (s_sender_t *self, zsock_t *dealer)
{
    zmsg_t *request = ih_wire_status_request ();
    if (zmsg_send (&request, dealer)) {
        zmsg_destroy (&request);
        snprintf (self->error, sizeof self->error, "cannot send STATUS");
        return -1;
    }
    zmsg_t *reply = zmsg_recv (dealer);
    ih_wire_t wire;
    bool ok = reply && ih_wire_decode (reply, &wire) == IH_OK &&
              wire.kind == IH_WIRE_STATUS;
    zmsg_destroy (&reply);
    if (!ok)
        snprintf (self->error, sizeof self->error, "no STATUS reply from %s",
                  self->endpoint);
    return ok ? 0 : -1;
}

//  Streams the events with a window in flight until all are ACKed.
static void
s_sender_stream (s_sender_t *self, zsock_t *dealer)
{
    int sent = 0;
    self->first_send_ns = s_now_ns ();
    while (self->acked < self->count) {
        while (sent < self->count && sent - self->acked < self->window) {
            zmsg_t *msg = ih_wire_event (self->events[sent], self->sizes[sent]);
            if (zmsg_send (&msg, dealer)) {
                zmsg_destroy (&msg);
                snprintf (self->error, sizeof self->error,
                          "send failed at event %d", sent + 1);
                return;
            }
            sent++;
        }
        zmsg_t *reply = zmsg_recv (dealer);
        if (!reply) {
            snprintf (self->error, sizeof self->error,
                      "no reply within %d ms after %d ACKs", S_REPLY_TIMEOUT_MS,
                      self->acked);
            return;
        }
        ih_wire_t wire;
        ih_err_t err = ih_wire_decode (reply, &wire);
        if (err != IH_OK || wire.kind != IH_WIRE_ACK ||
            wire.seq != (uint64_t) self->acked + 1) {
            if (err != IH_OK)
                snprintf (self->error, sizeof self->error,
                          "undecodable reply: %s", ih_err_name (err));
            else if (wire.kind == IH_WIRE_NAK)
                snprintf (self->error, sizeof self->error,
                          "NAK seq=%" PRIu64 " %s: %s", wire.seq,
                          ih_err_name (wire.code), wire.reason);
            else
                snprintf (self->error, sizeof self->error,
                          "reply kind %d seq %" PRIu64 ", expected ACK %d",
                          (int) wire.kind, wire.seq, self->acked + 1);
            zmsg_destroy (&reply);
            return;
        }
        self->acked++;
        zmsg_destroy (&reply);
    }
    self->last_ack_ns = s_now_ns ();
}

static void *
s_sender_run (void *arg)
{
    s_sender_t *self = (s_sender_t *) arg;
    zsock_t *dealer = zsock_new_dealer (self->endpoint);
    if (dealer) {
        zsock_set_rcvtimeo (dealer, S_REPLY_TIMEOUT_MS);
        s_sender_connect (self, dealer);
    } else
        snprintf (self->error, sizeof self->error, "cannot connect to %s",
                  self->endpoint);
    //  Every sender reaches the barrier, ready or not, so none waits
    //  forever; a sender that failed then stops
    pthread_barrier_wait (self->barrier);
    if (!self->error[0])
        s_sender_stream (self, dealer);
    zsock_destroy (&dealer);
    return NULL;
}

//  One run: a fresh hub with --batch batch on a fresh data directory,
//  every site streaming all its events. Fails the run on any error.
static s_result_t
s_run (const s_options_t *options, const char *work, const char *data_root,
       const char *registry, uint8_t ***events, size_t **sizes, int round,
       size_t batch)
{
    char data[1100], ingest[512], pub[512], batch_text[32];
    snprintf (data, sizeof data, "%s/data-r%d-b%zu", data_root, round, batch);
    snprintf (ingest, sizeof ingest, "ipc://%s/ingest-r%d-b%zu.sock", work,
              round, batch);
    snprintf (pub, sizeof pub, "ipc://%s/pub-r%d-b%zu.sock", work, round,
              batch);
    snprintf (batch_text, sizeof batch_text, "%zu", batch);
    const char *args[] = {"--data",   data,       "--registry", registry,
                          "--ingest", ingest,     "--pub",      pub,
                          "--batch",  batch_text, NULL};
    ih_proc_t *hub = ih_proc_start (work, "incuhubd", args);
    char *line = ih_proc_wait_line (hub, "incuhubd: ready", S_HUB_READY_MS);
    IH_CHECK (line, "incuhubd --batch %zu did not become ready (see %s)", batch,
              ih_proc_stderr (hub));
    char *endpoint = ih_tk_field (line, "ingest");
    IH_CHECK (endpoint, "no ingest= in '%s'", line);
    free (line);

    pthread_barrier_t barrier;
    IH_CHECK (
        pthread_barrier_init (&barrier, NULL, (unsigned) options->sites) == 0,
        "pthread_barrier_init");
    s_sender_t senders[S_MAX_SITES];
    pthread_t threads[S_MAX_SITES];
    for (int i = 0; i < options->sites; i++) {
        memset (&senders[i], 0, sizeof senders[i]);
        senders[i].endpoint = endpoint;
        senders[i].events = events[i];
        senders[i].sizes = sizes[i];
        senders[i].count = options->events;
        senders[i].window = options->window;
        senders[i].barrier = &barrier;
        IH_CHECK (
            pthread_create (&threads[i], NULL, s_sender_run, &senders[i]) == 0,
            "pthread_create");
    }
    int64_t first = INT64_MAX, last = 0;
    uint64_t acked = 0;
    for (int i = 0; i < options->sites; i++)
        pthread_join (threads[i], NULL);
    pthread_barrier_destroy (&barrier);
    for (int i = 0; i < options->sites; i++) {
        IH_CHECK (!senders[i].error[0], "batch %zu, site %d: %s", batch, i,
                  senders[i].error);
        first =
            senders[i].first_send_ns < first ? senders[i].first_send_ns : first;
        last = senders[i].last_ack_ns > last ? senders[i].last_ack_ns : last;
        acked += (uint64_t) senders[i].acked;
    }
    uint64_t total = (uint64_t) options->sites * (uint64_t) options->events;
    IH_CHECK (acked == total, "batch %zu: %" PRIu64 " of %" PRIu64 " ACKed",
              batch, acked, total);
    s_result_t result = {batch, acked, 0, (double) (last - first) / 1e9};
    uint64_t stored = s_status_field (endpoint, "events");
    IH_CHECK (stored == total,
              "batch %zu: hub reports %" PRIu64 " events, %" PRIu64 " ACKed",
              batch, stored, total);
    result.commits = s_status_field (endpoint, "commits");
    IH_CHECK (result.commits > 0, "batch %zu: hub reports no commits", batch);
    free (endpoint);

    ih_proc_signal (hub, SIGTERM);
    IH_CHECK (ih_proc_wait_exit (hub, S_HUB_STOP_MS) == 0,
              "incuhubd --batch %zu did not stop cleanly (see %s)", batch,
              ih_proc_stderr (hub));
    ih_proc_destroy (&hub);
    s_rmrf (data);
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

static int
s_compare_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int
main (int argc, char *argv[])
{
    //  First, in this thread: zsys_init is not thread-safe, and the
    //  sender threads' first zsock_new would otherwise race to run it
    zsys_init ();
    s_options_t options = {5000, 4, 3, 256, NULL};
    options.root = getenv ("IH_BENCH_DIR");
    if (!options.root || !*options.root)
        options.root = IH_BENCH_DATA;
    static const struct option long_options[] = {
        {"events", required_argument, NULL, 'e'},
        {"sites", required_argument, NULL, 's'},
        {"rounds", required_argument, NULL, 'r'},
        {"window", required_argument, NULL, 'w'},
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int opt, index = 0, rc = 0;
    while (rc == 0 &&
           (opt = getopt_long (argc, argv, "h", long_options, &index)) != -1) {
        switch (opt) {
        case 'e':
            rc = s_parse_int (optarg, 1, 10000000, &options.events);
            break;
        case 's':
            rc = s_parse_int (optarg, 1, S_MAX_SITES, &options.sites);
            break;
        case 'r':
            rc = s_parse_int (optarg, 1, S_MAX_ROUNDS, &options.rounds);
            break;
        case 'w':
            rc = s_parse_int (optarg, 1, 100000, &options.window);
            break;
        case 'd':
            options.root = optarg;
            break;
        case 'h':
            s_usage (stdout);
            return 0;
        default: //  getopt_long has said why
            s_usage (stderr);
            return S_EXIT_USAGE;
        }
        if (rc)
            fprintf (stderr,
                     "ih_bench_ingest: --%s: '%s' is not a number in range\n",
                     long_options[index].name, optarg);
    }
    if (rc || optind < argc) {
        s_usage (stderr);
        return S_EXIT_USAGE;
    }

    //  Sockets, keys, registry and hub logs: a temporary directory (kept
    //  on failure). Data: a fresh directory on the disk under test.
    const char *work = ih_tk_tempdir ();
    if (mkdir (options.root, 0755) && errno != EEXIST)
        IH_CHECK (false, "cannot create %s: %s", options.root,
                  strerror (errno));
    char data_root[1024];
    snprintf (data_root, sizeof data_root, "%s/ih-bench-XXXXXX", options.root);
    IH_CHECK (mkdtemp (data_root), "mkdtemp %s: %s", data_root,
              strerror (errno));
    char registry[512];
    snprintf (registry, sizeof registry, "%s/registry.json", work);

    printf ("ih_bench_ingest: %d sites x %d events, window %d per site, "
            "%d round%s\n",
            options.sites, options.events, options.window, options.rounds,
            options.rounds == 1 ? "" : "s");
    s_print_machine (data_root);

    //  Sign everything before any timing
    ih_tk_site_t sites[S_MAX_SITES];
    uint8_t **events[S_MAX_SITES];
    size_t *sizes[S_MAX_SITES];
    for (int i = 0; i < options.sites; i++) {
        char name[IH_NAME_MAX + 1];
        snprintf (name, sizeof name, "bench-inc-%02d", i + 1);
        ih_tk_site_init (&sites[i], work, registry, name, "incubator",
                         "laoshan");
        events[i] =
            (uint8_t **) calloc ((size_t) options.events, sizeof (uint8_t *));
        sizes[i] = (size_t *) calloc ((size_t) options.events, sizeof (size_t));
        IH_CHECK (events[i] && sizes[i], "out of memory");
        for (int n = 0; n < options.events; n++) {
            char json[160];
            snprintf (json, sizeof json,
                      "{\"enterprise\":\"ent-%d-%d\",\"round\":\"angel\","
                      "\"amount_cny\":%d}",
                      i + 1, n + 1, (n + 1) * 1000);
            events[i][n] = ih_tk_site_sign (&sites[i], "financing.round_closed",
                                            json, &sizes[i][n]);
        }
    }

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
            results[i] = s_run (&options, work, data_root, registry, events,
                                sizes, round, order[i]);
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
    qsort (ratios, (size_t) options.rounds, sizeof ratios[0], s_compare_double);
    double median =
        options.rounds % 2
            ? ratios[options.rounds / 2]
            : (ratios[options.rounds / 2 - 1] + ratios[options.rounds / 2]) / 2;
    printf ("\nratio (batch %d / batch %d): %.1fx  (median of %d round%s)\n",
            S_BATCH_ON, S_BATCH_OFF, median, options.rounds,
            options.rounds == 1 ? "" : "s");

    for (int i = 0; i < options.sites; i++) {
        for (int n = 0; n < options.events; n++)
            free (events[i][n]);
        free (events[i]);
        free (sizes[i]);
        ih_tk_site_fini (&sites[i]);
    }
    s_rmrf (data_root);
    ih_tk_cleanup ();
    return 0;
}
