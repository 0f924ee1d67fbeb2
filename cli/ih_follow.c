/*  =========================================================================
    ih_follow - gapless reading of the hub: replay, then live, no holes

    See ih_follow.h for the contract. The invariant: every event that
    matches the filters with hub_seq < cursor has been handed out exactly
    once, and none at or above it has. A RECORD or live event is handed
    out only if its hub_seq is >= cursor, and then the cursor moves past
    it; END moves the cursor past the last hub_seq the service examined.
    Live events are taken as-is only when they continue the cursor with
    no possible hole: unfiltered, hub_seq == cursor. Anything else starts a
    filtered replay up to the highest live hub_seq seen, and the live
    copies are dropped (the replay delivers them).

    Both sockets are secured the same way (ih_curve): CURVE clients when
    the caller gave the keys, loaded once here and kept for the dealers
    made when a stream is replaced; else plain text, local endpoints only.

    Both are dialled through ih_redial, which watches their handshakes:
    libzmq never retries a connection whose handshake failed (a ZAP
    refusal: the reader's site is registered a moment later, or the hub
    reopens its feed after a registry change and refuses the reconnect
    once), so after one the socket is dialled again, 1 s later, doubling
    to 30 s, and the failure is reported on stderr (rate-limited). The
    replay DEALER sends with a zero timeout: between a refusal and the
    redial it has no connection to queue on, and a REPLAY that cannot be
    sent is asked for again at the next resync, as a lost one is after a
    redial while a stream is open (on a fresh socket, see s_replay).
    =========================================================================*/
#include "ih_follow.h"
#include "ih_curve.h"
#include "ih_redial.h"
#include "ih_wire.h"

struct _ih_follow_t {
    zsock_t *dealer;              //  replay service
    ih_redial_t *dealer_redial;   //  its endpoint, monitor and redials
    zsock_t *sub;                 //  live feed, or NULL (replay only)
    ih_redial_t *sub_redial;      //  its endpoint, monitor and redials
    char *district, *site, *type; //  filters, NULL = any
    bool filtered;                //  any filter set
    uint64_t cursor;              //  see the invariant above
    uint64_t from_time;           //  first stream only, then 0
    bool streaming;               //  a REPLAY is open
    uint64_t stream_to;           //  its `to` (0 = the end)
    uint64_t unacked;             //  RECORDs received since last CREDIT
    int64_t heard;                //  zclock_mono of the last dealer message
    int64_t live_at;              //  zclock_mono of the last live event
    uint64_t fills;
    bool started;      //  the first stream was asked for
    bool done;         //  replay only: END reached
    zmsg_t *current;   //  the message the last event points into
    ih_key_t *key;     //  own key (CURVE), or NULL (plain text)
    ih_key_t *hub_key; //  the hub's public key (CURVE), or NULL
};

static char *
s_dup (const char *name)
{
    return name && *name ? strdup (name) : NULL;
}

//  Makes sock a CURVE client if the follow has keys; -1 if that fails.
static int
s_secure (ih_follow_t *self, zsock_t *sock, const char *endpoint)
{
    if (!self->hub_key)
        return 0;
    ih_err_t err = ih_curve_client (sock, self->key, self->hub_key);
    if (err != IH_OK) {
        fprintf (stderr, "incuhub: cannot set up CURVE to %s (%s)\n", endpoint,
                 ih_err_name (err));
        return -1;
    }
    return 0;
}

//  A DEALER connected to the replay service, or NULL. On success the
//  redialer watches it, not the one before (which the caller may close).
static zsock_t *
s_dealer_new (ih_follow_t *self)
{
    const char *replay = ih_redial_endpoint (self->dealer_redial);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    assert (dealer);
    zsock_set_maxmsgsize (dealer, IH_WIRE_MAX);
    zsock_set_linger (dealer, 0);
    zsock_set_rcvhwm (dealer, 2 * IH_FOLLOW_CREDIT + 100);
    //  Refused, it has no connection until the redial: fail, not block
    zsock_set_sndtimeo (dealer, 0);
    if (s_secure (self, dealer, replay) ||
        ih_redial_dial (self->dealer_redial, dealer))
        zsock_destroy (&dealer);
    return dealer;
}

//  Loads a key file into *key_p; reports and returns -1 on failure.
static int
s_load_key (const char *path, const char *what, ih_key_t **key_p)
{
    ih_err_t err = ih_key_load (path, key_p);
    if (err != IH_OK) {
        fprintf (stderr, "incuhub: cannot load %s %s: %s (%s)\n", what, path,
                 ih_strerror (err), ih_err_name (err));
        return -1;
    }
    return 0;
}

//  Loads the keys, or checks that plain text stays on this machine.
static int
s_transport (ih_follow_t *self, const ih_follow_options_t *options)
{
    if (!options->key != !options->hub_key) {
        fprintf (stderr, "incuhub: CURVE needs both the own key and the "
                         "hub's public key (IH_E_BADARG)\n");
        return -1;
    }
    if (!options->hub_key) {
        const char *endpoints[] = {options->replay, options->pub};
        for (size_t i = 0; i < 2; i++)
            if (endpoints[i] && !ih_curve_local (endpoints[i])) {
                fprintf (stderr,
                         "incuhub: %s is not local: plain text only on "
                         "this machine; needs the hub's key and an own "
                         "key (CURVE) (IH_E_BADARG)\n",
                         endpoints[i]);
                return -1;
            }
        return 0;
    }
    if (s_load_key (options->key, "key", &self->key) ||
        s_load_key (options->hub_key, "hub key", &self->hub_key))
        return -1;
    if (!ih_key_has_curve_secret (self->key) ||
        !ih_key_has_curve (self->hub_key)) {
        fprintf (stderr,
                 "incuhub: key %s or hub key %s has no transport (curve) "
                 "part (IH_E_KEY)\n",
                 options->key, options->hub_key);
        return -1;
    }
    return 0;
}

ih_follow_t *
ih_follow_new (const ih_follow_options_t *options)
{
    assert (options && options->replay);
    ih_follow_t *self = (ih_follow_t *) zmalloc (sizeof (ih_follow_t));
    assert (self);
    self->district = s_dup (options->district);
    self->site = s_dup (options->site);
    self->type = s_dup (options->type);
    self->filtered = self->district || self->site || self->type;
    self->cursor = options->from ? options->from : 1;
    self->from_time = options->from_time;
    self->dealer_redial = ih_redial_new (options->replay);
    if (s_transport (self, options)) {
        ih_follow_destroy (&self);
        return NULL;
    }
    self->dealer = s_dealer_new (self);
    if (!self->dealer) {
        fprintf (stderr, "incuhub: cannot connect to '%s'\n", options->replay);
        ih_follow_destroy (&self);
        return NULL;
    }
    if (options->pub) {
        //  Subscribe before the first replay: what is published while it
        //  runs waits in the SUB queue (or is fetched again if that
        //  overflows)
        self->sub = zsock_new (ZMQ_SUB);
        assert (self->sub);
        zsock_set_maxmsgsize (self->sub, IH_WIRE_MAX);
        zsock_set_linger (self->sub, 0);
        zsock_set_rcvhwm (self->sub, 100000);
        char topic[3 * IH_NAME_MAX + 4];
        ih_wire_topic_prefix (self->district, self->site, self->type, topic);
        zsock_set_subscribe (self->sub, topic);
        self->sub_redial = ih_redial_new (options->pub);
        if (s_secure (self, self->sub, options->pub) ||
            ih_redial_dial (self->sub_redial, self->sub)) {
            fprintf (stderr, "incuhub: cannot connect to '%s'\n", options->pub);
            ih_follow_destroy (&self);
            return NULL;
        }
    }
    self->live_at = zclock_mono ();
    return self;
}

void
ih_follow_destroy (ih_follow_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        ih_follow_t *self = *self_p;
        //  The monitors stop before the sockets they watch close
        ih_redial_destroy (&self->dealer_redial);
        ih_redial_destroy (&self->sub_redial);
        zsock_destroy (&self->dealer);
        zsock_destroy (&self->sub);
        zmsg_destroy (&self->current);
        free (self->district);
        free (self->site);
        free (self->type);
        ih_key_destroy (&self->key);
        ih_key_destroy (&self->hub_key);
        free (self);
        *self_p = NULL;
    }
}

uint64_t
ih_follow_cursor (ih_follow_t *self)
{
    return self->cursor;
}

uint64_t
ih_follow_fills (ih_follow_t *self)
{
    return self->fills;
}

//  Opens a stream from the cursor up to `to` (0 = the end); a new REPLAY
//  replaces any stream still open on the service's side.
static void
s_replay (ih_follow_t *self, uint64_t to)
{
    if (self->streaming) {
        //  Abandoning an open stream: its RECORDs and END may still be on
        //  the way, and nothing in them says which stream they belong to.
        //  A fresh socket makes sure none is taken for the new stream's
        //  (the hub forgets the old one when it goes idle)
        zsock_t *dealer = s_dealer_new (self);
        if (dealer) {
            zsock_destroy (&self->dealer);
            self->dealer = dealer;
        }
    }
    zmsg_t *msg =
        self->from_time
            ? ih_wire_replay (0, self->from_time, to, self->district,
                              self->site, self->type, IH_FOLLOW_CREDIT)
            : ih_wire_replay (self->cursor, 0, to, self->district, self->site,
                              self->type, IH_FOLLOW_CREDIT);
    if (zmsg_send (&msg, self->dealer) != 0) {
        //  No connection (a refused handshake, not redialled yet): ask
        //  again at the next resync, from the cursor to the end
        zmsg_destroy (&msg);
        self->streaming = false;
        self->live_at = zclock_mono ();
        return;
    }
    self->streaming = true;
    self->stream_to = to;
    self->unacked = 0;
    self->heard = zclock_mono ();
}

//  Hands out the event of msg (taking it) if it is new. Returns true if
//  it did.
static bool
s_deliver (ih_follow_t *self, zmsg_t **msg_p, const ih_wire_t *wire,
           ih_follow_event_t *event)
{
    if (wire->hub_seq < self->cursor) {
        zmsg_destroy (msg_p); //  handed out already
        return false;
    }
    self->cursor = wire->hub_seq + 1;
    zmsg_destroy (&self->current);
    self->current = *msg_p;
    *msg_p = NULL;
    event->hub_seq = wire->hub_seq;
    event->received = wire->received;
    event->event = wire->event;
    event->event_size = wire->event_size;
    return true;
}

//  A message from the replay service. Returns IH_OK with event set, or
//  IH_E_TIMEOUT meaning "nothing to hand out, go on", or a final code.
static ih_err_t
s_on_dealer (ih_follow_t *self, zmsg_t *msg, ih_follow_event_t *event)
{
    self->heard = zclock_mono ();
    ih_wire_t wire;
    ih_err_t err = ih_wire_decode (msg, &wire);
    if (err) {
        zmsg_destroy (&msg);
        return err;
    }
    if (!self->streaming) {
        zmsg_destroy (&msg); //  a late answer to a replaced stream
        return IH_E_TIMEOUT;
    }
    if (wire.kind == IH_WIRE_RECORD) {
        self->from_time = 0;
        if (++self->unacked >= IH_FOLLOW_CREDIT / 2) {
            //  If it cannot go now, the next RECORD tries again (half the
            //  credit is still left)
            zmsg_t *credit = ih_wire_credit (self->unacked);
            if (zmsg_send (&credit, self->dealer) == 0)
                self->unacked = 0;
            else
                zmsg_destroy (&credit);
        }
        return s_deliver (self, &msg, &wire, event) ? IH_OK : IH_E_TIMEOUT;
    }
    zmsg_destroy (&msg);
    if (wire.kind == IH_WIRE_END) {
        self->streaming = false;
        //  With from_time set, nothing at or after it exists yet: follow
        //  from what exists
        self->from_time = 0;
        if (wire.last + 1 > self->cursor)
            self->cursor = wire.last + 1;
        if (!self->sub) {
            self->done = true;
            return IH_E_MISSING;
        }
        self->live_at = zclock_mono ();
        return IH_E_TIMEOUT;
    }
    if (wire.kind == IH_WIRE_NAK) {
        self->streaming = false;
        //  Busy (stream cap) or a passing storage error: try again after
        //  the idle interval, from the same cursor; anything else is final
        if (wire.code == IH_E_FULL || wire.code == IH_E_STORE) {
            self->live_at = zclock_mono ();
            return IH_E_TIMEOUT;
        }
        return wire.code;
    }
    return IH_E_COMMAND; //  not an answer the replay service gives
}

//  A live message. Delivers it if it continues the cursor with no possible
//  hole; otherwise drains the SUB queue and replays up to the highest live
//  hub_seq seen.
static ih_err_t
s_on_live (ih_follow_t *self, zmsg_t *msg, ih_follow_event_t *event)
{
    ih_wire_t wire;
    uint64_t highest = 0;
    while (msg) {
        if (ih_wire_decode_pub (msg, &wire) == IH_OK &&
            ih_wire_topic_match (wire.topic, self->district, self->site,
                                 self->type) &&
            wire.hub_seq >= self->cursor) {
            self->live_at = zclock_mono ();
            if (!self->filtered && wire.hub_seq == self->cursor && !highest)
                return s_deliver (self, &msg, &wire, event) ? IH_OK
                                                            : IH_E_TIMEOUT;
            if (wire.hub_seq > highest)
                highest = wire.hub_seq;
        }
        zmsg_destroy (&msg);
        //  Take everything already queued, so one replay covers a burst
        if (zsock_events (self->sub) & ZMQ_POLLIN)
            msg = zmsg_recv (self->sub);
    }
    if (highest) {
        self->fills++;
        s_replay (self, highest);
    }
    return IH_E_TIMEOUT;
}

//  Reads what the monitor of one socket says (service names it). A failed
//  handshake is reported on stderr, at most every IH_REDIAL_LOG_EVERY ms
//  per socket, and so is the first success after one; the redialer
//  schedules the redial.
static void
s_on_monitor (ih_follow_t *self, ih_redial_t *redial, const char *service)
{
    const char *mechanism = self->hub_key ? "CURVE" : "plain-text";
    zsock_t *monitor = zactor_sock (ih_redial_monitor (redial));
    while (zsock_events (monitor) & ZMQ_POLLIN) {
        bool failing = ih_redial_failing (redial); //  until now
        ih_redial_event_t event = ih_redial_recv (redial);
        const char *name = ih_redial_event_name (redial);
        if (event == IH_REDIAL_NONE)
            break;
        if (event == IH_REDIAL_SUCCEEDED && failing)
            fprintf (stderr, "incuhub: %s handshake with the %s %s succeeded\n",
                     mechanism, service, ih_redial_endpoint (redial));
        else if (event == IH_REDIAL_FAILED && ih_redial_may_log (redial))
            fprintf (stderr,
                     "incuhub: %s handshake with the %s %s failed event=%s: "
                     "%s; dialling again in %" PRId64 " ms\n",
                     mechanism, service, ih_redial_endpoint (redial), name,
                     streq (name, "HANDSHAKE_FAILED_AUTH")
                         ? "the hub refused our key (is its site registered "
                           "with this key's transport key, and not revoked?)"
                     : self->hub_key ? "wrong hub key, or the hub does not "
                                       "speak CURVE?"
                                     : "the hub wants CURVE: give its key and "
                                       "an own key",
                     ih_redial_backoff (redial));
    }
}

//  Runs the redials that are due. If a stream is open, its REPLAY went
//  down with the refused connection: it is asked for again, on a fresh
//  socket (a dial as well, see s_replay).
static void
s_redial (ih_follow_t *self)
{
    if (self->sub && ih_redial_due (self->sub_redial))
        ih_redial_run (self->sub_redial);
    if (ih_redial_due (self->dealer_redial) && self->streaming)
        s_replay (self, self->stream_to);
    if (ih_redial_due (self->dealer_redial)) //  no stream, or no fresh socket
        ih_redial_run (self->dealer_redial);
}

//  The earlier of two zclock_mono times; 0 means none.
static int64_t
s_earlier (int64_t time, int64_t other)
{
    return other && other < time ? other : time;
}

//  Waits at most wait ms for a monitor, the replay service or the feed,
//  which is read only between streams: while one is open, live events
//  wait in the SUB queue until the replay has caught up. Returns the
//  one ready, or NULL; *terminated_p tells a signal from a timeout.
static void *
s_wait (ih_follow_t *self, int wait, bool *terminated_p)
{
    zpoller_t *poller =
        zpoller_new (ih_redial_monitor (self->dealer_redial), NULL);
    assert (poller);
    if (self->sub)
        zpoller_add (poller, ih_redial_monitor (self->sub_redial));
    zpoller_add (poller, self->dealer);
    if (self->sub && !self->streaming)
        zpoller_add (poller, self->sub);
    void *which = zpoller_wait (poller, wait);
    *terminated_p = zpoller_terminated (poller);
    zpoller_destroy (&poller);
    return which;
}

ih_err_t
ih_follow_next (ih_follow_t *self, int timeout, ih_follow_event_t *event)
{
    assert (self && event);
    if (self->done)
        return IH_E_MISSING;
    int64_t deadline = timeout < 0 ? INT64_MAX : zclock_mono () + timeout;
    if (!self->started) {
        self->started = true;
        s_replay (self, 0); //  the first stream
    }
    while (true) {
        int64_t now = zclock_mono ();
        if (now >= deadline)
            return IH_E_TIMEOUT;
        //  Wake up for the caller's deadline, a silent stream, a resync, a
        //  redial
        int64_t wake = deadline;
        if (self->streaming && self->heard + IH_FOLLOW_STREAM_TIMEOUT < wake)
            wake = self->heard + IH_FOLLOW_STREAM_TIMEOUT;
        if (!self->streaming && self->live_at + IH_FOLLOW_RESYNC_MS < wake)
            wake = self->live_at + IH_FOLLOW_RESYNC_MS;
        wake = s_earlier (wake, ih_redial_at (self->dealer_redial));
        if (self->sub)
            wake = s_earlier (wake, ih_redial_at (self->sub_redial));
        int wait = wake > now ? (int) (wake - now) : 0;
        bool terminated = false;
        void *which = s_wait (self, wait, &terminated);
        if (!which && terminated)
            return IH_E_INTERNAL;
        ih_err_t err = IH_E_TIMEOUT;
        if (which == ih_redial_monitor (self->dealer_redial) ||
            (self->sub && which == ih_redial_monitor (self->sub_redial))) {
            s_on_monitor (self, self->dealer_redial, "replay service");
            if (self->sub)
                s_on_monitor (self, self->sub_redial, "feed");
        } else if (which == self->dealer) {
            zmsg_t *msg = zmsg_recv (self->dealer);
            if (!msg)
                return IH_E_INTERNAL;
            err = s_on_dealer (self, msg, event);
        } else if (which && which == self->sub) {
            zmsg_t *msg = zmsg_recv (self->sub);
            if (!msg)
                return IH_E_INTERNAL;
            err = s_on_live (self, msg, event);
        } else {
            now = zclock_mono ();
            if (self->streaming &&
                now >= self->heard + IH_FOLLOW_STREAM_TIMEOUT)
                s_replay (self, self->stream_to); //  stream lost: ask again
            else if (!self->streaming &&
                     now >= self->live_at + IH_FOLLOW_RESYNC_MS) {
                //  Quiet: check that nothing after the cursor was missed
                self->live_at = now;
                s_replay (self, 0);
            }
        }
        s_redial (self);
        if (err != IH_E_TIMEOUT)
            return err;
    }
}
