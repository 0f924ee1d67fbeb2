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
        must equal the events sent plus the warm-up events; anything else
        fails the run (exit 1). The ctest smoke run asserts only that.

    Usage: ih_bench_subscribers [--events N] [--sites K] [--rounds R]
                                [--window W] [--slow S] [--dead D]
                                [--procs P] [--dir DIR]
    DIR (or $IH_BENCH_DIR) is where the data directories are made; sockets,
    keys and hub logs go to a temporary directory.
    =========================================================================*/
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#include <sys/vfs.h>
#endif
#include "ih_testkit.h"
#include "ih_json.h"

extern char **environ;

#define S_EXIT_USAGE 2
#define S_REPLY_TIMEOUT_MS 60000 //  one reply from the hub
#define S_HUB_READY_MS 20000
#define S_HUB_STOP_MS 20000
#define S_WARM_MS 30000    //  every subscriber has its warm-up event
#define S_WARM_POLL_MS 100 //  no progress for this long: one more event
#define S_SUB_RCVHWM 10    //  slow and dead subscribers' receive queue
#define S_SLOW_PERIOD_MS 10
#define S_MAX_SITES 64
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
        {0x858458F6, "ramfs"}, {0x01021997, "9p (v9fs)"}};
    struct statfs st;
    if (statfs (path, &st))
        return "unknown (statfs failed)";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((unsigned long) st.f_type == names[i].magic)
            return names[i].name;
    return "other";
#else
    (void) path;
    return "unknown";
#endif
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

//  One run: a fresh hub on a fresh data directory, with or without the
//  subscribers, every site streaming all its events. Fails on any error.
static s_result_t
s_run (const s_options_t *options, const char *work, const char *data_root,
       const char *registry, ih_tk_site_t *warm_site, uint8_t ***events,
       size_t **sizes, int round, bool with)
{
    const char *tag = with ? "with" : "without";
    char data[1100], ingest[512], pub[512];
    snprintf (data, sizeof data, "%s/data-r%d-%s", data_root, round, tag);
    snprintf (ingest, sizeof ingest, "ipc://%s/ingest-r%d-%s.sock", work, round,
              tag);
    snprintf (pub, sizeof pub, "ipc://%s/pub-r%d-%s.sock", work, round, tag);
    const char *args[] = {"--data", data,    "--registry", registry, "--ingest",
                          ingest,   "--pub", pub,          NULL};
    ih_proc_t *hub = ih_proc_start (work, "incuhubd", args);
    char *line = ih_proc_wait_line (hub, "incuhubd: ready", S_HUB_READY_MS);
    IH_CHECK (line, "incuhubd did not become ready (see %s)",
              ih_proc_stderr (hub));
    char *endpoint = ih_tk_field (line, "ingest");
    char *pub_endpoint = ih_tk_field (line, "pub");
    IH_CHECK (endpoint && pub_endpoint, "no ingest= or pub= in '%s'", line);
    free (line);

    //  Subscribers on, each with its warm-up event, before any timing
    s_subs_t *subs = (s_subs_t *) zmalloc (sizeof (s_subs_t));
    if (with)
        s_subs_attach (subs, options, pub_endpoint);
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
    //  The rest of the child processes die abruptly while events flow
    for (int i = stopped; i < subs->nprocs; i++)
        kill (subs->pids[i], SIGKILL);
    int64_t first = INT64_MAX, last = 0;
    for (int i = 0; i < options->sites; i++)
        pthread_join (threads[i], NULL);
    pthread_barrier_destroy (&barrier);
    atomic_store (&slow.stop, true);
    pthread_join (slow_thread, NULL);
    result.slow_received = slow.received;
    for (int i = 0; i < options->sites; i++) {
        IH_CHECK (!senders[i].error[0], "%s subscribers, site %d: %s", tag, i,
                  senders[i].error);
        first =
            senders[i].first_send_ns < first ? senders[i].first_send_ns : first;
        last = senders[i].last_ack_ns > last ? senders[i].last_ack_ns : last;
        result.events += (uint64_t) senders[i].acked;
    }
    uint64_t total = (uint64_t) options->sites * (uint64_t) options->events;
    IH_CHECK (result.events == total,
              "%s subscribers: %" PRIu64 " of %" PRIu64 " ACKed", tag,
              result.events, total);
    result.seconds = (double) (last - first) / 1e9;
    uint64_t stored = s_status_field (endpoint, "events");
    IH_CHECK (stored == total + result.warm,
              "%s subscribers: hub reports %" PRIu64 " events, %" PRIu64
              " ACKed + %" PRIu64 " warm-up",
              tag, stored, total, result.warm);

    //  The hub stops with the subscribers still attached (stopped ones
    //  included), as in production; they go only after it has exited.
    //  Detaching them first, just before SIGTERM, sometimes makes the
    //  hub's libzmq 4.3.4 abort while it closes the PUB socket
    //  ("Resource temporarily unavailable (src/session_base.cpp:260)",
    //  cf. zeromq/libzmq#3442)
    free (endpoint);
    free (pub_endpoint);
    ih_proc_signal (hub, SIGTERM);
    int status = ih_proc_wait_exit (hub, S_HUB_STOP_MS);
    s_subs_detach (subs);
    free (subs);
    IH_CHECK (status == 0, "incuhubd did not stop cleanly: status %d (see %s)",
              status, ih_proc_stderr (hub));
    ih_proc_destroy (&hub);
    s_rmrf (data);
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

static int
s_compare_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int
main (int argc, char *argv[])
{
    if (argc == 4 && streq (argv[1], S_CHILD_FLAG))
        return s_child_main (argv[2], argv[3]);
    //  First, in this thread: zsys_init is not thread-safe, and the
    //  sender threads' first zsock_new would otherwise race to run it
    zsys_init ();
    s_options_t options = {5000, 4, 3, 256, 50, 50, 4, NULL};
    options.root = getenv ("IH_BENCH_DIR");
    if (!options.root || !*options.root)
        options.root = IH_BENCH_DATA;
    static const struct option long_options[] = {
        {"events", required_argument, NULL, 'e'},
        {"sites", required_argument, NULL, 's'},
        {"rounds", required_argument, NULL, 'r'},
        {"window", required_argument, NULL, 'w'},
        {"slow", required_argument, NULL, 'S'},
        {"dead", required_argument, NULL, 'D'},
        {"procs", required_argument, NULL, 'P'},
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
        case 'S':
            rc = s_parse_int (optarg, 0, S_MAX_SUBS, &options.slow);
            break;
        case 'D':
            rc = s_parse_int (optarg, 0, S_MAX_SUBS, &options.dead);
            break;
        case 'P':
            rc = s_parse_int (optarg, 0, S_MAX_PROCS, &options.procs);
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
                     "ih_bench_subscribers: --%s: '%s' is not a number in "
                     "range\n",
                     long_options[index].name, optarg);
    }
    if (rc == 0 && options.procs > options.dead) {
        fprintf (stderr, "ih_bench_subscribers: --procs %d exceeds --dead %d\n",
                 options.procs, options.dead);
        rc = -1;
    }
    if (rc || optind < argc) {
        s_usage (stderr);
        return S_EXIT_USAGE;
    }
    atexit (s_kill_children);

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
    const char *fs = s_fs_name (data_root);
    printf ("machine: nproc %ld; data: %s (%s)%s\n",
            sysconf (_SC_NPROCESSORS_ONLN), data_root, fs,
            streq (fs, "tmpfs") || streq (fs, "ramfs")
                ? "  WARNING: memory filesystem, fsync is free"
                : "");

    //  Sign everything before any timing
    ih_tk_site_t sites[S_MAX_SITES], warm_site;
    uint8_t **events[S_MAX_SITES];
    size_t *sizes[S_MAX_SITES];
    ih_tk_site_init (&warm_site, work, registry, S_WARM_SITE, "incubator",
                     "laoshan");
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
            results[i] = s_run (&options, work, data_root, registry, &warm_site,
                                events, sizes, round, order[i]);
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
    qsort (ratios, (size_t) options.rounds, sizeof ratios[0], s_compare_double);
    double median =
        options.rounds % 2
            ? ratios[options.rounds / 2]
            : (ratios[options.rounds / 2 - 1] + ratios[options.rounds / 2]) / 2;
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

    for (int i = 0; i < options.sites; i++) {
        for (int n = 0; n < options.events; n++)
            free (events[i][n]);
        free (events[i]);
        free (sizes[i]);
        ih_tk_site_fini (&sites[i]);
    }
    ih_tk_site_fini (&warm_site);
    s_rmrf (data_root);
    ih_tk_cleanup ();
    return 0;
}
