/*  =========================================================================
    ih_tkfleet - a fleet of real agents under test load: the publishers,
    the CONFIRM bookkeeping and the final check of the log. See
    ih_tkfleet.h.
    =========================================================================*/
#include "ih_tkfleet.h"
#include <time.h>
#include <unistd.h>
#include "ih_json.h"

#define S_STALL_MS 15000 //  a waiting publisher must see a CONFIRM by then
#define S_ID(a, n) ((uint64_t) ((a) + 1) * 1000000 + (n))

typedef struct {
    ih_tk_site_t site;
    char listen[256];
    char key[512];
    char outbox[512];
    char chunk_path[512];
    ih_proc_t *agent;
    zsock_t *dealer;      //  DEALER publisher (NULL if CLI-fed or down)
    int chunk;            //  lines per `incuhub publish` run; 0 = DEALER
    ih_proc_t *cli;       //  the CLI publisher's current run
    uint64_t cli_first;   //  first n of the current CLI run
    uint64_t *pending;    //  [window] n of the requests in flight, oldest first
    size_t head, count;   //  ring of pending
    uint64_t sent;        //  last n handed out
    uint64_t max_seq;     //  highest sequence confirmed
    uint64_t confirmed_n; //  CONFIRMs received
    uint64_t abandoned;   //  in flight when the agent was killed
    int64_t progress_at;  //  last CONFIRM (or start of waiting)
    uint64_t *confirmed;  //  [max + 2] seq -> n, 0 = not confirmed
    uint64_t *logged;     //  [max + 2] seq -> n found in the log
    uint8_t *seen;        //  [max + 2] n -> times found in the log
} s_pub_t;

struct _ih_tkfleet_t {
    char dir[512];
    int size;
    size_t window;
    uint64_t max;
    s_pub_t *pubs;         //  [size]
    zmq_pollitem_t *items; //  [size] for ih_tkfleet_pump
    uint64_t rng;          //  splitmix64 state
};

ih_tkfleet_t *
ih_tkfleet_new (const char *dir, const char *registry,
                const char *const *districts, int size, size_t window,
                uint64_t max)
{
    assert (dir && registry && districts && size > 0 && window > 0);
    //  Ids are (a + 1) * 1000000 + n: n must stay below the next site's.
    assert (max > 0 && max < 1000000);
    ih_tkfleet_t *self = (ih_tkfleet_t *) zmalloc (sizeof (ih_tkfleet_t));
    snprintf (self->dir, sizeof self->dir, "%s", dir);
    self->size = size;
    self->window = window;
    self->max = max;
    self->pubs = (s_pub_t *) zmalloc ((size_t) size * sizeof (s_pub_t));
    self->items =
        (zmq_pollitem_t *) zmalloc ((size_t) size * sizeof (zmq_pollitem_t));
    for (int a = 0; a < size; a++) {
        s_pub_t *p = &self->pubs[a];
        char site[IH_NAME_MAX + 1];
        snprintf (site, sizeof site, "%s-inc-%02d", districts[a], a + 1);
        ih_tk_site_init (&p->site, dir, registry, site, "incubator",
                         districts[a]);
        snprintf (p->key, sizeof p->key, "%s/%.*s.key", dir, IH_NAME_MAX,
                  p->site.site);
        snprintf (p->outbox, sizeof p->outbox, "%s/outbox-%d", dir, a);
        snprintf (p->listen, sizeof p->listen, "ipc://%s/agent-%d.sock", dir,
                  a);
        snprintf (p->chunk_path, sizeof p->chunk_path, "%s/chunk-%d.jsonl", dir,
                  a);
        p->pending = (uint64_t *) zmalloc (window * sizeof (uint64_t));
        p->confirmed = (uint64_t *) zmalloc ((max + 2) * sizeof (uint64_t));
        p->logged = (uint64_t *) zmalloc ((max + 2) * sizeof (uint64_t));
        p->seen = (uint8_t *) zmalloc (max + 2);
    }
    return self;
}

void
ih_tkfleet_destroy (ih_tkfleet_t **self_p)
{
    assert (self_p);
    ih_tkfleet_t *self = *self_p;
    if (!self)
        return;
    for (int a = 0; a < self->size; a++) {
        s_pub_t *p = &self->pubs[a];
        zsock_destroy (&p->dealer);
        ih_proc_destroy (&p->cli);
        ih_proc_destroy (&p->agent);
        ih_tk_site_fini (&p->site);
        free (p->pending);
        free (p->confirmed);
        free (p->logged);
        free (p->seen);
    }
    free (self->pubs);
    free (self->items);
    free (self);
    *self_p = NULL;
}

static s_pub_t *
s_pub (ih_tkfleet_t *self, int a)
{
    assert (self && a >= 0 && a < self->size);
    return &self->pubs[a];
}

void
ih_tkfleet_set_cli (ih_tkfleet_t *self, int a, int chunk)
{
    s_pub_t *p = s_pub (self, a);
    assert (chunk > 0 && !p->agent);
    p->chunk = chunk;
}

const char *
ih_tkfleet_site (ih_tkfleet_t *self, int a)
{
    return s_pub (self, a)->site.site;
}

const char *
ih_tkfleet_listen (ih_tkfleet_t *self, int a)
{
    return s_pub (self, a)->listen;
}

ih_proc_t *
ih_tkfleet_agent (ih_tkfleet_t *self, int a)
{
    return s_pub (self, a)->agent;
}

uint64_t
ih_tkfleet_confirmed (ih_tkfleet_t *self, int a)
{
    return s_pub (self, a)->confirmed_n;
}

uint64_t
ih_tkfleet_abandoned (ih_tkfleet_t *self, int a)
{
    return s_pub (self, a)->abandoned;
}

void
ih_tkfleet_agent_start (ih_tkfleet_t *self, int a, const char *hub)
{
    s_pub_t *p = s_pub (self, a);
    assert (!p->agent && hub);
    const char *args[] = {"--site",   p->site.site, "--key",    p->key,
                          "--hub",    hub,          "--outbox", p->outbox,
                          "--listen", p->listen,    NULL};
    p->agent = ih_tk_agent_start_args (self->dir, args, NULL);
    if (!p->chunk) {
        p->dealer = zsock_new_dealer (p->listen);
        IH_CHECK (p->dealer, "DEALER to %s", p->listen);
        p->head = p->count = 0;
    }
    p->progress_at = ih_tk_now ();
}

void
ih_tkfleet_agent_kill (ih_tkfleet_t *self, int a)
{
    s_pub_t *p = s_pub (self, a);
    assert (p->agent);
    ih_proc_signal (p->agent, SIGKILL);
    IH_CHECK (ih_proc_wait_exit (p->agent, 10000) == 128 + SIGKILL,
              "agent %s did not die of SIGKILL", p->site.site);
    ih_proc_destroy (&p->agent);
    zsock_destroy (&p->dealer);
    //  Requests in flight at the kill may or may not have been stored.
    p->abandoned += p->count;
    p->head = p->count = 0;
}

static zmsg_t *
s_publish_msg (uint64_t id)
{
    char json[128];
    snprintf (json, sizeof json, "{\"id\":%" PRIu64 ",\"participants\":1}", id);
    json_t *object = json_loads (json, 0, NULL);
    uint8_t *data;
    size_t size;
    IH_CHECK (ih_json_to_msgpack (object, &data, &size) == IH_OK, "pack");
    json_decref (object);
    zmsg_t *msg = ih_wire_publish ("training.held", data, size);
    free (data);
    return msg;
}

//  Records a CONFIRM: per site, sequences only ever go up.
static void
s_confirm (ih_tkfleet_t *self, s_pub_t *p, uint64_t seq, uint64_t n)
{
    IH_CHECK (seq > p->max_seq && seq <= self->max + 1,
              "%s: seq %" PRIu64 " confirmed after %" PRIu64
              ": reused or out of order",
              p->site.site, seq, p->max_seq);
    p->max_seq = seq;
    p->confirmed[seq] = n;
    p->confirmed_n++;
    p->progress_at = ih_tk_now ();
}

//  Receives every CONFIRM waiting on a DEALER publisher.
static void
s_dealer_recv (ih_tkfleet_t *self, s_pub_t *p)
{
    while (zsock_events (p->dealer) & ZMQ_POLLIN) {
        zmsg_t *reply = zmsg_recv (p->dealer);
        IH_CHECK (reply, "%s: recv", p->site.site);
        ih_wire_t wire;
        IH_CHECK (ih_wire_decode (reply, &wire) == IH_OK &&
                      wire.kind == IH_WIRE_CONFIRM,
                  "%s: expected CONFIRM, got kind %d code %s", p->site.site,
                  wire.kind, ih_err_name (wire.code));
        IH_CHECK (p->count > 0, "%s: CONFIRM with nothing in flight",
                  p->site.site);
        s_confirm (self, p, wire.seq, p->pending[p->head]);
        p->head = (p->head + 1) % self->window;
        p->count--;
        zmsg_destroy (&reply);
    }
}

//  Sends up to the window and up to the pace allows.
static void
s_dealer_send (ih_tkfleet_t *self, s_pub_t *p, uint64_t allowed)
{
    while (p->count < self->window && p->sent < allowed &&
           p->sent < self->max) {
        if (p->count == 0)
            p->progress_at = ih_tk_now ();
        uint64_t n = ++p->sent;
        zmsg_t *msg = s_publish_msg (S_ID (p - self->pubs, n));
        IH_CHECK (zmsg_send (&msg, p->dealer) == 0, "%s: send", p->site.site);
        p->pending[(p->head + p->count++) % self->window] = n;
    }
}

//  Starts the next `incuhub publish` run if the pace allows one.
static void
s_cli_start (ih_tkfleet_t *self, s_pub_t *p, uint64_t allowed)
{
    uint64_t chunk = (uint64_t) p->chunk;
    if (p->cli || p->sent + chunk > allowed || p->sent + chunk > self->max)
        return;
    FILE *file = fopen (p->chunk_path, "w");
    IH_CHECK (file, "cannot write %s", p->chunk_path);
    p->cli_first = p->sent + 1;
    for (int k = 0; k < p->chunk; k++)
        fprintf (file,
                 "{\"type\":\"training.held\",\"data\":{\"id\":%" PRIu64
                 ",\"participants\":1}}\n",
                 S_ID (p - self->pubs, ++p->sent));
    fclose (file);
    const char *args[] = {"publish", "--agent", p->listen, NULL};
    p->cli = ih_proc_start_stdin (self->dir, "incuhub", args, p->chunk_path);
    p->progress_at = ih_tk_now ();
}

//  Collects a finished `incuhub publish` run: one "seq=N" per input line.
static void
s_cli_collect (ih_tkfleet_t *self, s_pub_t *p)
{
    if (!p->cli || ih_proc_alive (p->cli))
        return;
    int status = ih_proc_wait_exit (p->cli, 0);
    IH_CHECK (status == 0, "incuhub publish to %s exited %d (see %s)",
              p->site.site, status, ih_proc_stderr (p->cli));
    FILE *file = fopen (ih_proc_stdout (p->cli), "r");
    IH_CHECK (file, "no stdout of incuhub publish");
    char line[256];
    uint64_t n = p->cli_first;
    uint64_t chunk = (uint64_t) p->chunk;
    while (fgets (line, sizeof line, file)) {
        uint64_t seq;
        IH_CHECK (sscanf (line, "seq=%" SCNu64, &seq) == 1,
                  "incuhub publish printed '%s'", line);
        IH_CHECK (n < p->cli_first + chunk, "too many seq= lines");
        s_confirm (self, p, seq, n++);
    }
    fclose (file);
    IH_CHECK (n == p->cli_first + chunk,
              "incuhub publish confirmed %" PRIu64 " of %d lines",
              n - p->cli_first, p->chunk);
    ih_proc_destroy (&p->cli);
}

void
ih_tkfleet_pump (ih_tkfleet_t *self, uint64_t allowed)
{
    assert (self);
    zmq_pollitem_t *items = self->items;
    int nitems = 0;
    for (int a = 0; a < self->size; a++) {
        s_pub_t *p = &self->pubs[a];
        if (p->chunk) {
            s_cli_collect (self, p);
            s_cli_start (self, p, allowed);
        } else if (p->dealer) {
            s_dealer_send (self, p, allowed);
            items[nitems++] =
                (zmq_pollitem_t){zsock_resolve (p->dealer), 0, ZMQ_POLLIN, 0};
        }
    }
    zmq_poll (items, nitems, 5);
    for (int a = 0; a < self->size; a++) {
        s_pub_t *p = &self->pubs[a];
        if (p->dealer)
            s_dealer_recv (self, p);
        //  Agents confirm from their outbox: neither a hub outage nor a
        //  bad link may hold up a publisher for long.
        bool waiting = p->count > 0 || p->cli;
        IH_CHECK (!waiting || ih_tk_now () - p->progress_at < S_STALL_MS,
                  "agent %s confirmed nothing for 15 s (see %s)", p->site.site,
                  ih_proc_stderr (p->agent));
    }
}

void
ih_tkfleet_finish (ih_tkfleet_t *self)
{
    assert (self);
    int64_t deadline = ih_tk_now () + 60000;
    bool busy = true;
    while (busy) {
        IH_CHECK (ih_tk_now () < deadline, "publishers do not finish");
        busy = false;
        for (int a = 0; a < self->size; a++) {
            s_pub_t *p = &self->pubs[a];
            if (p->chunk) {
                if (p->cli)
                    ih_proc_wait_exit (p->cli, 10);
                s_cli_collect (self, p);
                busy |= p->cli != NULL;
            } else {
                if (p->count) {
                    zmq_pollitem_t item = {zsock_resolve (p->dealer), 0,
                                           ZMQ_POLLIN, 0};
                    zmq_poll (&item, 1, 10);
                    s_dealer_recv (self, p);
                }
                busy |= p->count > 0;
            }
        }
    }
}

json_t *
ih_tkfleet_status (ih_tkfleet_t *self, int a)
{
    return ih_tk_status (s_pub (self, a)->listen);
}

json_int_t
ih_tkfleet_status_int (json_t *status, const char *field)
{
    return json_integer_value (json_object_get (status, field));
}

void
ih_tkfleet_drain (ih_tkfleet_t *self)
{
    assert (self);
    int64_t deadline = ih_tk_now () + 60000;
    for (int a = 0; a < self->size; a++) {
        s_pub_t *p = &self->pubs[a];
        while (true) {
            json_t *status = ih_tkfleet_status (self, a);
            bool done = ih_tkfleet_status_int (status, "backlog") == 0 &&
                        ih_tkfleet_status_int (status, "in_flight") == 0 &&
                        json_is_true (json_object_get (status, "connected")) &&
                        ih_tkfleet_status_int (status, "acked") ==
                            ih_tkfleet_status_int (status, "next_seq") - 1;
            char *text = json_dumps (status, JSON_COMPACT);
            json_decref (status);
            if (!done && ih_tk_now () >= deadline)
                IH_CHECK (false, "agent %s is stuck: %s (see %s)", p->site.site,
                          text, ih_proc_stderr (p->agent));
            free (text);
            if (done)
                break;
            zclock_sleep (20); //  polling interval of the condition
        }
    }
}

typedef struct {
    ih_tkfleet_t *fleet;
    ih_tkfleet_figures_t *figures;
} s_scan_t;

static int
s_scan (uint64_t hub_seq, uint64_t received, const uint8_t *bytes, size_t size,
        void *arg)
{
    (void) received;
    s_scan_t *scan = (s_scan_t *) arg;
    ih_tkfleet_t *self = scan->fleet;
    ih_event_t event;
    IH_CHECK (ih_event_decode (bytes, size, &event) == IH_OK,
              "hub_seq %" PRIu64 " does not decode", hub_seq);
    if (streq (event.site, IH_TK_BUREAU))
        return 0; //  the registry journal (sites, permissions): not load
    s_pub_t *p = NULL;
    for (int a = 0; a < self->size; a++)
        if (streq (event.site, self->pubs[a].site.site))
            p = &self->pubs[a];
    if (!p) {
        scan->figures->foreign++;
        return 0;
    }
    json_t *data;
    IH_CHECK (ih_json_from_msgpack (event.data, event.data_size, &data) ==
                  IH_OK,
              "hub_seq %" PRIu64 ": data", hub_seq);
    uint64_t id = (uint64_t) json_integer_value (json_object_get (data, "id"));
    json_decref (data);
    uint64_t base = S_ID (p - self->pubs, 0);
    uint64_t n = id - base;
    IH_CHECK (id > base && n <= self->max,
              "hub_seq %" PRIu64 ": site %s stored id %" PRIu64, hub_seq,
              event.site, id);
    IH_CHECK (event.seq <= self->max + 1, "hub_seq %" PRIu64 ": seq %" PRIu64,
              hub_seq, event.seq);
    if (p->seen[n]++)
        scan->figures->duplicates++;
    p->logged[event.seq] = n;
    return 0;
}

void
ih_tkfleet_verify (ih_tkfleet_t *self, const char *data,
                   ih_tkfleet_figures_t *figures)
{
    assert (self && data && figures);
    memset (figures, 0, sizeof *figures);
    s_scan_t scan = {self, figures};
    ih_tk_log_scan (data, s_scan, &scan);
    for (int a = 0; a < self->size; a++) {
        s_pub_t *p = &self->pubs[a];
        figures->confirmed += p->confirmed_n;
        figures->abandoned += p->abandoned;
        for (uint64_t seq = 1; seq <= self->max + 1; seq++) {
            if (p->confirmed[seq] && p->logged[seq] != p->confirmed[seq]) {
                if (figures->lost < 10)
                    fprintf (stderr,
                             "  lost: %s seq=%" PRIu64 " confirmed n=%" PRIu64
                             " log has n=%" PRIu64 "\n",
                             p->site.site, seq, p->confirmed[seq],
                             p->logged[seq]);
                figures->lost++;
            }
            if (!p->confirmed[seq] && p->logged[seq])
                figures->unconfirmed_stored++;
        }
    }
}

int64_t
ih_tkfleet_settle (ih_tkfleet_t *self, const char *data,
                   ih_tkfleet_figures_t *figures)
{
    assert (self && data && figures);
    ih_tkfleet_finish (self);
    int64_t drain_start = ih_tk_now ();
    ih_tkfleet_drain (self);
    int64_t drain_ms = ih_tk_now () - drain_start;
    ih_tkfleet_verify (self, data, figures);
    return drain_ms;
}

uint64_t
ih_tkfleet_conclude (ih_tkfleet_t *self, const ih_tkfleet_figures_t *figures,
                     uint64_t seed, const char *data, const char *registry)
{
    assert (self && figures && data && registry);
    IH_CHECK (figures->lost == 0,
              "%" PRIu64 " confirmed events lost (seed %" PRIu64 ")",
              figures->lost, seed);
    IH_CHECK (figures->duplicates == 0,
              "%" PRIu64 " events stored twice (seed %" PRIu64 ")",
              figures->duplicates, seed);
    IH_CHECK (figures->foreign == 0, "events of unknown sites");
    //  Only requests in flight at an agent kill may be stored unconfirmed.
    IH_CHECK (figures->unconfirmed_stored <= figures->abandoned,
              "%" PRIu64 " events stored that were never confirmed, but only "
              "%" PRIu64 " were in flight at agent kills (seed %" PRIu64 ")",
              figures->unconfirmed_stored, figures->abandoned, seed);
    uint64_t events = ih_tk_log_check (data, NULL);
    IH_CHECK (events == figures->confirmed + figures->unconfirmed_stored,
              "log holds %" PRIu64 " events, %" PRIu64 " confirmed + %" PRIu64
              " unconfirmed",
              events, figures->confirmed, figures->unconfirmed_stored);
    char *err = NULL;
    int status = ih_tk_audit (self->dir, data, registry, NULL, &err);
    IH_CHECK (status == 0, "audit failed (%d): %s", status, err);
    free (err);
    return events;
}

void
ih_tkfleet_stop (ih_tkfleet_t *self)
{
    assert (self);
    for (int a = 0; a < self->size; a++) {
        s_pub_t *p = &self->pubs[a];
        zsock_destroy (&p->dealer);
        if (!p->agent)
            continue;
        ih_proc_signal (p->agent, SIGTERM);
        IH_CHECK (ih_proc_wait_exit (p->agent, 10000) == 0,
                  "agent %s did not stop", p->site.site);
        ih_proc_destroy (&p->agent);
    }
}

uint64_t
ih_tkfleet_seed (ih_tkfleet_t *self, const char *test)
{
    assert (self && test);
    const char *env = getenv ("IH_CHAOS_SEED");
    uint64_t seed = env ? strtoull (env, NULL, 10)
                        : (uint64_t) time (NULL) ^ ((uint64_t) getpid () << 20);
    self->rng = seed;
    printf ("%s: seed=%" PRIu64 " (replay: IH_CHAOS_SEED=%" PRIu64 ")\n", test,
            seed, seed);
    return seed;
}

uint64_t
ih_tkfleet_rand (ih_tkfleet_t *self)
{
    assert (self);
    uint64_t z = (self->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int64_t
ih_tkfleet_between (ih_tkfleet_t *self, int64_t low, int64_t high)
{
    assert (low <= high);
    return low +
           (int64_t) (ih_tkfleet_rand (self) % (uint64_t) (high - low + 1));
}

void
ih_tkfleet_test (bool verbose)
{
    if (verbose)
        printf (" * ih_tkfleet: ");
    //  No daemons: names, endpoints and the CONFIRM bookkeeping.
    const char *dir = ih_tk_tempdir ();
    char registry[512];
    snprintf (registry, sizeof registry, "%s/registry.json", dir);
    const char *districts[] = {"shinan", "pingdu"};
    ih_tkfleet_t *fleet = ih_tkfleet_new (dir, registry, districts, 2, 4, 10);
    IH_CHECK (streq (ih_tkfleet_site (fleet, 1), "pingdu-inc-02"), "name %s",
              ih_tkfleet_site (fleet, 1));
    IH_CHECK (strstr (ih_tkfleet_listen (fleet, 0), "/agent-0.sock"),
              "listen %s", ih_tkfleet_listen (fleet, 0));
    IH_CHECK (ih_tkfleet_agent (fleet, 0) == NULL, "agent before start");
    s_pub_t *p = &fleet->pubs[1];
    s_confirm (fleet, p, 1, 3);
    s_confirm (fleet, p, 4, 5);
    IH_CHECK (ih_tkfleet_confirmed (fleet, 1) == 2 && p->confirmed[4] == 5 &&
                  p->max_seq == 4,
              "bookkeeping");
    IH_CHECK (ih_tkfleet_confirmed (fleet, 0) == 0 &&
                  ih_tkfleet_abandoned (fleet, 0) == 0,
              "untouched publisher");
    //  The schedule replays from its seed.
    fleet->rng = 42;
    uint64_t first = ih_tkfleet_rand (fleet);
    int64_t second = ih_tkfleet_between (fleet, 10, 20);
    fleet->rng = 42;
    IH_CHECK (ih_tkfleet_rand (fleet) == first &&
                  ih_tkfleet_between (fleet, 10, 20) == second &&
                  second >= 10 && second <= 20,
              "PRNG does not replay");
    ih_tkfleet_destroy (&fleet);
    IH_CHECK (fleet == NULL, "destroy");
    if (verbose)
        printf ("OK\n");
}
