/*  =========================================================================
    ih_bench_subscribers - the hub's ingest throughput with and without
    100 slow and dead subscribers on its PUB socket, side by side in one run

    Where it sits: around a real incuhubd. In front of it, K sender threads
    (one per site, a DEALER each, up to a window of pre-signed events in
    flight, exactly as agents do and as ih_bench_ingest does) stream events
    to the ingest ROUTER. Behind it, on the pub endpoint, hang subscribers
    that keep up badly or not at all:
      - "slow": in-process SUB sockets with RCVHWM 10, read by one helper
        thread one message per socket every 10 ms;
      - "dead": in-process SUB sockets with RCVHWM 10, subscribed to
        everything, that read one warm-up message and never again;
      - "dead processes" (counted among the dead): this very program
        re-executed as a subscriber child; after its warm-up message half
        are SIGSTOPped (connected, never reading, the kernel buffers fill)
        and half are SIGKILLed once the timed run has started (the hub
        sees their connections drop mid-stream).
    The machinery it shares with the other benchmarks (hub start-up,
    STATUS, signing, senders, medians) is in bench/ih_benchkit.

    What it shows: the hub publishes from its ingest thread, and the PUB
    socket must never let a subscriber slow ingest down (ih_publish: PUB
    drops for a full subscriber, never blocks). The claim checked is "with
    100 slow and dead subscribers attached, the ingest rate stays within
    10% of the rate without them": the report is the median ratio of the
    two rates, PASS at >= 0.90, WARN below (no hard failure on timing:
    the machines here are shared and noisy).

    How it measures, and why (as ih_bench_ingest):
      - Both configurations alternate within one process (A B, B A, ...);
        the report is the ratio per round and its median.
      - Each run starts a fresh hub (default --batch) on a fresh data
        directory on the real disk (under the build directory by default,
        never /tmp, which may be tmpfs where fsync is free).
      - Every subscriber is connected and subscribed before timing: each
        must have received at least one warm-up event (a separate site
        sends them, ACKed, until all have, with a deadline). The run
        without subscribers sends one warm-up event too.
      - Events are signed before timing; the clock runs from the first
        send of any sender to the last ACK of any sender.
      - Every event must be ACKed, in order, and the hub's STATUS "events"
        must grow by the events sent plus the warm-up events (from what it
        holds once ready: the registry journal, stored at start);
        anything else fails the run (exit 1). The ctest smoke run asserts
        only that.

    Usage: ih_bench_subscribers [--events N] [--sites K] [--rounds R]
                                [--window W] [--slow S] [--dead D]
                                [--procs P] [--dir DIR]
    DIR (or $IH_BENCH_DIR) is where the data directories are made; sockets,
    keys and hub logs go to a temporary directory.
    =========================================================================*/
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include "ih_benchkit.h"

extern char **environ;

#define S_REPLY_TIMEOUT_MS 60000 //  one reply from the hub
#define S_HUB_READY_MS 20000
#define S_HUB_STOP_MS 20000
#define S_WARM_MS 30000    //  every subscriber has its warm-up event
#define S_WARM_POLL_MS 100 //  no progress for this long: one more event
#define S_SUB_RCVHWM 10    //  slow and dead subscribers' receive queue
#define S_SLOW_PERIOD_MS 10
#define S_MAX_SITES IH_BENCHKIT_MAX_SITES
#define S_MAX_ROUNDS 100
#define S_MAX_SUBS 1000 //  per kind
#define S_MAX_PROCS 64  //  subscriber child processes
#define S_CHILD_FLAG "--subscriber-child"
#define S_WARM_SITE "bench-warm"

typedef struct {
    int events; //  per site
    int sites;
    int rounds;
    int window; //  events in flight per site
    int slow;   //  slow in-process subscribers
    int dead;   //  dead subscribers, processes included
    int procs;  //  of the dead, child processes (half stopped, half killed)
    const char *root;
} s_options_t;

//  The slow readers' thread: one message per socket per period.
typedef struct {
    zsock_t **socks; //  borrowed; used only by this thread meanwhile
    int count;
    atomic_bool stop;  //  set by the main thread after the run
    uint64_t received; //  messages read during the run
} s_slow_t;

//  The subscribers of one run.
typedef struct {
    zsock_t *socks[2 * S_MAX_SUBS]; //  slow first, then in-process dead
    int nsocks;
    int nslow;
    pid_t pids[S_MAX_PROCS]; //  dead subscriber processes
    int fds[S_MAX_PROCS];    //  read end of each child's stdout
    int nprocs;
} s_subs_t;

//  One timed run of one configuration.
typedef struct {
    bool subscribers;       //  with the slow and dead subscribers
    uint64_t events;        //  events ACKed (timed)
    uint64_t warm;          //  warm-up events sent before timing
    uint64_t slow_received; //  messages the slow subscribers read
    double seconds;         //  first send to last ACK
} s_result_t;

//  Every child we spawned, so that a failed check (which exits) kills
//  them too: a SIGSTOPped child would otherwise linger for ever.
static pid_t s_children[S_MAX_PROCS];

static void
s_kill_children (void)
{
    for (int i = 0; i < S_MAX_PROCS; i++)
        if (s_children[i] > 0) {
            kill (s_children[i], SIGKILL); //  works on stopped ones too
            waitpid (s_children[i], NULL, 0);
            s_children[i] = 0;
        }
}

static void
s_usage (FILE *out)
{
    fprintf (
        out,
        "usage: ih_bench_subscribers [--events N] [--sites K] [--rounds R]\n"
        "                            [--window W] [--slow S] [--dead D]\n"
        "                            [--procs P] [--dir DIR]\n\n"
        "  --events N   events per site (default 5000)\n"
        "  --sites K    sites, one sender thread each (default 4, max %d)\n"
        "  --rounds R   rounds of both configurations (default 3)\n"
        "  --window W   events in flight per site (default 256)\n"
        "  --slow S     slow subscribers (default 50)\n"
        "  --dead D     dead subscribers, processes included (default 50)\n"
        "  --procs P    of the dead, child processes; half are stopped, half\n"
        "               killed during the run (default 4, max %d)\n"
        "  --dir DIR    where data directories are made (default "
        "$IH_BENCH_DIR or %s)\n",
        S_MAX_SITES, S_MAX_PROCS, IH_BENCH_DATA);
}

//  Receives one whole message without waiting; true if there was one.
//  The frames of a multipart message arrive together, so once the first
//  is in, the rest are too.
static bool
s_drain_one (zsock_t *sock)
{
    void *handle = zsock_resolve (sock);
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&frame, handle, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&frame);
        return false;
    }
    while (zmq_msg_more (&frame)) {
        zmq_msg_close (&frame);
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, handle, 0) < 0)
            break;
    }
    zmq_msg_close (&frame);
    return true;
}

//  The subscriber child: connects, receives one message, says "warm" on
//  stdout and never reads again. The parent stops or kills it.
static int
s_child_main (const char *endpoint, const char *parent)
{
#ifdef __linux__
    //  Die with the parent even if stopped (SIGKILL ends stopped
    //  processes); the check covers a parent that died before prctl
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if ((long) getppid () != atol (parent))
        return 1;
#else
    (void) parent;
#endif
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (!sub)
        return 1;
    zsock_set_rcvhwm (sub, S_SUB_RCVHWM);
    zsock_set_subscribe (sub, "");
    zsock_set_rcvtimeo (sub, S_WARM_MS);
    if (zsock_connect (sub, "%s", endpoint))
        return 1;
    zmsg_t *msg = zmsg_recv (sub);
    if (!msg)
        return 1;
    zmsg_destroy (&msg);
    if (write (STDOUT_FILENO, "warm\n", 5) != 5)
        return 1;
    while (true)
        pause ();
}

//  Spawns a subscriber child on endpoint; its stdout is a pipe we read.
static void
s_child_spawn (s_subs_t *subs, const char *endpoint)
{
    int fds[2];
    IH_CHECK (pipe (fds) == 0, "pipe: %s", strerror (errno));
    //  Close-on-exec, so no other child (the hub, later subscribers)
    //  holds a write end and hides this child's exit from us
    fcntl (fds[0], F_SETFD, FD_CLOEXEC);
    fcntl (fds[1], F_SETFD, FD_CLOEXEC);
    char parent[32];
    snprintf (parent, sizeof parent, "%ld", (long) getpid ());
    const char *argv[] = {"ih_bench_subscribers", S_CHILD_FLAG, endpoint,
                          parent, NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2 (&actions, fds[1], 1);
    pid_t pid;
    int rc = posix_spawn (&pid, "/proc/self/exe", &actions, NULL,
                          (char *const *) argv, environ);
    posix_spawn_file_actions_destroy (&actions);
    close (fds[1]);
    IH_CHECK (rc == 0, "posix_spawn /proc/self/exe: %s", strerror (rc));
    for (int i = 0; i < S_MAX_PROCS; i++)
        if (s_children[i] == 0) {
            s_children[i] = pid;
            break;
        }
    subs->pids[subs->nprocs] = pid;
    subs->fds[subs->nprocs] = fds[0];
    subs->nprocs++;
}

//  Kills and reaps one child (stopped, killed already, or running).
static void
s_child_end (pid_t pid)
{
    kill (pid, SIGKILL);
    waitpid (pid, NULL, 0);
    for (int i = 0; i < S_MAX_PROCS; i++)
        if (s_children[i] == pid)
            s_children[i] = 0;
}

//  Attaches the slow and dead subscribers to the hub's pub endpoint.
static void
s_subs_attach (s_subs_t *subs, const s_options_t *options, const char *pub)
{
    memset (subs, 0, sizeof *subs);
    int inproc_dead = options->dead - options->procs;
    for (int i = 0; i < options->slow + inproc_dead; i++) {
        zsock_t *sock = zsock_new (ZMQ_SUB);
        IH_CHECK (sock, "cannot create SUB socket %d", i);
        //  Set before connecting: a queue of 10, so the backlog of a
        //  subscriber that falls behind lands on the hub's side at once
        zsock_set_rcvhwm (sock, S_SUB_RCVHWM);
        zsock_set_subscribe (sock, "");
        IH_CHECK (zsock_connect (sock, "%s", pub) == 0, "cannot connect to %s",
                  pub);
        subs->socks[subs->nsocks++] = sock;
    }
    subs->nslow = options->slow;
    for (int i = 0; i < options->procs; i++)
        s_child_spawn (subs, pub);
}

static void
s_subs_detach (s_subs_t *subs)
{
    for (int i = 0; i < subs->nsocks; i++)
        zsock_destroy (&subs->socks[i]);
    for (int i = 0; i < subs->nprocs; i++) {
        s_child_end (subs->pids[i]);
        close (subs->fds[i]);
    }
    subs->nsocks = subs->nprocs = 0;
}

//  Sends the warm-up site's next event on dealer and waits for its ACK.
static void
s_warm_send (zsock_t *dealer, ih_tk_site_t *site)
{
    size_t size;
    uint8_t *bytes =
        ih_tk_site_sign (site, "bench.warm_up", "{\"warm\":true}", &size);
    zmsg_t *msg = ih_wire_event (bytes, size);
    free (bytes);
    IH_CHECK (zmsg_send (&msg, dealer) == 0, "cannot send warm-up event");
    zmsg_t *reply = zmsg_recv (dealer);
    IH_CHECK (reply, "no reply to warm-up event %" PRIu64, site->seq);
    ih_wire_t wire;
    IH_CHECK (ih_wire_decode (reply, &wire) == IH_OK &&
                  wire.kind == IH_WIRE_ACK && wire.seq == site->seq,
              "warm-up event %" PRIu64 " not ACKed", site->seq);
    zmsg_destroy (&reply);
}

//  Sends warm-up events until every subscriber has received one (at least
//  one event even with no subscribers). Returns the events sent.
static uint64_t
s_subs_warm (s_subs_t *subs, const char *ingest, ih_tk_site_t *site)
{
    //  A fresh hub: the warm-up site's chain starts again at seq 1
    site->seq = 0;
    memset (site->prev, 0, sizeof site->prev);
    zsock_t *dealer = zsock_new_dealer (ingest);
    IH_CHECK (dealer, "cannot connect to %s", ingest);
    zsock_set_rcvtimeo (dealer, S_REPLY_TIMEOUT_MS);

    int total = subs->nsocks + subs->nprocs;
    bool *warm = (bool *) calloc ((size_t) total + 1, sizeof (bool));
    zmq_pollitem_t *items =
        (zmq_pollitem_t *) calloc ((size_t) total + 1, sizeof (zmq_pollitem_t));
    int *which = (int *) calloc ((size_t) total + 1, sizeof (int));
    IH_CHECK (warm && items && which, "out of memory");
    int pending = total;
    int64_t deadline = ih_tk_now () + S_WARM_MS;
    s_warm_send (dealer, site);
    while (pending > 0) {
        IH_CHECK (ih_tk_now () < deadline,
                  "%d of %d subscribers got no warm-up event within %d ms",
                  pending, total, S_WARM_MS);
        int count = 0;
        for (int i = 0; i < total; i++) {
            if (warm[i])
                continue;
            memset (&items[count], 0, sizeof items[count]);
            if (i < subs->nsocks)
                items[count].socket = zsock_resolve (subs->socks[i]);
            else
                items[count].fd = subs->fds[i - subs->nsocks];
            items[count].events = ZMQ_POLLIN;
            which[count++] = i;
        }
        int rc = zmq_poll (items, count, S_WARM_POLL_MS);
        IH_CHECK (rc >= 0 || zmq_errno () == EINTR, "zmq_poll: %s",
                  zmq_strerror (zmq_errno ()));
        if (rc <= 0) {
            //  Nobody new heard anything: the PUB drops events for a
            //  subscription it has not seen yet, so send another
            s_warm_send (dealer, site);
            continue;
        }
        for (int n = 0; n < count; n++) {
            if (!(items[n].revents & ZMQ_POLLIN))
                continue;
            int i = which[n];
            if (i < subs->nsocks)
                warm[i] = s_drain_one (subs->socks[i]);
            else {
                char text[16];
                ssize_t got =
                    read (subs->fds[i - subs->nsocks], text, sizeof text - 1);
                IH_CHECK (got > 0,
                          "subscriber child %d exited before its "
                          "warm-up event",
                          (int) subs->pids[i - subs->nsocks]);
                text[got] = 0;
                warm[i] = strstr (text, "warm") != NULL;
            }
            if (warm[i])
                pending--;
        }
    }
    free (warm);
    free (items);
    free (which);
    zsock_destroy (&dealer);
    return site->seq;
}

static void *
s_slow_run (void *arg)
{
    s_slow_t *self = (s_slow_t *) arg;
    while (!atomic_load (&self->stop)) {
        for (int i = 0; i < self->count; i++)
            if (s_drain_one (self->socks[i]))
                self->received++;
        //  Pacing, not synchronisation: this is how slow a slow
        //  subscriber is
        struct timespec ts = {0, S_SLOW_PERIOD_MS * 1000000L};
        nanosleep (&ts, NULL);
    }
    return NULL;
}

//  One run: a fresh hub on a fresh data directory, with or without the
//  subscribers, every site streaming all its events. Fails on any error.
static s_result_t
s_run (const s_options_t *options, const char *work, const char *data_root,
       const char *registry, ih_tk_site_t *warm_site,
       ih_benchkit_fleet_t *fleet, int round, bool with)
{
    const char *tag = with ? "with" : "without";
    char data[1100], hub_tag[64], label[32];
    snprintf (data, sizeof data, "%s/data-r%d-%s", data_root, round, tag);
    snprintf (hub_tag, sizeof hub_tag, "r%d-%s", round, tag);
    snprintf (label, sizeof label, "%s subscribers", tag);
    ih_benchkit_hub_t *hub =
        ih_benchkit_hub_new (work, data, registry, hub_tag, NULL);
    ih_benchkit_hub_wait_ready (hub, S_HUB_READY_MS);
    const char *endpoint = ih_benchkit_hub_ingest (hub);
    //  The registry journal, stored at start, is not part of the run
    uint64_t stored_before = ih_benchkit_status_field (endpoint, "events");
    IH_CHECK (stored_before == ih_tk_journal_count (registry),
              "%s subscribers: hub starts with %" PRIu64 " events, the "
              "journal has %zu",
              tag, stored_before, ih_tk_journal_count (registry));

    //  Subscribers on, each with its warm-up event, before any timing
    s_subs_t *subs = (s_subs_t *) zmalloc (sizeof (s_subs_t));
    if (with)
        s_subs_attach (subs, options, ih_benchkit_hub_pub (hub));
    s_result_t result = {with, 0, 0, 0, 0};
    result.warm = s_subs_warm (subs, endpoint, warm_site);
    int stopped = subs->nprocs - subs->nprocs / 2;
    for (int i = 0; i < stopped; i++)
        IH_CHECK (kill (subs->pids[i], SIGSTOP) == 0, "SIGSTOP: %s",
                  strerror (errno));
    s_slow_t slow = {subs->socks, subs->nslow, false, 0};
    pthread_t slow_thread;
    IH_CHECK (pthread_create (&slow_thread, NULL, s_slow_run, &slow) == 0,
              "pthread_create");

    ih_benchkit_senders_t *senders = ih_benchkit_senders_new (
        endpoint, fleet, options->window, S_REPLY_TIMEOUT_MS);
    //  The rest of the child processes die abruptly while events flow
    for (int i = stopped; i < subs->nprocs; i++)
        kill (subs->pids[i], SIGKILL);
    result.events = ih_benchkit_senders_wait (senders, label, &result.seconds);
    ih_benchkit_senders_destroy (&senders);
    atomic_store (&slow.stop, true);
    pthread_join (slow_thread, NULL);
    result.slow_received = slow.received;
    uint64_t total = result.events;
    uint64_t stored =
        ih_benchkit_status_field (endpoint, "events") - stored_before;
    IH_CHECK (stored == total + result.warm,
              "%s subscribers: hub reports %" PRIu64 " events stored in the "
              "run, %" PRIu64 " ACKed + %" PRIu64 " warm-up",
              tag, stored, total, result.warm);

    //  The hub stops with the subscribers still attached (stopped ones
    //  included), as in production; they go only after it has exited.
    //  Detaching them first, just before SIGTERM, sometimes makes the
    //  hub's libzmq 4.3.4 abort while it closes the PUB socket
    //  ("Resource temporarily unavailable (src/session_base.cpp:260)",
    //  cf. zeromq/libzmq#3442)
    int status = ih_benchkit_hub_stop (hub, SIGTERM, S_HUB_STOP_MS);
    s_subs_detach (subs);
    free (subs);
    IH_CHECK (status == 0, "incuhubd did not stop cleanly: status %d (see %s)",
              status, ih_proc_stderr (ih_benchkit_hub_proc (hub)));
    ih_benchkit_hub_destroy (&hub);
    ih_tk_rmrf (data);
    return result;
}

static void
s_print_result (int round, const s_result_t *result, int nsubs)
{
    char config[32];
    snprintf (config, sizeof config, "%d subscribers",
              result->subscribers ? nsubs : 0);
    printf (
        "%-5d  %-15s  %7" PRIu64 "  %8.3f  %9.0f  %7" PRIu64 "  %9" PRIu64 "\n",
        round, config, result->events, result->seconds,
        result->seconds > 0 ? (double) result->events / result->seconds : 0.0,
        result->warm, result->slow_received);
    fflush (stdout);
}

int
main (int argc, char *argv[])
{
    if (argc == 4 && streq (argv[1], S_CHILD_FLAG))
        return s_child_main (argv[2], argv[3]);
    //  First, in this thread: zsys_init is not thread-safe, and the
    //  sender threads' first zsock_new would otherwise race to run it
    zsys_init ();
    s_options_t options = {5000, 4,  3, 256,
                           50,   50, 4, ih_benchkit_default_root ()};
    const ih_benchkit_option_t table[] = {
        IH_BENCHKIT_OPT_INT ("events", &options.events, 1, 10000000),
        IH_BENCHKIT_OPT_INT ("sites", &options.sites, 1, S_MAX_SITES),
        IH_BENCHKIT_OPT_INT ("rounds", &options.rounds, 1, S_MAX_ROUNDS),
        IH_BENCHKIT_OPT_INT ("window", &options.window, 1, 100000),
        IH_BENCHKIT_OPT_INT ("slow", &options.slow, 0, S_MAX_SUBS),
        IH_BENCHKIT_OPT_INT ("dead", &options.dead, 0, S_MAX_SUBS),
        IH_BENCHKIT_OPT_INT ("procs", &options.procs, 0, S_MAX_PROCS),
        IH_BENCHKIT_OPT_TEXT ("dir", &options.root),
        IH_BENCHKIT_OPT_END};
    const ih_benchkit_cli_t cli = {"ih_bench_subscribers", s_usage, table,
                                   NULL};
    ih_benchkit_parse_options (argc, argv, &cli);
    if (options.procs > options.dead) {
        fprintf (stderr, "ih_bench_subscribers: --procs %d exceeds --dead %d\n",
                 options.procs, options.dead);
        s_usage (stderr);
        return IH_BENCHKIT_EXIT_USAGE;
    }
    atexit (s_kill_children);

    //  Sockets, keys, registry and hub logs: a temporary directory (kept
    //  on failure). Data: a fresh directory on the disk under test.
    ih_benchkit_dirs_t dirs;
    ih_benchkit_dirs_make (&dirs, options.root, "ih-bench", "registry.json");
    const char *work = dirs.work, *registry = dirs.registry;

    int nsubs = options.slow + options.dead;
    int stopped = options.procs - options.procs / 2;
    printf ("ih_bench_subscribers: %d sites x %d events, window %d per site, "
            "%d round%s\n",
            options.sites, options.events, options.window, options.rounds,
            options.rounds == 1 ? "" : "s");
    printf ("subscribers: %d = %d slow (RCVHWM %d, one read per %d ms) + %d "
            "dead (%d in-process never reading, %d processes SIGSTOPped, "
            "%d SIGKILLed during the run)\n",
            nsubs, options.slow, S_SUB_RCVHWM, S_SLOW_PERIOD_MS, options.dead,
            options.dead - options.procs, stopped, options.procs - stopped);
    const char *fs = ih_benchkit_fs_name (dirs.data_root);
    printf ("machine: nproc %ld; data: %s (%s)%s\n",
            sysconf (_SC_NPROCESSORS_ONLN), dirs.data_root, fs,
            ih_benchkit_fs_warning (fs));

    //  Sign everything before any timing
    ih_tk_site_t warm_site;
    ih_tk_site_init (&warm_site, work, registry, S_WARM_SITE, "incubator",
                     "laoshan");
    ih_benchkit_fleet_t *fleet = ih_benchkit_fleet_new (
        work, registry, "bench-inc", "laoshan", options.sites, options.events);

    printf ("\nround  config            events   seconds   events/s  "
            "warm-up  slow-read\n");
    double ratios[S_MAX_ROUNDS];
    for (int round = 1; round <= options.rounds; round++) {
        //  Alternate which goes first, so neither always runs on a
        //  cold (or warm) machine
        bool order[2] = {false, true};
        if (round % 2 == 0) {
            order[0] = true;
            order[1] = false;
        }
        s_result_t results[2];
        for (int i = 0; i < 2; i++) {
            results[i] = s_run (&options, work, dirs.data_root, registry,
                                &warm_site, fleet, round, order[i]);
            s_print_result (round, &results[i], nsubs);
        }
        const s_result_t *with =
            results[0].subscribers ? &results[0] : &results[1];
        const s_result_t *without =
            results[0].subscribers ? &results[1] : &results[0];
        //  Same events in both: the rate ratio is the inverse time ratio
        ratios[round - 1] =
            with->seconds > 0 ? without->seconds / with->seconds : 0;
        printf ("%-5d  ratio (with / without): %.3f\n", round,
                ratios[round - 1]);
    }
    double median = ih_benchkit_median (ratios, options.rounds);
    printf ("\nratio (with %d subscribers / without): %.3f  (median of %d "
            "round%s)\n",
            nsubs, median, options.rounds, options.rounds == 1 ? "" : "s");
    if (median >= 0.90)
        printf ("PASS: with %d slow and dead subscribers the ingest rate is "
                "%.1f%% of the rate without them (>= 90%%)\n",
                nsubs, median * 100);
    else
        printf ("WARN: with %d slow and dead subscribers the ingest rate is "
                "%.1f%% of the rate without them, below 90%% (timing only, "
                "not a failure: machines here are shared and noisy; rerun "
                "with more --rounds before concluding)\n",
                nsubs, median * 100);

    ih_benchkit_fleet_destroy (&fleet);
    ih_tk_site_fini (&warm_site);
    ih_benchkit_dirs_remove (&dirs);
    return 0;
}
