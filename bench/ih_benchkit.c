/*  =========================================================================
    ih_benchkit - the machinery the benchmarks share, written once

    Where it sits: under bench/ih_bench_*.c, over tests/ih_testkit. See
    ih_benchkit.h for the pieces; the notes here are about how they work.

    The senders mirror an agent's outbox: a DEALER per site, events sent
    in sequence with at most a window unacknowledged, and each reply must
    be the ACK of the next event (the hub ACKs a site's events in order).
    A sender that fails records why and stops; the main thread turns that
    into a failed run after joining, so no thread ever exits the process
    while others hold sockets.
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
#include "ih_benchkit.h"
#include "ih_curve.h"
#include "ih_json.h"

//  ---------------------------------------------------------------------
//  Options and set-up

int64_t
ih_benchkit_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int
ih_benchkit_parse_u64 (const char *text, uint64_t min, uint64_t max,
                       uint64_t *value_p)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull (text, &end, 10);
    if (!isdigit ((unsigned char) *text) || errno || *end || value < min ||
        value > max)
        return -1;
    *value_p = value;
    return 0;
}

int
ih_benchkit_parse_int (const char *text, int min, int max, int *value_p)
{
    uint64_t value;
    //  Digits only, so never below 0
    if (max < 0 || ih_benchkit_parse_u64 (text, min > 0 ? (uint64_t) min : 0,
                                          (uint64_t) max, &value))
        return -1;
    *value_p = (int) value;
    return 0;
}

#define S_MAX_OPTIONS 32
#define S_OPTION_BASE 256 //  getopt_long's value for option 0 of a table

void
ih_benchkit_parse_options (int argc, char *argv[], const ih_benchkit_cli_t *cli)
{
    const ih_benchkit_option_t *table = cli->options;
    struct option long_options[S_MAX_OPTIONS + 2];
    int count = 0;
    for (; table[count].name; count++) {
        assert (count < S_MAX_OPTIONS);
        long_options[count] = (struct option){
            table[count].name, required_argument, NULL, S_OPTION_BASE + count};
    }
    long_options[count] = (struct option){"help", no_argument, NULL, 'h'};
    long_options[count + 1] = (struct option){NULL, 0, NULL, 0};
    int opt, rc = 0;
    while (rc == 0 &&
           (opt = getopt_long (argc, argv, "h", long_options, NULL)) != -1) {
        if (opt == 'h') {
            cli->usage (stdout);
            exit (0);
        }
        if (opt < S_OPTION_BASE || opt >= S_OPTION_BASE + count) {
            cli->usage (stderr); //  getopt_long has said why
            exit (IH_BENCHKIT_EXIT_USAGE);
        }
        const ih_benchkit_option_t *option = &table[opt - S_OPTION_BASE];
        if (option->int_p)
            rc = ih_benchkit_parse_int (optarg, option->min, option->max,
                                        option->int_p);
        else if (option->text_p)
            *option->text_p = optarg;
        else
            rc = option->parse (optarg, option->arg);
        if (rc)
            fprintf (stderr, "%s: --%s: '%s' %s\n", cli->program, option->name,
                     optarg,
                     cli->invalid ? cli->invalid : "is not a number in range");
    }
    if (rc || optind < argc) {
        cli->usage (stderr);
        exit (IH_BENCHKIT_EXIT_USAGE);
    }
}

const char *
ih_benchkit_default_root (void)
{
    const char *root = getenv ("IH_BENCH_DIR");
    return root && *root ? root : IH_BENCH_DATA;
}

void
ih_benchkit_make_data_root (const char *root, const char *prefix, char *path,
                            size_t size)
{
    if (mkdir (root, 0755) && errno != EEXIST)
        IH_CHECK (false, "cannot create %s: %s", root, strerror (errno));
    int length = snprintf (path, size, "%s/%s-XXXXXX", root, prefix);
    IH_CHECK (length > 0 && (size_t) length < size, "path too long: %s/%s",
              root, prefix);
    IH_CHECK (mkdtemp (path), "mkdtemp %s: %s", path, strerror (errno));
}

void
ih_benchkit_dirs_make (ih_benchkit_dirs_t *self, const char *root,
                       const char *prefix, const char *registry_name)
{
    self->work = ih_tk_tempdir ();
    ih_benchkit_make_data_root (root, prefix, self->data_root,
                                sizeof self->data_root);
    snprintf (self->registry, sizeof self->registry, "%s/%s", self->work,
              registry_name);
}

void
ih_benchkit_dirs_remove (ih_benchkit_dirs_t *self)
{
    ih_tk_rmrf (self->data_root);
    ih_tk_cleanup ();
}

//  ---------------------------------------------------------------------
//  The machine

const char *
ih_benchkit_fs_name (const char *path)
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

const char *
ih_benchkit_fs_warning (const char *fs)
{
    return streq (fs, "tmpfs") || streq (fs, "ramfs")
               ? "  WARNING: memory filesystem, fsync is free"
               : "";
}

void
ih_benchkit_print_machine (const char *data_root)
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
    const char *fs = ih_benchkit_fs_name (data_root);
    printf ("machine: nproc %ld, cpu %s, kernel %s %s\n",
            sysconf (_SC_NPROCESSORS_ONLN), model, have_uts ? uts.sysname : "?",
            have_uts ? uts.release : "?");
    printf ("data:    %s (%s)%s\n", data_root, fs, ih_benchkit_fs_warning (fs));
}

//  ---------------------------------------------------------------------
//  The hub

uint64_t
ih_benchkit_status_field (const char *endpoint, const char *field)
{
    json_t *status = ih_tk_status (endpoint);
    json_t *value = json_object_get (status, field);
    IH_CHECK (json_is_integer (value), "STATUS has no integer '%s'", field);
    uint64_t number = (uint64_t) json_integer_value (value);
    json_decref (status);
    return number;
}

#define S_HUB_MAX_EXTRA 16

struct _ih_benchkit_hub_t {
    ih_proc_t *proc;    //  the running incuhubd
    char ingest[512];   //  ingest endpoint asked for
    char pub[512];      //  pub endpoint asked for
    char *ready_ingest; //  ingest= from the ready line, or NULL
    char *ready_pub;    //  pub= from the ready line, or NULL
    int64_t spawned_ns; //  monotonic, just before the spawn
    char tag[64];       //  for messages
};

ih_benchkit_hub_t *
ih_benchkit_hub_new (const char *work, const char *data, const char *registry,
                     const char *tag, const char *const *extra)
{
    ih_benchkit_hub_config_t config = {tag, NULL, NULL, extra};
    return ih_benchkit_hub_new_ex (work, data, registry, &config);
}

ih_benchkit_hub_t *
ih_benchkit_hub_new_ex (const char *work, const char *data,
                        const char *registry,
                        const ih_benchkit_hub_config_t *config)
{
    const char *tag = config->tag;
    ih_benchkit_hub_t *self =
        (ih_benchkit_hub_t *) zmalloc (sizeof (ih_benchkit_hub_t));
    snprintf (self->tag, sizeof self->tag, "%s", tag ? tag : "");
    if (config->endpoint) {
        snprintf (self->ingest, sizeof self->ingest, "%s", config->endpoint);
        snprintf (self->pub, sizeof self->pub, "%s", config->endpoint);
    } else {
        snprintf (self->ingest, sizeof self->ingest, "ipc://%s/ingest%s%s.sock",
                  work, tag ? "-" : "", tag ? tag : "");
        snprintf (self->pub, sizeof self->pub, "ipc://%s/pub%s%s.sock", work,
                  tag ? "-" : "", tag ? tag : "");
    }
    const char *args[12 + S_HUB_MAX_EXTRA + 1] = {
        "--data",       data,
        "--registry",   registry,
        "--ingest",     self->ingest,
        "--pub",        self->pub,
        "--bureau-key", ih_tk_bureau_pub (registry)};
    int count = 10;
    if (config->curve_key) {
        args[count++] = "--key";
        args[count++] = config->curve_key;
    } else
        args[count++] = "--plaintext";
    for (int i = 0; config->extra && config->extra[i]; i++) {
        IH_CHECK (i < S_HUB_MAX_EXTRA, "too many incuhubd arguments");
        args[count++] = config->extra[i];
    }
    args[count] = NULL;
    self->spawned_ns = ih_benchkit_now_ns ();
    self->proc = ih_proc_start (work, "incuhubd", args);
    IH_CHECK (self->proc, "cannot start incuhubd");
    return self;
}

void
ih_benchkit_hub_destroy (ih_benchkit_hub_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ih_benchkit_hub_t *self = *self_p;
    ih_proc_destroy (&self->proc);
    free (self->ready_ingest);
    free (self->ready_pub);
    free (self);
    *self_p = NULL;
}

void
ih_benchkit_hub_wait_ready (ih_benchkit_hub_t *self, int timeout_ms)
{
    assert (self);
    char *line = ih_proc_wait_line (self->proc, "incuhubd: ready", timeout_ms);
    IH_CHECK (line, "incuhubd %s did not become ready (see %s)", self->tag,
              ih_proc_stderr (self->proc));
    free (self->ready_ingest);
    free (self->ready_pub);
    self->ready_ingest = ih_tk_field (line, "ingest");
    self->ready_pub = ih_tk_field (line, "pub");
    IH_CHECK (self->ready_ingest && self->ready_pub,
              "no ingest= or pub= in '%s'", line);
    free (line);
}

bool
ih_benchkit_hub_ready_seen (ih_benchkit_hub_t *self)
{
    assert (self);
    FILE *file = fopen (ih_proc_stdout (self->proc), "r");
    if (!file)
        return false;
    char line[4096];
    bool seen = false;
    while (!seen && fgets (line, sizeof line, file))
        seen = strncmp (line, "incuhubd: ready", 15) == 0 &&
               strchr (line, '\n') != NULL;
    fclose (file);
    return seen;
}

const char *
ih_benchkit_hub_ingest (ih_benchkit_hub_t *self)
{
    assert (self);
    return self->ready_ingest ? self->ready_ingest : self->ingest;
}

const char *
ih_benchkit_hub_pub (ih_benchkit_hub_t *self)
{
    assert (self);
    return self->ready_pub ? self->ready_pub : self->pub;
}

ih_proc_t *
ih_benchkit_hub_proc (ih_benchkit_hub_t *self)
{
    assert (self);
    return self->proc;
}

int64_t
ih_benchkit_hub_spawned_ns (ih_benchkit_hub_t *self)
{
    assert (self);
    return self->spawned_ns;
}

int
ih_benchkit_hub_stop (ih_benchkit_hub_t *self, int sig, int timeout_ms)
{
    assert (self);
    ih_proc_signal (self->proc, sig);
    return ih_proc_wait_exit (self->proc, timeout_ms);
}

//  ---------------------------------------------------------------------
//  The fleet

struct _ih_benchkit_fleet_t {
    int sites;                                //  how many
    int events;                               //  per site
    ih_tk_site_t site[IH_BENCHKIT_MAX_SITES]; //  keys and chains
    uint8_t **bytes[IH_BENCHKIT_MAX_SITES];   //  [site][n] signed event
    size_t *sizes[IH_BENCHKIT_MAX_SITES];     //  [site][n] its size
};

ih_benchkit_fleet_t *
ih_benchkit_fleet_new (const char *work, const char *registry,
                       const char *prefix, const char *district, int sites,
                       int events)
{
    assert (sites >= 1 && sites <= IH_BENCHKIT_MAX_SITES);
    assert (events >= 1);
    ih_benchkit_fleet_t *self =
        (ih_benchkit_fleet_t *) zmalloc (sizeof (ih_benchkit_fleet_t));
    self->sites = sites;
    self->events = events;
    for (int i = 0; i < sites; i++) {
        char name[IH_NAME_MAX + 1];
        snprintf (name, sizeof name, "%s-%02d", prefix, i + 1);
        ih_tk_site_init (&self->site[i], work, registry, name, "incubator",
                         district);
        self->bytes[i] =
            (uint8_t **) calloc ((size_t) events, sizeof (uint8_t *));
        self->sizes[i] = (size_t *) calloc ((size_t) events, sizeof (size_t));
        IH_CHECK (self->bytes[i] && self->sizes[i], "out of memory");
        for (int n = 0; n < events; n++) {
            char json[160];
            snprintf (json, sizeof json,
                      "{\"enterprise\":\"ent-%d-%d\",\"round\":\"angel\","
                      "\"amount_cny\":%d}",
                      i + 1, n + 1, (n + 1) * 1000);
            self->bytes[i][n] =
                ih_tk_site_sign (&self->site[i], "financing.round_closed", json,
                                 &self->sizes[i][n]);
            IH_CHECK (self->bytes[i][n], "cannot sign event %d of %s", n + 1,
                      name);
        }
    }
    return self;
}

void
ih_benchkit_fleet_destroy (ih_benchkit_fleet_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ih_benchkit_fleet_t *self = *self_p;
    for (int i = 0; i < self->sites; i++) {
        for (int n = 0; n < self->events; n++)
            free (self->bytes[i][n]);
        free (self->bytes[i]);
        free (self->sizes[i]);
        ih_tk_site_fini (&self->site[i]);
    }
    free (self);
    *self_p = NULL;
}

int
ih_benchkit_fleet_sites (ih_benchkit_fleet_t *self)
{
    assert (self);
    return self->sites;
}

int
ih_benchkit_fleet_events (ih_benchkit_fleet_t *self)
{
    assert (self);
    return self->events;
}

ih_tk_site_t *
ih_benchkit_fleet_site (ih_benchkit_fleet_t *self, int index)
{
    assert (self && index >= 0 && index < self->sites);
    return &self->site[index];
}

const uint8_t *
ih_benchkit_fleet_event (ih_benchkit_fleet_t *self, int index, int n,
                         size_t *size_p)
{
    assert (self && index >= 0 && index < self->sites);
    assert (n >= 0 && n < self->events);
    if (size_p)
        *size_p = self->sizes[index][n];
    return self->bytes[index][n];
}

//  ---------------------------------------------------------------------
//  The senders

//  One sender thread: a site's pre-signed events and its outcome.
typedef struct {
    const char *endpoint;       //  hub ingest (borrowed)
    ih_key_t *own;              //  the site's key (borrowed)
    ih_key_t *hub_key;          //  the hub's public key, NULL in plain text
    uint8_t *const *events;     //  signed events, seq first + 1.. (borrowed)
    const size_t *sizes;        //  their sizes (borrowed)
    int first;                  //  events before these, sent before
    int count;                  //  events to send
    int window;                 //  max unacknowledged
    int timeout_ms;             //  for any one reply
    pthread_barrier_t *barrier; //  released when every sender is ready
    int64_t first_send_ns;      //  monotonic, at the first send
    int64_t last_ack_ns;        //  monotonic, at the last ACK
    int acked;                  //  ACKs received, in order
    char error[256];            //  empty unless the sender failed
} s_sender_t;

struct _ih_benchkit_senders_t {
    char *endpoint;            //  hub ingest (owned copy)
    int count;                 //  senders, one per site
    int started;               //  threads created
    bool joined;               //  threads joined
    uint64_t total;            //  events all must ACK
    pthread_barrier_t barrier; //  the start line
    s_sender_t sender[IH_BENCHKIT_MAX_SITES];
    pthread_t thread[IH_BENCHKIT_MAX_SITES];
};

zsock_t *
ih_benchkit_dealer_new (ih_key_t *own, ih_key_t *hub_key, int timeout_ms)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    if (!dealer)
        return NULL;
    if (hub_key && ih_curve_client (dealer, own, hub_key) != IH_OK) {
        zsock_destroy (&dealer);
        return NULL;
    }
    zsock_set_rcvtimeo (dealer, timeout_ms);
    return dealer;
}

//  Waits until dealer reaches the hub through every handshake: one STATUS
//  round trip. The answer also shows which hub it is: a plain-text hub
//  answers STATUS, a CURVE hub refuses it to an incubator (NAK
//  IH_E_DENIED), which it can only do when ZAP has authenticated the
//  connection as that site. Returns 0, or -1 after writing why into the
//  sender's error.
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
    bool ok =
        reply && ih_wire_decode (reply, &wire) == IH_OK &&
        (self->hub_key ? wire.kind == IH_WIRE_NAK && wire.code == IH_E_DENIED
                       : wire.kind == IH_WIRE_STATUS);
    zmsg_destroy (&reply);
    if (!ok && self->hub_key)
        snprintf (self->error, sizeof self->error,
                  "no CURVE (NAK IH_E_DENIED) answer to STATUS from %s",
                  self->endpoint);
    else if (!ok)
        snprintf (self->error, sizeof self->error, "no STATUS reply from %s",
                  self->endpoint);
    return ok ? 0 : -1;
}

//  Streams the events with a window in flight until all are ACKed, each
//  reply the ACK of the next event in order.
static void
s_sender_stream (s_sender_t *self, zsock_t *dealer)
{
    int sent = 0;
    self->first_send_ns = ih_benchkit_now_ns ();
    while (self->acked < self->count) {
        while (sent < self->count && sent - self->acked < self->window) {
            zmsg_t *msg = ih_wire_event (self->events[sent], self->sizes[sent]);
            if (zmsg_send (&msg, dealer)) {
                zmsg_destroy (&msg);
                snprintf (self->error, sizeof self->error,
                          "send failed at event %d", self->first + sent + 1);
                return;
            }
            sent++;
        }
        zmsg_t *reply = zmsg_recv (dealer);
        if (!reply) {
            snprintf (self->error, sizeof self->error,
                      "no reply within %d ms after %d ACKs", self->timeout_ms,
                      self->acked);
            return;
        }
        uint64_t expected = (uint64_t) self->first + (uint64_t) self->acked + 1;
        ih_wire_t wire;
        ih_err_t err = ih_wire_decode (reply, &wire);
        if (err != IH_OK || wire.kind != IH_WIRE_ACK || wire.seq != expected) {
            if (err != IH_OK)
                snprintf (self->error, sizeof self->error,
                          "undecodable reply: %s", ih_err_name (err));
            else if (wire.kind == IH_WIRE_NAK)
                snprintf (self->error, sizeof self->error,
                          "NAK seq=%" PRIu64 " %s: %s", wire.seq,
                          ih_err_name (wire.code), wire.reason);
            else
                snprintf (self->error, sizeof self->error,
                          "reply kind %d seq %" PRIu64
                          ", expected ACK %" PRIu64,
                          (int) wire.kind, wire.seq, expected);
            zmsg_destroy (&reply);
            return;
        }
        self->acked++;
        zmsg_destroy (&reply);
    }
    self->last_ack_ns = ih_benchkit_now_ns ();
}

static void *
s_sender_run (void *arg)
{
    s_sender_t *self = (s_sender_t *) arg;
    zsock_t *dealer =
        ih_benchkit_dealer_new (self->own, self->hub_key, self->timeout_ms);
    if (!dealer)
        snprintf (self->error, sizeof self->error, "cannot make a DEALER");
    else if (zsock_connect (dealer, "%s", self->endpoint))
        snprintf (self->error, sizeof self->error, "cannot connect to %s",
                  self->endpoint);
    else
        s_sender_connect (self, dealer);
    //  Every sender reaches the barrier, ready or not, so none waits
    //  forever; a sender that failed then stops
    pthread_barrier_wait (self->barrier);
    if (!self->error[0])
        s_sender_stream (self, dealer);
    zsock_destroy (&dealer);
    return NULL;
}

ih_benchkit_senders_t *
ih_benchkit_senders_new (const char *endpoint, ih_benchkit_fleet_t *fleet,
                         int window, int reply_timeout_ms)
{
    ih_benchkit_send_config_t config = {window, reply_timeout_ms, 0, 0, NULL};
    return ih_benchkit_senders_new_ex (endpoint, fleet, &config);
}

ih_benchkit_senders_t *
ih_benchkit_senders_new_ex (const char *endpoint, ih_benchkit_fleet_t *fleet,
                            const ih_benchkit_send_config_t *config)
{
    assert (endpoint && fleet && config->window >= 1);
    int first = config->first;
    int count = config->count ? config->count : fleet->events - first;
    assert (first >= 0 && count >= 1 && first + count <= fleet->events);
    ih_benchkit_senders_t *self =
        (ih_benchkit_senders_t *) zmalloc (sizeof (ih_benchkit_senders_t));
    self->endpoint = strdup (endpoint);
    IH_CHECK (self->endpoint, "out of memory");
    self->count = fleet->sites;
    self->total = (uint64_t) fleet->sites * (uint64_t) count;
    IH_CHECK (pthread_barrier_init (&self->barrier, NULL,
                                    (unsigned) self->count) == 0,
              "pthread_barrier_init");
    for (int i = 0; i < self->count; i++) {
        s_sender_t *sender = &self->sender[i];
        sender->endpoint = self->endpoint;
        sender->own = fleet->site[i].key;
        sender->hub_key = config->hub_key;
        sender->events = fleet->bytes[i] + first;
        sender->sizes = fleet->sizes[i] + first;
        sender->first = first;
        sender->count = count;
        sender->window = config->window;
        sender->timeout_ms = config->reply_timeout_ms;
        sender->barrier = &self->barrier;
        //  A failure here exits with the started threads blocked on the
        //  barrier; the process is ending anyway
        IH_CHECK (
            pthread_create (&self->thread[i], NULL, s_sender_run, sender) == 0,
            "pthread_create");
        self->started++;
    }
    return self;
}

uint64_t
ih_benchkit_senders_wait (ih_benchkit_senders_t *self, const char *label,
                          double *seconds_p)
{
    assert (self);
    if (!self->joined) {
        for (int i = 0; i < self->started; i++)
            pthread_join (self->thread[i], NULL);
        self->joined = true;
    }
    int64_t first = INT64_MAX, last = 0;
    uint64_t acked = 0;
    for (int i = 0; i < self->count; i++) {
        const s_sender_t *sender = &self->sender[i];
        IH_CHECK (!sender->error[0], "%s, site %d: %s", label, i,
                  sender->error);
        first = sender->first_send_ns < first ? sender->first_send_ns : first;
        last = sender->last_ack_ns > last ? sender->last_ack_ns : last;
        acked += (uint64_t) sender->acked;
    }
    IH_CHECK (acked == self->total, "%s: %" PRIu64 " of %" PRIu64 " ACKed",
              label, acked, self->total);
    if (seconds_p)
        *seconds_p = (double) (last - first) / 1e9;
    return acked;
}

void
ih_benchkit_senders_destroy (ih_benchkit_senders_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ih_benchkit_senders_t *self = *self_p;
    if (!self->joined)
        for (int i = 0; i < self->started; i++)
            pthread_join (self->thread[i], NULL);
    pthread_barrier_destroy (&self->barrier);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Statistics

static int
s_compare_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

double
ih_benchkit_median (double *values, int count)
{
    assert (values && count >= 1);
    qsort (values, (size_t) count, sizeof values[0], s_compare_double);
    return count % 2 ? values[count / 2]
                     : (values[count / 2 - 1] + values[count / 2]) / 2;
}

void
ih_benchkit_median_max (double *values, int count, double *median_p,
                        double *max_p)
{
    *median_p = ih_benchkit_median (values, count);
    *max_p = values[count - 1];
}

//  ---------------------------------------------------------------------
//  Self test

void
ih_benchkit_test (bool verbose)
{
    if (verbose)
        printf (" * ih_benchkit: ");
    int value = 7;
    assert (ih_benchkit_parse_int ("42", 1, 100, &value) == 0 && value == 42);
    assert (ih_benchkit_parse_int ("0", 1, 100, &value) == -1 && value == 42);
    assert (ih_benchkit_parse_int ("101", 1, 100, &value) == -1);
    assert (ih_benchkit_parse_int ("-5", -10, 100, &value) == -1);
    assert (ih_benchkit_parse_int ("5x", 1, 100, &value) == -1);
    assert (ih_benchkit_parse_int ("", 1, 100, &value) == -1);
    assert (ih_benchkit_parse_int ("99999999999999999999", 1, 100, &value) ==
            -1);
    assert (ih_benchkit_parse_int ("0", 0, 10, &value) == 0 && value == 0);
    uint64_t big = 0;
    assert (ih_benchkit_parse_u64 ("4294967295", 1, UINT32_MAX, &big) == 0 &&
            big == UINT32_MAX);
    assert (ih_benchkit_parse_u64 ("4294967296", 1, UINT32_MAX, &big) == -1 &&
            big == UINT32_MAX);
    assert (ih_benchkit_parse_u64 ("+5", 1, 10, &big) == -1);

    double odd[] = {3, 1, 2};
    assert (ih_benchkit_median (odd, 3) == 2);
    double even[] = {4, 1, 3, 2};
    double median, max;
    ih_benchkit_median_max (even, 4, &median, &max);
    assert (median == 2.5 && max == 4);

    assert (streq (ih_benchkit_fs_warning ("tmpfs"),
                   "  WARNING: memory filesystem, fsync is free"));
    assert (streq (ih_benchkit_fs_warning ("ext2/3/4"), ""));
    assert (*ih_benchkit_fs_name ("/"));

    const char *work = ih_tk_tempdir ();
    char root[1024];
    ih_benchkit_make_data_root (work, "kit", root, sizeof root);
    char nested[1100];
    snprintf (nested, sizeof nested, "%s/a", root);
    assert (mkdir (nested, 0755) == 0);
    snprintf (nested, sizeof nested, "%s/a/file", root);
    FILE *file = fopen (nested, "w");
    assert (file);
    fclose (file);
    ih_tk_rmrf (root);
    struct stat st;
    assert (stat (root, &st) == -1 && errno == ENOENT);
    if (verbose)
        printf ("OK\n");
}
