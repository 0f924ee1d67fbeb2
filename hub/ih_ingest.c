/*  =========================================================================
    ih_ingest - the hub's ingest and store actor

    Where it sits: between the agents (DEALER sockets, connected to our
    ROUTER) and the log (ih_log), with the publisher (ih_publish) after it.

    The batch cycle, and why it is safe:
      1. When the ROUTER is readable, take up to batch_max messages that
         are already queued (ZMQ_EVENTS says so; we never block inside a
         batch). Under load a batch holds many events; idle, it holds one.
      2. For each message: decode the frames, decode the event, find the
         site (reloading the registry once if unknown), verify the
         signature, then append it in the batch's write transaction.
         Every outcome becomes a queued reply, in arrival order.
      3. Commit. Only if the commit returned IH_OK are the queued ACKs
         sent and the new events published; the commit has fsynced them
         (see the essay in ih_log.c). If it failed (map full, disk error)
         every event that reached the log in this batch is NAKed with that
         code instead, and nothing is published.
      4. Send the queued replies in order (ACKs, NAKs and STATUS answers).
    So an ACK always follows the commit of its event, a duplicate is ACKed
    again with its original hub_seq, and replies to peers that went away
    are dropped (ROUTER_MANDATORY off) rather than blocking the hub.
    Nothing here asserts on input: every bad message gets a NAK.

    Checkpoints (docs/protocol.md section 11): with the hub's own key
    (KEY), the log's Merkle tree is checked against the records and the
    latest signed checkpoint at START, and a hub whose log does not match
    refuses to start. Then, when a batch brings the log checkpoint_events
    or more past the last checkpoint, a checkpoint of the new size is
    signed and stored inside that batch (it commits with the events it
    covers); when events were stored but checkpoint_ms passed without a
    checkpoint, one is made from the poll loop in its own transaction. The
    poll timeout is the time left to that deadline, so an idle hub sleeps.
    =========================================================================*/
#include <czmq.h>
#include <jansson.h>
#include "ih_checkpoint.h"
#include "ih_ingest.h"
#include "ih_log.h"
#include "ih_publish.h"
#include "ih_registry.h"
#include "ih_wire.h"

typedef enum { S_REPLY_ACK, S_REPLY_NAK, S_REPLY_STATUS } s_reply_t;

//  One received message and the reply it will get after the commit.
typedef struct {
    zframe_t *identity; //  peer routing id (owned)
    zmsg_t *msg;        //  the message; owns the event bytes
    s_reply_t reply;
    ih_err_t code; //  NAK code
    bool appended; //  reached ih_log_append (fate tied to commit)
    bool stored;   //  newly appended: publish after commit
    char site[IH_NAME_MAX + 1];
    char type[IH_NAME_MAX + 1];
    char district[IH_NAME_MAX + 1];
    uint64_t seq;
    uint64_t hub_seq;
    uint64_t expected;
    uint64_t received;
    const uint8_t *event; //  into msg
    size_t event_size;
    int64_t skew; //  received - event ts, ms (stored events only)
} s_item_t;

//  Rate limit of NAK log lines, per error code.
typedef struct {
    int64_t window;      //  second (monotonic) of the current window
    unsigned lines;      //  lines logged in it
    unsigned suppressed; //  lines not logged in it
} s_limit_t;

//  Clock skew seen from one site: received - event ts, in ms. The hub
//  orders by hub_seq only; skew is reported (STATUS, log) so an operator
//  can fix a site's clock, and is never trusted for anything.
typedef struct {
    int64_t last;    //  skew of the site's last stored event
    int64_t max_abs; //  largest |skew| seen since start
    bool warned;     //  logged since it last went over the limit
} s_skew_t;

typedef struct {
    zsock_t *pipe;           //  to the caller
    zpoller_t *poller;       //  pipe, and router once started
    zsock_t *router;         //  ingest socket
    ih_publish_t *publish;   //  PUB socket
    ih_log_t *log;           //  the store; only this thread writes
    ih_registry_t *registry; //  known sites
    char *data;              //  data directory, for STATUS
    size_t batch_max;        //  messages per batch
    s_item_t *items;         //  the batch's replies, batch_max of them
    size_t nitems;
    bool batch_open;       //  ih_log_begin done for this batch
    ih_err_t batch_failed; //  storage error that dooms the batch
    s_limit_t limits[IH_E_ERR_MAX + 1];
    int64_t started;     //  zclock_mono at START
    uint64_t commits;    //  batches committed: events / commits shows grouping
    size_t map_max;      //  grow a full map up to this many bytes; 0 = never
    size_t pub_hwm;      //  SNDHWM of the PUB socket; 0 = IH_PUBLISH_SNDHWM
    zhashx_t *skews;     //  site id -> s_skew_t, for sites seen since start
    ih_key_t *key;       //  the hub's own key (with secret), or NULL
    uint64_t cp_events;  //  checkpoint after this many new events
    uint64_t cp_ms;      //  ... or this long after an unchecked event
    uint64_t cp_size;    //  tree size of the latest checkpoint
    uint64_t cp_time;    //  its time, ms since epoch (0: none yet)
    int64_t cp_deadline; //  zclock_mono when a timed one is due, or 0
    bool verbose;
    bool terminated;
} s_self_t;

static s_self_t *
s_self_new (zsock_t *pipe)
{
    s_self_t *self = (s_self_t *) zmalloc (sizeof (s_self_t));
    assert (self);
    self->pipe = pipe;
    self->poller = zpoller_new (pipe, NULL);
    assert (self->poller);
    //  Ends only on $TERM, never on a signal by itself: the replay actor
    //  reads this actor's log, and main destroys it first
    zpoller_set_nonstop (self->poller, true);
    self->skews = zhashx_new ();
    assert (self->skews);
    zhashx_set_destructor (self->skews, (zhashx_destructor_fn *) zstr_free);
    self->cp_events = IH_INGEST_CHECKPOINT_EVENTS;
    self->cp_ms = IH_INGEST_CHECKPOINT_MS;
    return self;
}

static void
s_self_destroy (s_self_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        s_self_t *self = *self_p;
        zpoller_destroy (&self->poller);
        zsock_destroy (&self->router);
        ih_publish_destroy (&self->publish);
        ih_log_destroy (&self->log);
        ih_registry_destroy (&self->registry);
        zhashx_destroy (&self->skews);
        ih_key_destroy (&self->key);
        free (self->items);
        zstr_free (&self->data);
        free (self);
        *self_p = NULL;
    }
}

//  Parses a decimal size in [min, max]. Returns 0 or -1.
static int
s_parse_size (const char *text, size_t min, size_t max, size_t *value_p)
{
    if (!text || !*text || *text == '-' || *text == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long value = strtoull (text, &end, 10);
    if (errno || *end || value < min || value > max)
        return -1;
    *value_p = (size_t) value;
    return 0;
}

//  START: on failure, replies -1 and a reason, and leaves self unstarted.
static void
s_start (s_self_t *self, zmsg_t *request)
{
    char *data = zmsg_popstr (request);
    char *registry = zmsg_popstr (request);
    char *ingest = zmsg_popstr (request);
    char *pub = zmsg_popstr (request);
    char *map_text = zmsg_popstr (request);
    char *batch_text = zmsg_popstr (request);
    char *reason = NULL;
    size_t map_size = 0, batch_max = 0;

    if (self->router)
        reason = strdup ("already started");
    else if (!data || !registry || !ingest || !pub || !map_text ||
             !batch_text || zmsg_size (request) != 0)
        reason = strdup ("START needs six arguments");
    else if (s_parse_size (map_text, 0, SIZE_MAX, &map_size))
        reason = zsys_sprintf ("bad map size '%s'", map_text);
    else if (s_parse_size (batch_text, 1, IH_INGEST_BATCH_MAX, &batch_max))
        reason = zsys_sprintf ("bad batch size '%s'", batch_text);
    if (reason)
        goto cleanup;

    ih_err_t err = ih_registry_load (registry, &self->registry);
    if (err != IH_OK) {
        reason = zsys_sprintf ("cannot load registry %s: %s", registry,
                               ih_strerror (err));
        goto cleanup;
    }
    //  The log is opened here, in the actor's thread, which is the only
    //  one that ever begins a write transaction on it
    self->log = ih_log_new (data, false, map_size);
    if (!self->log) {
        reason = zsys_sprintf ("cannot open log in %s (see log)", data);
        goto cleanup;
    }
    if (self->key) {
        //  A log that does not match its own tree or signed checkpoints
        //  was changed behind the hub's back: refuse to serve it
        uint64_t bad = 0;
        char *why = NULL;
        err = ih_log_verify (self->log, self->key, &bad, &why);
        if (err != IH_OK) {
            reason = why ? zsys_sprintf ("log verification failed at "
                                         "hub_seq=%" PRIu64 ": %s",
                                         bad, why)
                         : zsys_sprintf ("cannot verify the log in %s: %s",
                                         data, ih_strerror (err));
            zstr_free (&why);
            goto cleanup;
        }
        uint8_t latest[IH_CHECKPOINT_MAX];
        size_t latest_size;
        ih_checkpoint_t checkpoint;
        if (ih_log_checkpoint (self->log, 0, latest, &latest_size) == IH_OK &&
            ih_checkpoint_decode (latest, latest_size, &checkpoint) == IH_OK) {
            self->cp_size = checkpoint.size;
            self->cp_time = checkpoint.time;
        }
    } else
        zsys_warning ("ingest: no hub key: the log's Merkle tree is kept but "
                      "no checkpoints are signed");
    self->router = zsock_new (ZMQ_ROUTER);
    assert (self->router);
    //  Frames up to IH_INGEST_FRAME_MAX reach us and an oversize one gets
    //  a NAK (IH_E_TOOBIG) from ih_wire; a larger frame makes libzmq drop
    //  the connection before buffering it, which bounds our memory
    zsock_set_maxmsgsize (self->router, IH_INGEST_FRAME_MAX);
    //  Replies to peers that are gone are dropped, never block or fail
    zsock_set_router_mandatory (self->router, 0);
    //  An agent that reconnects with the same identity takes over
    zsock_set_router_handover (self->router, 1);
    //  Room for many batches of replies to an agent that sends a long
    //  burst before reading; beyond it replies are dropped and the agent
    //  resends (and gets a duplicate ACK)
    zsock_set_sndhwm (self->router, IH_INGEST_REPLY_HWM);
    if (zsock_bind (self->router, "%s", ingest) == -1) {
        reason = zsys_sprintf ("cannot bind %s: %s", ingest,
                               zmq_strerror (zmq_errno ()));
        goto cleanup;
    }
    self->publish = ih_publish_new_hwm (pub, self->pub_hwm ? (int) self->pub_hwm
                                                           : IH_PUBLISH_SNDHWM);
    if (!self->publish) {
        reason = zsys_sprintf ("cannot bind %s", pub);
        goto cleanup;
    }
    self->items = (s_item_t *) calloc (batch_max, sizeof (s_item_t));
    assert (self->items);
    self->batch_max = batch_max;
    self->data = strdup (data);
    self->started = zclock_mono ();
    zpoller_add (self->poller, self->router);

    char *bound = zsock_last_endpoint (self->router);
    uint64_t events, bytes, sites;
    ih_log_stats (self->log, &events, &bytes, &sites);
    zsys_notice ("ingest: started data=%s events=%" PRIu64
                 " last_hub_seq=%" PRIu64 " registry=%s sites=%zu"
                 " checkpoint=%" PRIu64,
                 data, events, ih_log_last (self->log), registry,
                 ih_registry_size (self->registry), self->cp_size);
    if (self->key && ih_log_last (self->log) > self->cp_size)
        self->cp_deadline = zclock_mono (); //  cover the tail at once
    zsock_send (self->pipe, "iss", 0, bound,
                ih_publish_endpoint (self->publish));
    zstr_free (&bound);

cleanup:
    if (reason) {
        zsys_error ("ingest: START failed: %s", reason);
        zsock_destroy (&self->router);
        ih_publish_destroy (&self->publish);
        ih_log_destroy (&self->log);
        ih_registry_destroy (&self->registry);
        zsock_send (self->pipe, "iss", -1, reason, "");
        zstr_free (&reason);
    }
    zstr_free (&data);
    zstr_free (&registry);
    zstr_free (&ingest);
    zstr_free (&pub);
    zstr_free (&map_text);
    zstr_free (&batch_text);
}

static void
s_handle_pipe (s_self_t *self)
{
    zmsg_t *request = zmsg_recv (self->pipe);
    if (!request) {
        self->terminated = true; //  interrupted
        return;
    }
    char *command = zmsg_popstr (request);
    assert (command); //  the pipe is ours: a frameless message is a bug
    if (streq (command, "$TERM"))
        self->terminated = true;
    else if (streq (command, "START"))
        s_start (self, request);
    else if (streq (command, "PUBHWM")) {
        char *value = zmsg_popstr (request);
        assert (value);
        self->pub_hwm = (size_t) strtoull (value, NULL, 10);
        zstr_free (&value);
        zsock_signal (self->pipe, 0);
    } else if (streq (command, "MAPMAX")) {
        char *value = zmsg_popstr (request);
        assert (value);
        self->map_max = (size_t) strtoull (value, NULL, 10);
        zstr_free (&value);
        zsock_signal (self->pipe, 0);
    } else if (streq (command, "KEY")) {
        char *path = zmsg_popstr (request);
        assert (path);
        ih_key_t *key = NULL;
        ih_err_t err = ih_key_load (path, &key);
        if (err == IH_OK && !ih_key_has_secret (key)) {
            zsys_error ("ingest: hub key %s has no secret part", path);
            ih_key_destroy (&key);
        } else if (err != IH_OK)
            zsys_error ("ingest: cannot load hub key %s: %s", path,
                        ih_strerror (err));
        if (key) {
            ih_key_destroy (&self->key);
            self->key = key;
        }
        zstr_free (&path);
        zsock_signal (self->pipe, key ? 0 : (byte) -1);
    } else if (streq (command, "CHECKPOINT")) {
        char *events = zmsg_popstr (request);
        char *ms = zmsg_popstr (request);
        assert (events && ms);
        self->cp_events = strtoull (events, NULL, 10);
        self->cp_ms = strtoull (ms, NULL, 10);
        if (self->cp_events == 0)
            self->cp_events = 1;
        zstr_free (&events);
        zstr_free (&ms);
        zsock_signal (self->pipe, 0);
    } else if (streq (command, "LOG"))
        zsock_send (self->pipe, "p", (void *) self->log);
    else if (streq (command, "VERBOSE"))
        self->verbose = true;
    else {
        zsys_error ("ingest: invalid pipe command '%s'", command);
        assert (false);
    }
    zstr_free (&command);
    zmsg_destroy (&request);
}

//  Logs a NAK, at most IH_INGEST_LOG_RATE lines per second per code.
static void
s_log_nak (s_self_t *self, const s_item_t *item)
{
    s_limit_t *limit = &self->limits[item->code];
    int64_t now = zclock_mono () / 1000;
    if (now != limit->window) {
        if (limit->suppressed)
            zsys_warning ("ingest: suppressed %u NAK lines err=%s",
                          limit->suppressed, ih_err_name (item->code));
        limit->window = now;
        limit->lines = 0;
        limit->suppressed = 0;
    }
    if (limit->lines >= IH_INGEST_LOG_RATE) {
        limit->suppressed++;
        return;
    }
    limit->lines++;
    if (item->code == IH_E_STORE || item->code == IH_E_FULL)
        zsys_error ("ingest: NAK site=%s seq=%" PRIu64 " err=%s",
                    item->site[0] ? item->site : "-", item->seq,
                    ih_err_name (item->code));
    else if (item->expected)
        zsys_warning ("ingest: NAK site=%s seq=%" PRIu64
                      " err=%s expected=%" PRIu64,
                      item->site[0] ? item->site : "-", item->seq,
                      ih_err_name (item->code), item->expected);
    else
        zsys_warning ("ingest: NAK site=%s seq=%" PRIu64 " err=%s",
                      item->site[0] ? item->site : "-", item->seq,
                      ih_err_name (item->code));
}

//  Logs the summary of windows that ended (all of them if final) with
//  suppressed lines. Returns true if some window still has lines to report.
static bool
s_flush_limits (s_self_t *self, bool final)
{
    int64_t now = final ? -1 : zclock_mono () / 1000;
    bool pending = false;
    for (int code = 0; code <= IH_E_ERR_MAX; code++) {
        s_limit_t *limit = &self->limits[code];
        if (!limit->suppressed)
            continue;
        if (now != limit->window) {
            zsys_warning ("ingest: suppressed %u NAK lines err=%s",
                          limit->suppressed, ih_err_name ((ih_err_t) code));
            limit->suppressed = 0;
            limit->lines = 0;
            limit->window = now;
        } else
            pending = true;
    }
    return pending;
}

static void
s_nak (s_item_t *item, ih_err_t code)
{
    item->reply = S_REPLY_NAK;
    item->code = code;
}

//  Decodes, checks and appends one EVENT; sets item's reply.
static void
s_ingest_event (s_self_t *self, s_item_t *item, const ih_wire_t *wire)
{
    item->event = wire->event;
    item->event_size = wire->event_size;
    ih_event_t event;
    ih_err_t err = ih_event_decode (wire->event, wire->event_size, &event);
    if (err != IH_OK) {
        s_nak (item, err);
        return;
    }
    memcpy (item->site, event.site, sizeof (item->site));
    memcpy (item->type, event.type, sizeof (item->type));
    item->seq = event.seq;

    const ih_site_t *site = ih_registry_lookup (self->registry, event.site);
    if (!site && ih_registry_refresh (self->registry))
        site = ih_registry_lookup (self->registry, event.site);
    if (!site) {
        s_nak (item, IH_E_UNKNOWN_SITE);
        return;
    }
    //  Copied: a later refresh in this batch may free the site
    memcpy (item->district, site->district, sizeof (item->district));
    err = ih_event_verify (wire->event, wire->event_size, site->key);
    if (err == IH_E_BADSIG && ih_registry_refresh (self->registry)) {
        //  The registry file changed (a key replaced): try the new key
        site = ih_registry_lookup (self->registry, event.site);
        if (!site) {
            s_nak (item, IH_E_UNKNOWN_SITE);
            return;
        }
        memcpy (item->district, site->district, sizeof (item->district));
        err = ih_event_verify (wire->event, wire->event_size, site->key);
    }
    if (err != IH_OK) {
        s_nak (item, err);
        return;
    }
    if (self->batch_failed == IH_OK && !self->batch_open) {
        err = ih_log_begin (self->log);
        if (err == IH_OK)
            self->batch_open = true;
        else
            self->batch_failed = IH_E_STORE;
    }
    if (self->batch_failed != IH_OK) {
        item->appended = true;
        s_nak (item, self->batch_failed);
        return;
    }
    err = ih_log_append (self->log, &event, wire->event, wire->event_size,
                         item->received, &item->hub_seq, &item->expected);
    if (err == IH_OK) {
        item->appended = true;
        item->reply = S_REPLY_ACK;
        item->stored = true;
        item->skew = (int64_t) item->received - (int64_t) event.ts;
    } else if (err == IH_E_DUPLICATE) {
        //  ACKed again with its original hub_seq; if the duplicate's
        //  original is in this batch, its fate is this batch's commit
        item->appended = true;
        item->reply = S_REPLY_ACK;
    } else {
        if (err == IH_E_FULL || err == IH_E_STORE) {
            item->appended = true;
            self->batch_failed = err;
        }
        s_nak (item, err);
    }
}

//  Receives one message into the next item and works out its reply.
static void
s_receive (s_self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return;
    s_item_t *item = &self->items[self->nitems];
    memset (item, 0, sizeof (*item));
    item->identity = zmsg_pop (msg);
    if (!item->identity) {
        zmsg_destroy (&msg);
        return;
    }
    item->msg = msg;
    item->received = ih_event_now ();
    self->nitems++;

    if (zmsg_content_size (msg) > IH_WIRE_MAX) {
        s_nak (item, IH_E_TOOBIG);
        return;
    }
    ih_wire_t wire;
    ih_err_t err = ih_wire_decode (msg, &wire);
    if (err != IH_OK)
        s_nak (item, err);
    else if (wire.kind == IH_WIRE_STATUS && wire.json_size == 0)
        item->reply = S_REPLY_STATUS;
    else if (wire.kind == IH_WIRE_EVENT)
        s_ingest_event (self, item, &wire);
    else
        s_nak (item, IH_E_COMMAND); //  a message only the hub sends
}

//  Records a stored event's clock skew; logs once when a site's clock goes
//  beyond IH_INGEST_SKEW_WARN, and again only after it came back.
static void
s_note_skew (s_self_t *self, const s_item_t *item)
{
    s_skew_t *skew = (s_skew_t *) zhashx_lookup (self->skews, item->site);
    if (!skew) {
        skew = (s_skew_t *) zmalloc (sizeof (s_skew_t));
        assert (skew);
        zhashx_insert (self->skews, item->site, skew);
    }
    int64_t magnitude = item->skew < 0 ? -item->skew : item->skew;
    skew->last = item->skew;
    if (magnitude > skew->max_abs)
        skew->max_abs = magnitude;
    if (magnitude > IH_INGEST_SKEW_WARN && !skew->warned) {
        zsys_warning ("ingest: clock skew site=%s seq=%" PRIu64
                      " skew_ms=%" PRId64
                      " (event time not trusted; order is hub_seq)",
                      item->site, item->seq, item->skew);
        skew->warned = true;
    } else if (magnitude <= IH_INGEST_SKEW_WARN)
        skew->warned = false;
}

//  {"site": {"last_ms": N, "max_abs_ms": N, "off": bool}, ...}
static json_t *
s_skew_json (s_self_t *self)
{
    json_t *skews = json_object ();
    assert (skews);
    for (s_skew_t *skew = (s_skew_t *) zhashx_first (self->skews); skew;
         skew = (s_skew_t *) zhashx_next (self->skews)) {
        const char *site = (const char *) zhashx_cursor (self->skews);
        json_object_set_new (skews, site,
                             json_pack ("{s:I, s:I, s:b}", "last_ms",
                                        (json_int_t) skew->last, "max_abs_ms",
                                        (json_int_t) skew->max_abs, "off",
                                        skew->warned));
    }
    return skews;
}

static zmsg_t *
s_status_reply (s_self_t *self)
{
    uint64_t events, bytes, sites;
    ih_log_stats (self->log, &events, &bytes, &sites);
    //  A path need not be UTF-8; JSON strings must be
    json_t *data = json_string (self->data);
    if (!data)
        data = json_string ("(not UTF-8)");
    json_t *checkpoint =
        self->cp_time
            ? json_pack ("{s:I, s:I}", "size", (json_int_t) self->cp_size,
                         "time", (json_int_t) self->cp_time)
            : json_null ();
    json_t *status = json_pack (
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:I, s:o}", "events",
        (json_int_t) events, "last_hub_seq",
        (json_int_t) ih_log_last (self->log), "bytes", (json_int_t) bytes,
        "sites", (json_int_t) sites, "registry_sites",
        (json_int_t) ih_registry_size (self->registry), "uptime_ms",
        (json_int_t) (zclock_mono () - self->started), "commits",
        (json_int_t) self->commits, "data", data, "skew", s_skew_json (self),
        "tree_size", (json_int_t) ih_log_last (self->log), "checkpoint",
        checkpoint);
    assert (status);
    char *text = json_dumps (status, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert (text);
    json_decref (status);
    zmsg_t *reply = ih_wire_status_reply (text);
    free (text);
    return reply;
}

//  Signs a checkpoint of the tree of size with root and stores it (in the
//  open batch if there is one). Returns IH_OK or the storage error.
static ih_err_t
s_checkpoint (s_self_t *self, uint64_t size, const uint8_t *root,
              uint64_t *time_p)
{
    uint8_t signed_cp[IH_CHECKPOINT_MAX];
    size_t signed_size;
    *time_p = ih_event_now ();
    ih_err_t err = ih_checkpoint_sign (size, root, *time_p, self->key,
                                       signed_cp, &signed_size);
    if (err == IH_OK)
        err = ih_log_put_checkpoint (self->log, signed_cp, signed_size);
    if (err != IH_OK)
        zsys_error ("ingest: checkpoint size=%" PRIu64 " not stored: %s", size,
                    ih_err_name (err));
    return err;
}

//  Ends the open batch: commits it, or aborts it if it already failed.
//  When the batch brings the log cp_events past the last checkpoint, signs
//  a checkpoint of the new size inside it, so both commit together.
static ih_err_t
s_commit (s_self_t *self)
{
    ih_err_t err = self->batch_failed;
    if (self->batch_open) {
        uint64_t size = 0, cp_time = 0;
        bool signed_cp = false;
        uint8_t root[IH_HASH_SIZE];
        if (err == IH_OK && self->key &&
            ih_log_batch_root (self->log, &size, root) == IH_OK &&
            size >= self->cp_size + self->cp_events) {
            err = s_checkpoint (self, size, root, &cp_time);
            signed_cp = err == IH_OK;
            //  A checkpoint that could not be signed must not cost the
            //  batch its events; the timed checkpoint tries again. A store
            //  error has poisoned the transaction: the batch fails (and a
            //  full map may grow and retry)
            if (err != IH_OK && err != IH_E_FULL && err != IH_E_STORE)
                err = IH_OK;
        }
        if (err == IH_OK) {
            err = ih_log_commit (self->log);
            if (err == IH_OK)
                self->commits++;
        } else
            ih_log_abort (self->log);
        if (err == IH_OK && signed_cp) {
            self->cp_size = size;
            self->cp_time = cp_time;
            self->cp_deadline = 0;
        }
    }
    self->batch_open = false;
    if (err == IH_OK && self->key && !self->cp_deadline &&
        ih_log_last (self->log) > self->cp_size)
        self->cp_deadline = zclock_mono () + (int64_t) self->cp_ms;
    return err;
}

//  The timed checkpoint: events were stored cp_ms ago and none covers
//  them yet. Signs the committed tree in a transaction of its own.
static void
s_checkpoint_if_due (s_self_t *self, bool now)
{
    if (!self->cp_deadline || (!now && zclock_mono () < self->cp_deadline))
        return;
    self->cp_deadline = 0;
    uint64_t size = ih_log_last (self->log), cp_time;
    uint8_t root[IH_HASH_SIZE];
    if (size <= self->cp_size)
        return;
    if (ih_log_root (self->log, size, root) == IH_OK &&
        s_checkpoint (self, size, root, &cp_time) == IH_OK) {
        self->cp_size = size;
        self->cp_time = cp_time;
        if (self->verbose)
            zsys_debug ("ingest: checkpoint size=%" PRIu64, size);
    } else //  try again later rather than spin
        self->cp_deadline = zclock_mono () + (int64_t) self->cp_ms;
}

//  After a batch failed with IH_E_FULL: if the map may grow, grows it and
//  runs the batch's events again from the start (the failed transaction
//  left nothing behind). Returns the new outcome.
static ih_err_t
s_grow_and_retry (s_self_t *self, ih_err_t err)
{
    while (err == IH_E_FULL && self->map_max &&
           ih_log_grow (self->log, self->map_max, NULL) == IH_OK) {
        self->batch_failed = IH_OK;
        for (size_t i = 0; i < self->nitems; i++) {
            s_item_t *item = &self->items[i];
            if (!item->event)
                continue; //  not an EVENT: its reply stands
            ih_wire_t wire;
            ih_err_t rc = ih_wire_decode (item->msg, &wire);
            assert (rc == IH_OK); //  it decoded the first time
            zframe_t *identity = item->identity;
            zmsg_t *msg = item->msg;
            uint64_t received = item->received;
            memset (item, 0, sizeof (*item));
            item->identity = identity;
            item->msg = msg;
            item->received = received;
            s_ingest_event (self, item, &wire);
        }
        err = s_commit (self);
    }
    return err;
}

//  Commits the batch, then sends every reply in order and publishes what
//  was stored. Empties the batch.
static void
s_flush (s_self_t *self)
{
    ih_err_t err = s_grow_and_retry (self, s_commit (self));
    if (err != IH_OK) {
        //  Nothing of this batch is stored: whatever reached the log is
        //  NAKed with the storage error, including duplicates of events
        //  that were only in this batch
        size_t lost = 0;
        for (size_t i = 0; i < self->nitems; i++) {
            s_item_t *item = &self->items[i];
            if (item->appended) {
                s_nak (item, err);
                item->stored = false;
                item->expected = 0;
                lost++;
            }
        }
        zsys_error ("ingest: batch of %zu events not stored: %s", lost,
                    ih_err_name (err));
    }
    for (size_t i = 0; i < self->nitems; i++) {
        s_item_t *item = &self->items[i];
        zmsg_t *reply;
        if (item->reply == S_REPLY_ACK) {
            reply = ih_wire_ack (item->site, item->seq, item->hub_seq);
            if (self->verbose)
                zsys_debug ("ingest: ACK site=%s seq=%" PRIu64
                            " hub_seq=%" PRIu64 "%s",
                            item->site, item->seq, item->hub_seq,
                            item->stored ? "" : " (duplicate)");
        } else if (item->reply == S_REPLY_NAK) {
            reply = ih_wire_nak (item->code, NULL, item->site, item->seq,
                                 item->expected);
            s_log_nak (self, item);
        } else
            reply = s_status_reply (self);
        assert (reply);
        zmsg_prepend (reply, &item->identity);
        //  Never blocks: unroutable or over-HWM replies are dropped
        if (zmsg_send (&reply, self->router))
            zmsg_destroy (&reply);
    }
    for (size_t i = 0; i < self->nitems; i++) {
        s_item_t *item = &self->items[i];
        if (item->stored) {
            ih_publish_send (self->publish, item->district, item->site,
                             item->type, item->hub_seq, item->received,
                             item->event, item->event_size);
            s_note_skew (self, item);
        }
        zframe_destroy (&item->identity);
        zmsg_destroy (&item->msg);
    }
    self->nitems = 0;
    self->batch_failed = IH_OK;
}

//  One batch: everything already queued, up to batch_max, then flush.
static void
s_handle_router (s_self_t *self)
{
    while (self->nitems < self->batch_max &&
           (zsock_events (self->router) & ZMQ_POLLIN))
        s_receive (self);
    s_flush (self);
}

void
ih_ingest_actor (zsock_t *pipe, void *args)
{
    (void) args;
    s_self_t *self = s_self_new (pipe);
    zsock_signal (pipe, 0);
    bool pending = false;
    while (!self->terminated) {
        //  Wake once a second only while log summaries are due, and when
        //  a timed checkpoint is
        int timeout = pending ? 1000 : -1;
        if (self->cp_deadline) {
            int64_t left = self->cp_deadline - zclock_mono ();
            left = left < 0 ? 0 : left;
            if (timeout < 0 || left < timeout)
                timeout = (int) (left > INT_MAX ? INT_MAX : left);
        }
        void *which = zpoller_wait (self->poller, timeout);
        if (which == self->pipe)
            s_handle_pipe (self);
        else if (which && which == self->router)
            s_handle_router (self);
        else if (zpoller_terminated (self->poller))
            break;
        pending = s_flush_limits (self, false);
        s_checkpoint_if_due (self, false);
    }
    //  A clean shutdown leaves the whole log covered by a signed checkpoint
    s_checkpoint_if_due (self, true);
    s_flush_limits (self, true);
    s_self_destroy (&self);
}

void
ih_ingest_set_pub_hwm (zactor_t *self, size_t hwm)
{
    assert (self);
    char value[32];
    snprintf (value, sizeof (value), "%zu", hwm);
    zstr_sendx (self, "PUBHWM", value, NULL);
    zsock_wait (self);
}

int
ih_ingest_set_key (zactor_t *self, const char *path)
{
    assert (self);
    assert (path);
    zstr_sendx (self, "KEY", path, NULL);
    return zsock_wait (self) == 0 ? 0 : -1;
}

void
ih_ingest_set_checkpoint (zactor_t *self, uint64_t events, uint64_t ms)
{
    assert (self);
    char events_text[32], ms_text[32];
    snprintf (events_text, sizeof events_text, "%" PRIu64, events);
    snprintf (ms_text, sizeof ms_text, "%" PRIu64, ms);
    zstr_sendx (self, "CHECKPOINT", events_text, ms_text, NULL);
    zsock_wait (self);
}

ih_log_t *
ih_ingest_log (zactor_t *self)
{
    assert (self);
    zstr_send (self, "LOG");
    void *log = NULL;
    if (zsock_recv (self, "p", &log))
        return NULL;
    return (ih_log_t *) log;
}

void
ih_ingest_set_map_max (zactor_t *self, size_t max_bytes)
{
    assert (self);
    char value[32];
    snprintf (value, sizeof (value), "%zu", max_bytes);
    zstr_sendx (self, "MAPMAX", value, NULL);
    zsock_wait (self);
}

int
ih_ingest_start (zactor_t *self, const char *data, const char *registry,
                 const char *ingest, const char *pub, size_t map_size,
                 size_t batch_max, char **ingest_p, char **pub_p)
{
    assert (self);
    assert (ingest_p && pub_p);
    *ingest_p = NULL;
    *pub_p = NULL;
    char map_text[32], batch_text[32];
    snprintf (map_text, sizeof (map_text), "%zu", map_size);
    snprintf (batch_text, sizeof (batch_text), "%zu", batch_max);
    if (zstr_sendx (self, "START", data, registry, ingest, pub, map_text,
                    batch_text, NULL))
        return -1;
    int status = -1;
    char *first = NULL, *second = NULL;
    if (zsock_recv (self, "iss", &status, &first, &second)) {
        *ingest_p = strdup ("interrupted");
        return -1;
    }
    if (status == 0) {
        *ingest_p = first;
        *pub_p = second;
        return 0;
    }
    *ingest_p = first;
    zstr_free (&second);
    return -1;
}

//  --------------------------------------------------------------------------
//  Selftest: a real actor in a temporary directory, an agent as a DEALER.

static uint8_t *
s_test_event (ih_key_t *key, uint64_t seq, const uint8_t *prev, size_t *size_p)
{
    ih_event_t event;
    memset (&event, 0, sizeof (event));
    snprintf (event.site, sizeof (event.site), "%s", ih_key_name (key));
    strcpy (event.type, "enterprise.admitted");
    event.seq = seq;
    event.ts = ih_event_now ();
    if (prev)
        memcpy (event.prev, prev, IH_HASH_SIZE);
    static const uint8_t data[] = {0x81, 0xa1, 'n', 0x01}; //  {"n": 1}
    event.data = data;
    event.data_size = sizeof (data);
    uint8_t *bytes = NULL;
    ih_err_t err = ih_event_sign (&event, key, &bytes, size_p);
    assert (err == IH_OK);
    return bytes;
}

//  Sends msg and waits (deadline 10 s) for the reply, decoded into wire;
//  returns the reply, which wire borrows from.
static zmsg_t *
s_test_call (zsock_t *dealer, zmsg_t *msg, ih_wire_t *wire)
{
    assert (zmsg_send (&msg, dealer) == 0);
    zpoller_t *poller = zpoller_new (dealer, NULL);
    void *which = zpoller_wait (poller, 10000);
    zpoller_destroy (&poller);
    assert (which == dealer);
    zmsg_t *reply = zmsg_recv (dealer);
    assert (reply);
    assert (ih_wire_decode (reply, wire) == IH_OK);
    return reply;
}

static void
s_test_expect (zsock_t *dealer, zmsg_t *msg, ih_wire_kind_t kind, ih_err_t code,
               uint64_t value)
{
    ih_wire_t wire;
    zmsg_t *reply = s_test_call (dealer, msg, &wire);
    assert (wire.kind == kind);
    if (kind == IH_WIRE_ACK)
        assert (wire.hub_seq == value);
    else {
        assert (wire.code == code);
        assert (wire.expected == value);
    }
    zmsg_destroy (&reply);
}

static void
s_test_remove_tree (const char *dir)
{
    const char *files[] = {"data/data.mdb", "data/lock.mdb", "registry.json",
                           "data",          "lh-inc-01.key", "lh-inc-01.pub"};
    for (size_t i = 0; i < sizeof (files) / sizeof (files[0]); i++) {
        char *path = zsys_sprintf ("%s/%s", dir, files[i]);
        remove (path);
        zstr_free (&path);
    }
    rmdir (dir);
}

void
ih_ingest_test (bool verbose)
{
    printf (" * ih_ingest: ");
    if (verbose)
        printf ("\n");

    char tmpl[] = "/tmp/ih_ingest_test.XXXXXX";
    char *dir = mkdtemp (tmpl);
    assert (dir);
    char *data = zsys_sprintf ("%s/data", dir);
    char *registry = zsys_sprintf ("%s/registry.json", dir);

    ih_key_t *key = ih_key_new ("lh-inc-01");
    ih_key_t *stranger = ih_key_new ("xx-inc-99");
    ih_key_t *impostor = ih_key_new ("lh-inc-01");
    assert (key && stranger && impostor);
    ih_site_t site;
    memset (&site, 0, sizeof (site));
    strcpy (site.id, "lh-inc-01");
    strcpy (site.kind, "incubator");
    strcpy (site.district, "laoshan");
    memcpy (site.key, ih_key_public (key), IH_KEY_PUBLIC_SIZE);
    assert (ih_registry_add (registry, &site) == IH_OK);

    zactor_t *ingest = zactor_new (ih_ingest_actor, NULL);
    assert (ingest);
    if (verbose)
        zstr_send (ingest, "VERBOSE");
    char *ingest_ep = NULL, *pub_ep = NULL;
    //  Bad arguments are refused, and the actor can still start
    assert (ih_ingest_start (ingest, data, registry, "tcp://127.0.0.1:*",
                             "tcp://127.0.0.1:*", 0, 0, &ingest_ep,
                             &pub_ep) == -1);
    zstr_free (&ingest_ep);
    assert (ih_ingest_start (ingest, data, "/nonexistent/registry.json",
                             "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 0, 4,
                             &ingest_ep, &pub_ep) == -1);
    zstr_free (&ingest_ep);
    assert (ih_ingest_start (ingest, data, registry, "tcp://127.0.0.1:*",
                             "tcp://127.0.0.1:*", 0, 4, &ingest_ep,
                             &pub_ep) == 0);
    assert (strncmp (ingest_ep, "tcp://127.0.0.1:", 16) == 0);
    assert (strncmp (pub_ep, "tcp://127.0.0.1:", 16) == 0);
    if (verbose)
        printf ("   ingest=%s pub=%s\n", ingest_ep, pub_ep);

    zsock_t *dealer = zsock_new_dealer (ingest_ep);
    zsock_t *sub = zsock_new_sub (pub_ep, "shinan/");
    assert (dealer && sub);

    //  First event: ACK with hub_seq 1
    uint8_t hash[2][IH_HASH_SIZE];
    size_t size1, size2;
    uint8_t *ev1 = s_test_event (key, 1, NULL, &size1);
    ih_event_hash (ev1, size1, hash[0]);
    uint8_t *ev2 = s_test_event (key, 2, hash[0], &size2);
    ih_event_hash (ev2, size2, hash[1]);
    s_test_expect (dealer, ih_wire_event (ev1, size1), IH_WIRE_ACK, IH_OK, 1);
    //  Duplicate: ACK again, same hub_seq
    s_test_expect (dealer, ih_wire_event (ev1, size1), IH_WIRE_ACK, IH_OK, 1);
    //  Gap
    size_t size3;
    uint8_t *ev3 = s_test_event (key, 3, hash[1], &size3);
    s_test_expect (dealer, ih_wire_event (ev3, size3), IH_WIRE_NAK, IH_E_GAP,
                   2);
    //  Garbage, an unknown command, a bad signature, an unknown site
    zmsg_t *garbage = zmsg_new ();
    zmsg_addstr (garbage, "EVENT");
    zmsg_addstr (garbage, "this is not msgpack");
    ih_wire_t wire;
    zmsg_t *reply = s_test_call (dealer, garbage, &wire);
    assert (wire.kind == IH_WIRE_NAK && wire.code != IH_OK);
    zmsg_destroy (&reply);
    zmsg_t *bogus = zmsg_new ();
    zmsg_addstr (bogus, "BOGUS");
    s_test_expect (dealer, bogus, IH_WIRE_NAK, IH_E_COMMAND, 0);
    zmsg_t *wrong = ih_wire_ack ("lh-inc-01", 1, 1);
    s_test_expect (dealer, wrong, IH_WIRE_NAK, IH_E_COMMAND, 0);
    size_t forged_size;
    uint8_t *forged = s_test_event (impostor, 2, hash[0], &forged_size);
    s_test_expect (dealer, ih_wire_event (forged, forged_size), IH_WIRE_NAK,
                   IH_E_BADSIG, 0);
    size_t alien_size;
    uint8_t *alien = s_test_event (stranger, 1, NULL, &alien_size);
    s_test_expect (dealer, ih_wire_event (alien, alien_size), IH_WIRE_NAK,
                   IH_E_UNKNOWN_SITE, 0);
    //  ... until the site is registered: the hub reloads the registry
    ih_site_t other = site;
    strcpy (other.id, "xx-inc-99");
    strcpy (other.district, "shinan");
    memcpy (other.key, ih_key_public (stranger), IH_KEY_PUBLIC_SIZE);
    assert (ih_registry_add (registry, &other) == IH_OK);
    s_test_expect (dealer, ih_wire_event (alien, alien_size), IH_WIRE_ACK,
                   IH_OK, 2);

    //  A burst: several events in flight, replies come back in order
    assert (zmsg_send (&(zmsg_t *){ih_wire_event (ev2, size2)}, dealer) == 0);
    assert (zmsg_send (&(zmsg_t *){ih_wire_event (ev3, size3)}, dealer) == 0);
    assert (zmsg_send (&(zmsg_t *){ih_wire_event (ev3, size3)}, dealer) == 0);
    uint64_t expect_hub[] = {3, 4, 4};
    for (int i = 0; i < 3; i++) {
        zpoller_t *poller = zpoller_new (dealer, NULL);
        assert (zpoller_wait (poller, 10000) == dealer);
        zpoller_destroy (&poller);
        reply = zmsg_recv (dealer);
        assert (ih_wire_decode (reply, &wire) == IH_OK);
        assert (wire.kind == IH_WIRE_ACK);
        assert (wire.seq == (uint64_t) (i == 0 ? 2 : 3));
        assert (wire.hub_seq == expect_hub[i]);
        zmsg_destroy (&reply);
    }

    //  STATUS
    reply = s_test_call (dealer, ih_wire_status_request (), &wire);
    assert (wire.kind == IH_WIRE_STATUS && wire.json_size > 0);
    json_error_t jerr;
    json_t *status = json_loadb (wire.json, wire.json_size, 0, &jerr);
    assert (status);
    assert (json_integer_value (json_object_get (status, "events")) == 4);
    assert (json_integer_value (json_object_get (status, "last_hub_seq")) == 4);
    assert (json_integer_value (json_object_get (status, "sites")) == 2);
    assert (json_integer_value (json_object_get (status, "registry_sites")) ==
            2);
    assert (json_integer_value (json_object_get (status, "bytes")) > 0);
    assert (json_is_integer (json_object_get (status, "uptime_ms")));
    assert (streq (json_string_value (json_object_get (status, "data")), data));
    json_decref (status);
    zmsg_destroy (&reply);

    //  Published events: PUB drops until the subscription has reached
    //  the hub, so keep storing events of xx-inc-99 until one comes back
    //  on the SUB (deadline 10 s), then check it is exactly what was ACKed
    uint8_t prev[IH_HASH_SIZE];
    ih_event_hash (alien, alien_size, prev);
    zpoller_t *poller = zpoller_new (sub, NULL);
    int64_t deadline = zclock_mono () + 10000;
    bool seen = false;
    uint64_t seq = 2, last_hub_seq = 4;
    while (!seen && zclock_mono () < deadline) {
        size_t size;
        uint8_t *bytes = s_test_event (stranger, seq++, prev, &size);
        ih_event_hash (bytes, size, prev);
        s_test_expect (dealer, ih_wire_event (bytes, size), IH_WIRE_ACK, IH_OK,
                       ++last_hub_seq);
        while (!seen && zpoller_wait (poller, 100) == sub) {
            reply = zmsg_recv (sub);
            assert (ih_wire_decode_pub (reply, &wire) == IH_OK);
            assert (wire.kind == IH_WIRE_PUB);
            if (wire.hub_seq == last_hub_seq) {
                assert (streq (wire.topic,
                               "shinan/xx-inc-99/enterprise.admitted/"));
                assert (wire.event_size == size);
                assert (memcmp (wire.event, bytes, size) == 0);
                assert (wire.received > 0);
                seen = true;
            }
            zmsg_destroy (&reply);
        }
        free (bytes);
    }
    assert (seen);
    zpoller_destroy (&poller);

    zsock_destroy (&sub);
    zsock_destroy (&dealer);
    zactor_destroy (&ingest);

    //  What was ACKed is in the log
    ih_log_t *log = ih_log_new (data, true, 0);
    assert (log);
    assert (ih_log_last (log) == last_hub_seq);
    ih_log_destroy (&log);

    free (ev1);
    free (ev2);
    free (ev3);
    free (forged);
    free (alien);
    ih_key_destroy (&key);
    ih_key_destroy (&stranger);
    ih_key_destroy (&impostor);
    zstr_free (&ingest_ep);
    zstr_free (&pub_ep);
    zstr_free (&data);
    zstr_free (&registry);
    s_test_remove_tree (dir);
    printf ("OK\n");
}
