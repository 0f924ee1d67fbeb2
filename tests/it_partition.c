/*  =========================================================================
    it_partition - a flaky network between an agent and the hub

    The hub listens on tcp://127.0.0.1:*. Agent 0 reaches it through an
    in-process fault-injecting proxy (ih_proxy); agent 1 connects directly,
    as a control that the hub goes on serving others. The test publishes
    to both over their listen sockets (own DEALERs, pipelined, paced,
    recording every CONFIRM) while the proxy cycles through drop, stall,
    delay and pass phases of random lengths (seeded PRNG; IH_CHAOS_SEED=N
    replays a schedule) for IH_PARTITION_SECONDS (default 40), the last
    2 s always a drop. Then the link passes again, publishing stops, and
    agent 0 must catch up fully: every confirmed event in the log exactly
    once under its confirmed sequence, nothing stored twice, chains whole,
    `incuhub audit` passes. The catch-up time runs from the heal to both
    agents drained.
    =========================================================================*/
#include "ih_testkit.h"
#include "ih_json.h"
#include "ih_proxy.h"

#define S_FINAL_DROP 2000 //  ms of drop that end the partition
#define S_AGENTS 2        //  0 through the proxy, 1 direct
#define S_WINDOW 16       //  requests in flight per DEALER publisher
#define S_RATE 100        //  events per second per publisher, at most
#define S_MAX 20000       //  events per publisher, hard cap
#define S_ID(a, n) ((uint64_t) ((a) + 1) * 1000000 + (n))

static uint64_t s_rng;

//  splitmix64: a tiny PRNG whose whole state is the seed, so a schedule
//  replays from the printed number.
static uint64_t
s_rand (void)
{
    uint64_t z = (s_rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int64_t
s_between (int64_t low, int64_t high)
{
    return low + (int64_t) (s_rand () % (uint64_t) (high - low + 1));
}

typedef struct {
    char site[IH_NAME_MAX + 1];
    char listen[256];
    ih_proc_t *agent;
    zsock_t *dealer; //  DEALER publishers
    char args_key[512], args_outbox[512];
    uint64_t pending[S_WINDOW]; //  n of the requests in flight, oldest first
    size_t head, count;
    uint64_t sent;                 //  last n handed out
    uint64_t max_seq;              //  highest sequence confirmed
    uint64_t confirmed_n;          //  CONFIRMs received
    int64_t progress_at;           //  last CONFIRM (or start of waiting)
    uint64_t confirmed[S_MAX + 2]; //  seq -> n, 0 = not confirmed
    uint64_t logged[S_MAX + 2];    //  seq -> n found in the log
    uint8_t seen[S_MAX + 2];       //  n -> times found in the log
} s_pub_t;

static s_pub_t s_pubs[S_AGENTS];

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

static void
s_confirm (s_pub_t *pub, uint64_t seq, uint64_t n)
{
    IH_CHECK (seq > pub->max_seq && seq <= S_MAX + 1,
              "%s: seq %" PRIu64 " confirmed after %" PRIu64
              ": reused or out of order",
              pub->site, seq, pub->max_seq);
    pub->max_seq = seq;
    pub->confirmed[seq] = n;
    pub->confirmed_n++;
    pub->progress_at = ih_tk_now ();
}

//  Receives every CONFIRM waiting on a DEALER publisher.
static void
s_dealer_recv (s_pub_t *pub)
{
    while (zsock_events (pub->dealer) & ZMQ_POLLIN) {
        zmsg_t *reply = zmsg_recv (pub->dealer);
        IH_CHECK (reply, "%s: recv", pub->site);
        ih_wire_t wire;
        IH_CHECK (ih_wire_decode (reply, &wire) == IH_OK &&
                      wire.kind == IH_WIRE_CONFIRM,
                  "%s: expected CONFIRM, got kind %d code %s", pub->site,
                  wire.kind, ih_err_name (wire.code));
        IH_CHECK (pub->count > 0, "%s: CONFIRM with nothing in flight",
                  pub->site);
        s_confirm (pub, wire.seq, pub->pending[pub->head]);
        pub->head = (pub->head + 1) % S_WINDOW;
        pub->count--;
        zmsg_destroy (&reply);
    }
}

//  Sends up to the window and up to the pace allows.
static void
s_dealer_send (s_pub_t *pub, uint64_t allowed)
{
    while (pub->count < S_WINDOW && pub->sent < allowed && pub->sent < S_MAX) {
        if (pub->count == 0)
            pub->progress_at = ih_tk_now ();
        uint64_t n = ++pub->sent;
        zmsg_t *msg = s_publish_msg (S_ID (pub - s_pubs, n));
        IH_CHECK (zmsg_send (&msg, pub->dealer) == 0, "%s: send", pub->site);
        pub->pending[(pub->head + pub->count++) % S_WINDOW] = n;
    }
}

static void
s_agent_start (s_pub_t *pub, const char *dir, const char *ingest)
{
    const char *args[] = {"--site",   pub->site,   "--key",    pub->args_key,
                          "--hub",    ingest,      "--outbox", pub->args_outbox,
                          "--listen", pub->listen, NULL};
    pub->agent = ih_proc_start (dir, "incuhub-agent", args);
    char *line = ih_proc_wait_line (pub->agent, "incuhub-agent: ready", 20000);
    IH_CHECK (line, "agent %s not ready (see %s)", pub->site,
              ih_proc_stderr (pub->agent));
    free (line);
    pub->dealer = zsock_new_dealer (pub->listen);
    IH_CHECK (pub->dealer, "DEALER to %s", pub->listen);
    pub->head = pub->count = 0;
    pub->progress_at = ih_tk_now ();
}

static json_t *
s_status (const char *endpoint)
{
    zmsg_t *request = ih_wire_status_request ();
    ih_wire_t wire;
    zmsg_t *reply = ih_tk_request (endpoint, &request, &wire, 5000);
    IH_CHECK (reply, "no STATUS from %s", endpoint);
    json_t *status = json_loadb (wire.json, wire.json_size, 0, NULL);
    IH_CHECK (status, "STATUS from %s is not JSON", endpoint);
    zmsg_destroy (&reply);
    return status;
}

static json_int_t
s_int (json_t *status, const char *field)
{
    return json_integer_value (json_object_get (status, field));
}

typedef struct {
    uint64_t duplicates; //  a payload id stored more than once
    uint64_t foreign;    //  an event of a site the test does not know
} s_scan_t;

static int
s_scan (uint64_t hub_seq, uint64_t received, const uint8_t *bytes, size_t size,
        void *arg)
{
    (void) received;
    s_scan_t *scan = (s_scan_t *) arg;
    ih_event_t event;
    IH_CHECK (ih_event_decode (bytes, size, &event) == IH_OK,
              "hub_seq %" PRIu64 " does not decode", hub_seq);
    s_pub_t *pub = NULL;
    for (int a = 0; a < S_AGENTS; a++)
        if (streq (event.site, s_pubs[a].site))
            pub = &s_pubs[a];
    if (!pub) {
        scan->foreign++;
        return 0;
    }
    json_t *data;
    IH_CHECK (ih_json_from_msgpack (event.data, event.data_size, &data) ==
                  IH_OK,
              "hub_seq %" PRIu64 ": data", hub_seq);
    uint64_t id = (uint64_t) json_integer_value (json_object_get (data, "id"));
    json_decref (data);
    uint64_t n = id - S_ID (pub - s_pubs, 0);
    IH_CHECK (id > S_ID (pub - s_pubs, 0) && n <= S_MAX,
              "hub_seq %" PRIu64 ": site %s stored id %" PRIu64, hub_seq,
              event.site, id);
    IH_CHECK (event.seq <= S_MAX + 1, "hub_seq %" PRIu64 ": seq %" PRIu64,
              hub_seq, event.seq);
    if (pub->seen[n]++)
        scan->duplicates++;
    pub->logged[event.seq] = n;
    return 0;
}

int
main (void)
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    const char *env = getenv ("IH_CHAOS_SEED");
    uint64_t seed = env ? strtoull (env, NULL, 10)
                        : (uint64_t) time (NULL) ^ ((uint64_t) getpid () << 20);
    s_rng = seed;
    printf ("it_partition: seed=%" PRIu64 " (replay: IH_CHAOS_SEED=%" PRIu64
            ")\n",
            seed, seed);

    const char *dir = ih_tk_tempdir ();
    char data[512], registry[512], ingest[256], pub[256];
    snprintf (data, sizeof data, "%s/data", dir);
    snprintf (registry, sizeof registry, "%s/registry.json", dir);
    ih_proxy_test (false);
    const char *env_seconds = getenv ("IH_PARTITION_SECONDS");
    int64_t partition_ms =
        (env_seconds ? atoi (env_seconds) : 40) * (int64_t) 1000;
    IH_CHECK (partition_ms > 0, "bad IH_PARTITION_SECONDS");
    snprintf (pub, sizeof pub, "ipc://%s/pub.sock", dir);
    const char *districts[S_AGENTS] = {"jiaozhou", "huangdao"};
    ih_tk_site_t sites[S_AGENTS];
    for (int a = 0; a < S_AGENTS; a++) {
        s_pub_t *p = &s_pubs[a];
        snprintf (p->site, sizeof p->site, "%s-inc-%02d", districts[a], a + 1);
        ih_tk_site_init (&sites[a], dir, registry, p->site, "incubator",
                         districts[a]);
    }
    int64_t started = ih_tk_now ();
    ih_proc_t *hub = ih_tk_hub_start (dir, data, registry, "tcp://127.0.0.1:*",
                                      pub, ingest, NULL);
    const char *colon = strrchr (ingest, ':');
    IH_CHECK (strncmp (ingest, "tcp://", 6) == 0 && colon, "hub ingest is '%s'",
              ingest);
    ih_proxy_t *proxy = ih_proxy_new ("127.0.0.1", atoi (colon + 1));
    IH_CHECK (proxy, "ih_proxy_new");
    char proxied[256];
    snprintf (proxied, sizeof proxied, "tcp://127.0.0.1:%d",
              ih_proxy_port (proxy));
    for (int a = 0; a < S_AGENTS; a++) {
        s_pub_t *p = &s_pubs[a];
        snprintf (p->args_key, sizeof p->args_key, "%s/%.*s.key", dir,
                  IH_NAME_MAX, sites[a].site);
        snprintf (p->args_outbox, sizeof p->args_outbox, "%s/outbox-%d", dir,
                  a);
        snprintf (p->listen, sizeof p->listen, "ipc://%s/agent-%d.sock", dir,
                  a);
        s_agent_start (p, dir, a == 0 ? proxied : ingest);
    }

    //  Load while the link misbehaves: phases of 0.5 to 4 s in the order
    //  drop, stall, delay, pass, over and over. Agent 0's backlog is
    //  sampled to show the partition bit.
    static const ih_proxy_mode_t cycle[] = {IH_PROXY_DROP, IH_PROXY_STALL,
                                            IH_PROXY_DELAY, IH_PROXY_PASS};
    int phases = 0;
    json_int_t backlog_max = 0;
    int64_t load_start = ih_tk_now ();
    int64_t phase_end = load_start + s_between (500, 2000);
    int64_t sample_at = load_start;
    while (ih_tk_now () - load_start < partition_ms) {
        int64_t now = ih_tk_now ();
        if (now >= phase_end) {
            //  The last S_FINAL_DROP ms are always a drop, so that the
            //  catch-up time measures a reconnect and a resend.
            bool final = now - load_start >= partition_ms - S_FINAL_DROP;
            ih_proxy_mode_t mode = final ? IH_PROXY_DROP : cycle[phases % 4];
            phases++;
            int delay = (int) s_between (10, 400);
            ih_proxy_set_mode (proxy, mode, delay);
            phase_end = now + s_between (500, 4000);
            if (final)
                phase_end = load_start + partition_ms;
            else if (phase_end > load_start + partition_ms - S_FINAL_DROP)
                phase_end = load_start + partition_ms - S_FINAL_DROP;
            printf ("it_partition: t=%" PRId64 "ms %s for %" PRId64 "ms%s\n",
                    now - load_start, ih_proxy_mode_name (mode),
                    phase_end - now,
                    mode == IH_PROXY_DELAY ? " with latency" : "");
            if (mode == IH_PROXY_DELAY)
                printf ("it_partition:   latency %d ms per chunk\n", delay);
        }
        if (now >= sample_at) {
            json_t *status = s_status (s_pubs[0].listen);
            if (s_int (status, "backlog") > backlog_max)
                backlog_max = s_int (status, "backlog");
            json_decref (status);
            sample_at = now + 250;
        }
        uint64_t allowed =
            (uint64_t) ((ih_tk_now () - load_start) * S_RATE / 1000) + 1;
        zmq_pollitem_t items[S_AGENTS];
        int nitems = 0;
        for (int a = 0; a < S_AGENTS; a++) {
            s_pub_t *p = &s_pubs[a];
            s_dealer_send (p, allowed);
            items[nitems++] =
                (zmq_pollitem_t){zsock_resolve (p->dealer), 0, ZMQ_POLLIN, 0};
        }
        zmq_poll (items, nitems, 5);
        for (int a = 0; a < S_AGENTS; a++) {
            s_pub_t *p = &s_pubs[a];
            s_dealer_recv (p);
            bool waiting = p->count > 0;
            IH_CHECK (!waiting || ih_tk_now () - p->progress_at < 15000,
                      "agent %s confirmed nothing for 15 s (see %s)", p->site,
                      ih_proc_stderr (p->agent));
        }
    }
    int64_t load_ms = ih_tk_now () - load_start;
    ih_proxy_set_mode (proxy, IH_PROXY_PASS, 0);
    int64_t healed = ih_tk_now ();
    uint64_t during = s_pubs[0].confirmed_n;

    //  Stop publishing: collect what is in flight.
    int64_t deadline = ih_tk_now () + 60000;
    bool busy = true;
    while (busy) {
        IH_CHECK (ih_tk_now () < deadline, "publishers do not finish");
        busy = false;
        for (int a = 0; a < S_AGENTS; a++) {
            s_pub_t *p = &s_pubs[a];
            if (p->count) {
                zmq_pollitem_t item = {zsock_resolve (p->dealer), 0, ZMQ_POLLIN,
                                       0};
                zmq_poll (&item, 1, 10);
                s_dealer_recv (p);
            }
            busy |= p->count > 0;
        }
    }
    //  Drain: every agent's backlog to 0, connected, nothing in flight.
    int64_t drain_start = ih_tk_now ();
    deadline = drain_start + 60000;
    for (int a = 0; a < S_AGENTS; a++) {
        s_pub_t *p = &s_pubs[a];
        while (true) {
            json_t *status = s_status (p->listen);
            bool done =
                s_int (status, "backlog") == 0 &&
                s_int (status, "in_flight") == 0 &&
                json_is_true (json_object_get (status, "connected")) &&
                s_int (status, "acked") == s_int (status, "next_seq") - 1;
            char *text = json_dumps (status, JSON_COMPACT);
            json_decref (status);
            if (!done && ih_tk_now () >= deadline)
                IH_CHECK (false, "agent %s is stuck: %s (see %s)", p->site,
                          text, ih_proc_stderr (p->agent));
            free (text);
            if (done)
                break;
            zclock_sleep (20); //  polling interval of the condition
        }
    }
    int64_t drain_ms = ih_tk_now () - drain_start;
    int64_t catch_up_ms = ih_tk_now () - healed;

    //  The log against what was confirmed.
    s_scan_t scan = {0, 0};
    ih_log_t *log = ih_log_new (data, true, 0);
    IH_CHECK (log, "open log");
    IH_CHECK (ih_log_read (log, 1, 0, s_scan, &scan) == IH_OK, "read log");
    ih_log_destroy (&log);
    uint64_t confirmed = 0, lost = 0, unconfirmed_stored = 0;
    for (int a = 0; a < S_AGENTS; a++) {
        s_pub_t *p = &s_pubs[a];
        confirmed += p->confirmed_n;
        for (uint64_t seq = 1; seq <= S_MAX + 1; seq++) {
            if (p->confirmed[seq] && p->logged[seq] != p->confirmed[seq]) {
                if (lost < 10)
                    fprintf (stderr,
                             "  lost: %s seq=%" PRIu64 " confirmed n=%" PRIu64
                             " log has n=%" PRIu64 "\n",
                             p->site, seq, p->confirmed[seq], p->logged[seq]);
                lost++;
            }
            if (!p->confirmed[seq] && p->logged[seq])
                unconfirmed_stored++;
        }
    }
    printf ("it_partition: partition_ms=%" PRId64 " phases=%d"
            " events_during_partition=%" PRIu64 " (proxied agent)"
            " events_confirmed=%" PRIu64 " backlog_max=%lld"
            " proxy_connections=%" PRIu64 " catch_up_ms=%" PRId64
            " events_lost=%" PRIu64 " duplicates_stored=%" PRIu64 "\n",
            load_ms, phases, during, confirmed, (long long) backlog_max,
            ih_proxy_accepted (proxy), catch_up_ms, lost, scan.duplicates);
    (void) drain_ms;
    IH_CHECK (lost == 0, "%" PRIu64 " confirmed events lost (seed %" PRIu64 ")",
              lost, seed);
    IH_CHECK (scan.duplicates == 0,
              "%" PRIu64 " events stored twice (seed %" PRIu64 ")",
              scan.duplicates, seed);
    IH_CHECK (scan.foreign == 0, "events of unknown sites");
    IH_CHECK (unconfirmed_stored == 0,
              "%" PRIu64 " events stored that were never confirmed",
              unconfirmed_stored);
    uint64_t events = ih_tk_log_check (data, NULL);
    IH_CHECK (events == confirmed,
              "log holds %" PRIu64 " events, %" PRIu64 " confirmed", events,
              confirmed);
    const char *audit[] = {"audit",      "--data", data,
                           "--registry", registry, NULL};
    char *out = NULL, *err = NULL;
    int status = ih_tk_run (dir, "incuhub", audit, NULL, &out, &err, 60000);
    IH_CHECK (status == 0, "audit failed (%d): %s", status, err);
    free (out);
    free (err);

    for (int a = 0; a < S_AGENTS; a++) {
        s_pub_t *p = &s_pubs[a];
        zsock_destroy (&p->dealer);
        ih_proc_signal (p->agent, SIGTERM);
        IH_CHECK (ih_proc_wait_exit (p->agent, 10000) == 0,
                  "agent %s did not stop", p->site);
        ih_proc_destroy (&p->agent);
        ih_tk_site_fini (&sites[a]);
    }
    ih_proc_signal (hub, SIGTERM);
    IH_CHECK (ih_proc_wait_exit (hub, 10000) == 0, "hub did not stop");
    ih_proc_destroy (&hub);
    ih_tk_cleanup ();
    ih_proxy_destroy (&proxy);
    printf ("it_partition: OK (%" PRIu64 " events, %d phases, %" PRId64
            " ms total)\n",
            events, phases, ih_tk_now () - started);
    return 0;
}
