/*  =========================================================================
    ih_agent - the site agent actor: sign, keep, forward

    Data flow:
        publisher --PUBLISH--> listen ROUTER --+
        ih_agent_publish ----> actor pipe -----+--> ih_outbox (sign, commit)
                                               |    then CONFIRM [site, seq]
        ih_outbox --EVENT--> DEALER --> hub ingest --ACK/NAK--> DEALER
        ACK --> ih_outbox_ack_upto (batched)

    One actor thread owns the outbox, the key and all sockets; the API
    thread talks to it over the actor pipe. The sockets and the outbox are
    set up in ih_agent_new (so set-up errors can be returned) and then
    handed to the actor, which alone uses them from then on.

    Accepting (group commit). All PUBLISH requests that are readable on the
    listen socket and the pipe are drained into one outbox transaction,
    which is committed (fsync) before any CONFIRM is sent. A publisher is
    confirmed only for events that are durable; an event that was not
    committed was never confirmed, so the publisher resends it.

    Forwarding. The outbox holds seqs (acked, next_seq). We send them in
    order, at most `window` beyond acked. State:
        acked      highest seq the hub has stored, as far as we know
        next_send  next seq to send; in flight = (acked, next_send)
        max_sent   highest seq ever sent in this run; an ACK or a GAP for
                   anything above it is not ours to believe
    The hub stores a site's events only in order, so ACK s means all <= s
    are stored, and NAK GAP expected=E means all < E are stored. Rewind
    (next_send = acked + 1, or E) happens on every (re)connect, when no ACK
    progress is seen for ack_timeout ms with events in flight, on a GAP
    NAK, and after a refusal's backoff. Resends are safe: the hub ACKs an
    identical event it already has. A slow hub must not be buried in
    resends of the whole window, so each timeout without ACK progress in
    between doubles the timeout (up to IH_AGENT_ACK_TIMEOUT_MAX, or the
    configured one if larger); ACK progress restores the configured value.
    Deletes from the outbox are batched: losing them in a crash only causes
    resends, which the hub dedups. A delete can fail with IH_E_FULL (LMDB
    is copy-on-write; the outbox keeps headroom for deletes, but a big
    chunk can still need more): the chunk is then halved, down to one
    event, and retried at once, and grows back after successes.

    Tags. A PUBLISH on the listen socket may carry a request tag; its
    CONFIRM or NAK echoes it, so a pipelining client can tell which request
    an answer belongs to even across an agent restart.
    A refused event (any other NAK) is never dropped: the stream waits with
    an exponential backoff and retries, logging loudly, because only an
    operator can fix a permanent refusal (key, registry, chain). The
    registry's refusals (issue 4) are such: IH_E_DENIED (the site's kind
    may not publish that type), IH_E_IMPERSONATE (the connection's key is
    another site's), IH_E_REVOKED (the site's key was revoked), and the
    log line says which and what the operator can do.

    Transport. With hub_key the DEALER is a CURVE client (ih_curve); the
    hub's ZAP handler accepts only a registered, unrevoked transport key,
    so a refused handshake is logged loudly (rate-limited) and counted as
    a disconnect. libzmq never retries a connection whose handshake the
    server refused (a ZAP denial is a protocol error to it), yet the
    bureau may register the site a minute later: so after a connection
    that closed before its handshake completed, the actor reconnects the
    DEALER itself, with a backoff (1 s doubling to 30 s, reset by a
    handshake that succeeds): proto/ih_redial, which ih_follow uses too.
    Without hub_key the hub must be local (plain text, development only).
    The listen socket is plain text and local only.
    =========================================================================*/
#include <czmq.h>
#include <pthread.h>
#include "ih_curve.h"
#include "ih_event.h"
#include "ih_key.h"
#include "ih_wire.h"
#include "ih_json.h"
#include "ih_redial.h"
#include "ih_outbox.h"
#include "ih_agent.h"

#define IH_AGENT_WINDOW 256
#define IH_AGENT_ACK_TIMEOUT 3000
#define IH_AGENT_MAX_BATCH 256         //  requests per group commit
#define IH_AGENT_MAX_HUB_READS 512     //  hub replies handled per wakeup
#define IH_AGENT_DELETE_DELAY 200      //  ms to gather acks into one delete
#define IH_AGENT_DELETE_CHUNK 4096     //  max events deleted per transaction
#define IH_AGENT_WINDOW_MAX 4096       //  larger windows are clamped
#define IH_AGENT_ACK_TIMEOUT_MAX 60000 //  ms, cap of the timeout doubling
#define IH_AGENT_SEND_RETRY 100        //  ms after a full send queue
#define IH_AGENT_BACKOFF_MIN 1000      //  ms after the first refusal
#define IH_AGENT_BACKOFF_MAX 60000     //  ms, cap of the doubling
#define IH_AGENT_LOG_EVERY 10000       //  ms between repeats of a log line

//  What the API thread holds: the actor and what set-up resolved.
struct _ih_agent_t {
    zactor_t *actor;       //  the agent actor
    char *endpoint;        //  resolved listen endpoint, or NULL
    pthread_mutex_t mutex; //  one request/reply on the pipe at a time
};

typedef enum {
    S_REQ_PUBLISH, //  reply CONFIRM or NAK after the commit
    S_REQ_STATUS,  //  reply the status after the commit
    S_REQ_NAK      //  reply NAK code
} s_req_kind_t;

//  One request of the current group commit, answered after the commit.
typedef struct {
    s_req_kind_t kind;
    zframe_t *identity;           //  listen-socket peer, or NULL for the pipe
    ih_err_t code;                //  PUBLISH result or NAK code
    uint64_t seq;                 //  PUBLISH: the event's seq
    uint8_t tag[IH_WIRE_TAG_MAX]; //  request tag to echo
    size_t tag_size;              //  0: untagged
} s_req_t;

//  The actor's state; only the actor thread touches it once started.
typedef struct {
    zsock_t *pipe;       //  to the API thread
    zpoller_t *poller;   //  pipe, router, dealer, monitor
    zsock_t *dealer;     //  to the hub's ingest ROUTER
    zsock_t *router;     //  listen socket, or NULL
    ih_redial_t *redial; //  monitor on the dealer; redials after refusals
    ih_outbox_t *outbox; //  the durable outbox
    ih_key_t *key;       //  the site's secret key
    char *site;          //  site id
    char *hub;           //  hub endpoint, as configured
    char *listen;        //  resolved listen endpoint, or NULL
    uint32_t window;     //  max events in flight
    int64_t ack_timeout; //  current ms without ACK progress before a rewind
    int64_t ack_timeout_base; //  configured value, restored on progress
    int64_t ack_timeout_max;  //  cap of the doubling
    bool terminated;          //  $TERM received
    bool connected;           //  per the monitor
    s_req_t batch[IH_AGENT_MAX_BATCH]; //  requests of the group commit
    size_t batch_size;
    uint64_t acked;         //  highest seq the hub has stored
    uint64_t deleted;       //  highest seq passed to ih_outbox_ack_upto
    uint64_t delete_chunk;  //  events per delete transaction, halved on FULL
    uint64_t next_send;     //  next seq to send
    uint64_t max_sent;      //  highest seq sent in this run
    int64_t progress_at;    //  last ACK progress (or window start)
    uint64_t rewind_to;     //  target of the last rewind
    int64_t rewind_at;      //  time of the last rewind
    int64_t retry_at;       //  blocked by a refusal until then; 0 = not
    int64_t backoff;        //  current refusal backoff, ms
    int64_t send_retry_at;  //  send queue was full; retry then; 0 = not
    int64_t delete_at;      //  flush deletes then; 0 = nothing to flush
    int64_t refusal_log_at; //  last refusal log line
    uint64_t refusals;      //  refusals since the refused seq was stored
    uint64_t refused_seq;   //  the seq the hub refused last
    ih_err_t refused_code;  //  code of the last refusal (while refusals)
    bool curve;             //  the DEALER is a CURVE client
    int64_t gap_log_at;     //  last odd-GAP log line
    int64_t store_log_at;   //  last outbox-error log line
    uint64_t sent;          //  EVENT messages sent (with resends)
    uint64_t rewinds;       //  rewinds done
} s_self_t;

//  ---------------------------------------------------------------------
//  Set-up and tear-down (in ih_agent_new's thread)

static void
s_self_destroy (s_self_t **self_p)
{
    s_self_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->batch_size; i++)
        zframe_destroy (&self->batch[i].identity);
    zpoller_destroy (&self->poller);
    //  Stop the monitor before closing the socket it watches.
    ih_redial_destroy (&self->redial);
    zsock_destroy (&self->dealer);
    zsock_destroy (&self->router);
    ih_outbox_destroy (&self->outbox);
    ih_key_destroy (&self->key);
    zstr_free (&self->site);
    zstr_free (&self->hub);
    zstr_free (&self->listen);
    free (self);
    *self_p = NULL;
}

static s_self_t *
s_self_new (const ih_agent_config_t *config, ih_err_t *err_p)
{
    ih_err_t err = IH_E_CONFIG;
    ih_key_t *hub_key = NULL; //  only until the DEALER has it
    s_self_t *self = (s_self_t *) zmalloc (sizeof (s_self_t));
    if (!config->site || !config->key || !config->hub || !config->outbox) {
        zsys_error ("agent: site, key, hub and outbox are required "
                    "err=IH_E_CONFIG");
        goto cleanup;
    }
    self->site = strdup (config->site);
    self->hub = strdup (config->hub);
    self->window = config->window ? config->window : IH_AGENT_WINDOW;
    if (self->window > IH_AGENT_WINDOW_MAX) {
        zsys_warning ("agent: window=%" PRIu32 " clamped to %d", self->window,
                      IH_AGENT_WINDOW_MAX);
        self->window = IH_AGENT_WINDOW_MAX;
    }
    self->ack_timeout_base =
        config->ack_timeout ? config->ack_timeout : IH_AGENT_ACK_TIMEOUT;
    self->ack_timeout = self->ack_timeout_base;
    self->ack_timeout_max = self->ack_timeout_base > IH_AGENT_ACK_TIMEOUT_MAX
                                ? self->ack_timeout_base
                                : IH_AGENT_ACK_TIMEOUT_MAX;
    self->delete_chunk = IH_AGENT_DELETE_CHUNK;

    err = ih_key_load (config->key, &self->key);
    if (err) {
        zsys_error ("agent: cannot load key file=%s err=%s", config->key,
                    ih_err_name (err));
        goto cleanup;
    }
    if (!ih_key_has_secret (self->key)) {
        zsys_error ("agent: key file=%s has no secret part err=IH_E_KEY",
                    config->key);
        err = IH_E_KEY;
        goto cleanup;
    }
    if (!streq (ih_key_name (self->key), self->site)) {
        zsys_error ("agent: key file=%s is for site=%s, not site=%s "
                    "err=IH_E_WRONGSITE",
                    config->key, ih_key_name (self->key), self->site);
        err = IH_E_WRONGSITE;
        goto cleanup;
    }
    //  The transport rule, before anything is opened or bound
    err = IH_E_CONFIG;
    if (config->listen && !ih_curve_local (config->listen)) {
        zsys_error ("agent: listen %s is not local: the listen socket is "
                    "plain text, for publishers on this machine "
                    "err=IH_E_CONFIG",
                    config->listen);
        goto cleanup;
    }
    if (config->hub_key) {
        err = ih_key_load (config->hub_key, &hub_key);
        if (err) {
            zsys_error ("agent: cannot load hub key file=%s err=%s",
                        config->hub_key, ih_err_name (err));
            goto cleanup;
        }
        err = IH_E_KEY;
        if (!ih_key_has_curve (hub_key)) {
            zsys_error ("agent: hub key file=%s has no transport (curve) "
                        "public key err=IH_E_KEY",
                        config->hub_key);
            goto cleanup;
        }
        if (!ih_key_has_curve_secret (self->key)) {
            zsys_error ("agent: key file=%s has no transport (curve) secret "
                        "key, which CURVE to the hub needs; make the site's "
                        "keys with incuhub keygen err=IH_E_KEY",
                        config->key);
            goto cleanup;
        }
        self->curve = true;
    } else if (!ih_curve_local (config->hub)) {
        zsys_error ("agent: hub %s is not local: set hub_key (CURVE) "
                    "err=IH_E_CONFIG",
                    config->hub);
        goto cleanup;
    } else
        zsys_warning ("agent: plain-text transport to hub=%s (development "
                      "only)",
                      config->hub);
    self->outbox =
        ih_outbox_new (config->outbox, self->site, config->outbox_map, &err);
    if (!self->outbox) {
        //  Keep to the documented codes: a bad site id is configuration,
        //  a directory problem is storage (the log line says which).
        if (err == IH_E_BADARG)
            err = IH_E_CONFIG;
        else if (err != IH_E_WRONGSITE)
            err = IH_E_STORE;
        goto cleanup;
    }
    self->acked = ih_outbox_acked (self->outbox);
    self->deleted = self->acked;
    self->next_send = self->acked + 1;

    err = IH_E_CONFIG;
    if (config->listen) {
        self->router = zsock_new (ZMQ_ROUTER);
        assert (self->router);
        zsock_set_maxmsgsize (self->router, IH_WIRE_MAX);
        //  A client that vanished must never block the actor.
        zsock_set_sndtimeo (self->router, 0);
        if (zsock_bind (self->router, "%s", config->listen) == -1) {
            zsys_error ("agent: cannot bind listen=%s err=%s", config->listen,
                        zmq_strerror (zmq_errno ()));
            goto cleanup;
        }
        self->listen = zsock_last_endpoint (self->router);
    }

    self->dealer = zsock_new (ZMQ_DEALER);
    assert (self->dealer);
    zsock_set_maxmsgsize (self->dealer, IH_WIRE_MAX);
    //  Heartbeats detect a hub or link that died silently; the resulting
    //  disconnect makes us stop sending and rewind on the next connect.
    zsock_set_heartbeat_ivl (self->dealer, 1000);
    zsock_set_heartbeat_timeout (self->dealer, 3000);
    zsock_set_heartbeat_ttl (self->dealer, 6000);
    zsock_set_reconnect_ivl (self->dealer, 100);
    zsock_set_reconnect_ivl_max (self->dealer, 1000);
    //  immediate stays 0 (deliberately): the connecting DEALER then owns
    //  its pipe from zmq_connect on, across reconnects. Sends never fail
    //  just because the TCP link is down for a moment, and the monitor's
    //  CONNECTED (TCP level, before the ZMTP handshake) is a safe moment to
    //  send. What was queued while disconnected goes out after the
    //  reconnect, ahead of our rewind's resend: the hub ACKs those
    //  duplicates or NAKs them with GAP, which the rewind-storm guard
    //  absorbs. We stop sending while disconnected, so at most about two
    //  windows sit in the queue; SNDHWM leaves room for that, and the send
    //  timeout 0 makes a full queue a retry later, never a blocked actor.
    //  Correctness never depends on the queue: the outbox is the truth.
    zsock_set_immediate (self->dealer, 0);
    zsock_set_sndhwm (self->dealer, (int) (self->window * 4 + 64));
    zsock_set_sndtimeo (self->dealer, 0);
    zsock_set_linger (self->dealer, 0);
    if (self->curve) {
        err = ih_curve_client (self->dealer, self->key, hub_key);
        if (err) {
            zsys_error ("agent: cannot set up CURVE to hub=%s err=%s",
                        config->hub, ih_err_name (err));
            goto cleanup;
        }
        err = IH_E_CONFIG;
    }

    //  The redialer starts the monitor, then connects (so the first
    //  CONNECTED is not lost)
    self->redial = ih_redial_new (config->hub);
    if (ih_redial_dial (self->redial, self->dealer) == -1) {
        zsys_error ("agent: cannot connect hub=%s err=%s", config->hub,
                    zmq_strerror (zmq_errno ()));
        goto cleanup;
    }
    err = IH_OK;
cleanup:
    ih_key_destroy (&hub_key);
    if (err)
        s_self_destroy (&self);
    *err_p = err;
    return self;
}

//  ---------------------------------------------------------------------
//  Helpers

//  True (and updates *last_p) if a rate-limited line may be logged now.
static bool
s_may_log (int64_t *last_p)
{
    int64_t now = zclock_mono ();
    if (*last_p && now - *last_p < IH_AGENT_LOG_EVERY)
        return false;
    *last_p = now;
    return true;
}

static char *
s_status_text (s_self_t *self)
{
    uint64_t next_seq = ih_outbox_next_seq (self->outbox);
    uint64_t in_flight = self->next_send > self->acked + 1
                             ? self->next_send - 1 - self->acked
                             : 0;
    json_t *status = json_pack (
        "{s:s, s:I, s:I, s:I, s:I, s:b, s:s, s:s?, s:b, s:I, s:I, s:I, s:s}",
        "site", self->site, "next_seq", (json_int_t) next_seq, "backlog",
        (json_int_t) (next_seq - 1 - self->acked), "in_flight",
        (json_int_t) in_flight, "acked", (json_int_t) self->acked, "connected",
        self->connected, "hub", self->hub, "listen", self->listen, "blocked",
        self->retry_at != 0, "sent", (json_int_t) self->sent, "rewinds",
        (json_int_t) self->rewinds, "ack_timeout_ms",
        (json_int_t) self->ack_timeout, "transport",
        self->curve ? "curve" : "plaintext");
    assert (status);
    if (self->refusals)
        json_object_set_new (status, "refused",
                             json_string (ih_err_name (self->refused_code)));
    char *text = json_dumps (status, JSON_COMPACT);
    json_decref (status);
    assert (text);
    return text;
}

static void
s_rewind (s_self_t *self, uint64_t to)
{
    if (to <= self->acked)
        to = self->acked + 1;
    self->next_send = to;
    self->rewind_to = to;
    self->rewind_at = zclock_mono ();
    self->progress_at = self->rewind_at;
    self->rewinds++;
}

//  The hub has stored everything <= seq.
static void
s_advance (s_self_t *self, uint64_t seq)
{
    if (seq <= self->acked)
        return;
    self->acked = seq;
    if (self->next_send <= seq)
        self->next_send = seq + 1;
    self->progress_at = zclock_mono ();
    if (self->ack_timeout != self->ack_timeout_base) {
        zsys_info ("forward: ACK progress site=%s acked=%" PRIu64
                   ", ack timeout back to %" PRId64 "ms",
                   self->site, seq, self->ack_timeout_base);
        self->ack_timeout = self->ack_timeout_base;
    }
    if (!self->delete_at)
        self->delete_at = self->progress_at + IH_AGENT_DELETE_DELAY;
    if (self->refusals && seq >= self->refused_seq) {
        zsys_notice ("forward: site=%s hub accepted seq=%" PRIu64
                     " after %" PRIu64 " refusals",
                     self->site, self->refused_seq, self->refusals);
        self->refusals = 0;
        self->refused_code = IH_OK;
        self->backoff = 0;
        self->retry_at = 0; //  the cause is gone: no need to wait
    }
}

//  Deletes acknowledged events, a chunk per transaction. On IH_E_FULL the
//  chunk is halved and retried at once (a smaller delete needs fewer new
//  pages, and each success frees pages for the next); it doubles back
//  after each success. Only a failure at one event, or another error,
//  waits before retrying.
static void
s_flush_deletes (s_self_t *self, bool all)
{
    int chunks = 0;
    while (self->acked > self->deleted && (all || chunks < 4)) {
        uint64_t upto = self->acked;
        if (upto - self->deleted > self->delete_chunk)
            upto = self->deleted + self->delete_chunk;
        ih_err_t err = ih_outbox_ack_upto (self->outbox, upto);
        if (err == IH_E_FULL && self->delete_chunk > 1) {
            self->delete_chunk /= 2;
            zsys_notice ("agent: outbox full while deleting site=%s "
                         "upto=%" PRIu64 ", retrying %" PRIu64
                         " event(s) at a time",
                         self->site, upto, self->delete_chunk);
            continue;
        }
        if (err) {
            //  Not durability-critical: the events are resent (and
            //  deduplicated) after a restart. Try again later.
            if (s_may_log (&self->store_log_at))
                zsys_warning ("agent: cannot delete acked events site=%s "
                              "upto=%" PRIu64 " err=%s",
                              self->site, upto, ih_err_name (err));
            self->delete_at = zclock_mono () + IH_AGENT_DELETE_DELAY * 10;
            return;
        }
        self->deleted = upto;
        if (self->delete_chunk < IH_AGENT_DELETE_CHUNK)
            self->delete_chunk *= 2;
        chunks++;
    }
    self->delete_at = self->acked > self->deleted ? zclock_mono () + 10 : 0;
}

//  ---------------------------------------------------------------------
//  Forwarding

static int
s_send_one (uint64_t seq, const uint8_t *bytes, size_t size, void *arg)
{
    s_self_t *self = (s_self_t *) arg;
    if (seq != self->next_send) {
        //  A hole in the outbox: cannot happen unless it was tampered with.
        if (s_may_log (&self->store_log_at))
            zsys_error ("forward: outbox of site=%s lacks seq=%" PRIu64
                        ", stream stopped; needs an operator",
                        self->site, self->next_send);
        return 1;
    }
    zmsg_t *msg = ih_wire_event (bytes, size);
    if (zmsg_send (&msg, self->dealer) != 0) {
        zmsg_destroy (&msg);
        self->send_retry_at = zclock_mono () + IH_AGENT_SEND_RETRY;
        return 1;
    }
    if (self->next_send == self->acked + 1)
        self->progress_at = zclock_mono (); //  window was empty
    self->next_send++;
    if (seq > self->max_sent)
        self->max_sent = seq;
    self->sent++;
    return 0;
}

static void
s_send_window (s_self_t *self)
{
    if (!self->connected || self->retry_at || self->send_retry_at)
        return;
    uint64_t last = ih_outbox_next_seq (self->outbox) - 1;
    uint64_t limit = self->acked + self->window;
    if (limit > last)
        limit = last;
    if (self->next_send > limit)
        return;
    ih_err_t err =
        ih_outbox_iterate (self->outbox, self->next_send,
                           limit - self->next_send + 1, s_send_one, self);
    if (err && s_may_log (&self->store_log_at))
        zsys_error ("forward: cannot read outbox site=%s err=%s", self->site,
                    ih_err_name (err));
}

static void
s_handle_gap (s_self_t *self, ih_wire_t *nak)
{
    uint64_t expected = nak->expected;
    if (expected == 0 || expected - 1 > self->max_sent) {
        if (s_may_log (&self->gap_log_at))
            zsys_error ("forward: hub NAK site=%s seq=%" PRIu64
                        " err=IH_E_GAP expected=%" PRIu64
                        " beyond what was sent (max_sent=%" PRIu64 ")",
                        self->site, nak->seq, expected, self->max_sent);
        return;
    }
    if (expected <= self->acked) {
        //  The hub lacks events it had acknowledged: restored from a
        //  backup? We may have deleted them already; an operator must look.
        if (s_may_log (&self->gap_log_at))
            zsys_error (
                "forward: hub NAK site=%s err=IH_E_GAP expected=%" PRIu64
                " but acked=%" PRIu64 ": hub lost acknowledged events",
                self->site, expected, self->acked);
        return;
    }
    s_advance (self, expected - 1);
    //  One lost event makes the hub NAK every event behind it: rewind once
    //  per ack_timeout for the same expected seq, not once per NAK.
    int64_t now = zclock_mono ();
    if (self->rewind_to == expected &&
        now - self->rewind_at < self->ack_timeout)
        return;
    zsys_info ("forward: NAK site=%s seq=%" PRIu64
               " err=IH_E_GAP expected=%" PRIu64 ", resending",
               self->site, nak->seq, expected);
    s_rewind (self, expected);
}

//  What an operator can do about a refusal, for the log line.
static const char *
s_refusal_hint (ih_err_t code)
{
    switch (code) {
    case IH_E_DENIED:
        return "; the registry does not let this site's kind publish this "
               "type (the bureau can change it: incuhub site permit)";
    case IH_E_IMPERSONATE:
        return "; the hub authenticated this connection as another site: "
               "is the agent's key file this site's?";
    case IH_E_REVOKED:
        return "; this site's key is revoked: nothing it signed from here on "
               "is accepted; the bureau must register a new key for the "
               "site (incuhub site rotate)";
    case IH_E_UNKNOWN_SITE:
        return "; the site is not in the registry (incuhub site add)";
    case IH_E_BADSIG:
        return "; the signature does not verify with the registered key "
               "for this seq (rotated? wrong key file?)";
    default:
        return "";
    }
}

static void
s_handle_refusal (s_self_t *self, ih_wire_t *nak)
{
    uint64_t seq = nak->seq ? nak->seq : self->acked + 1;
    if (self->refusals &&
        (seq != self->refused_seq || nak->code != self->refused_code))
        self->refusals = 0; //  a different event or cause: a new story
    self->refused_seq = seq;
    self->refused_code = nak->code;
    self->refusals++;
    self->backoff = self->backoff ? self->backoff * 2 : IH_AGENT_BACKOFF_MIN;
    if (self->backoff > IH_AGENT_BACKOFF_MAX)
        self->backoff = IH_AGENT_BACKOFF_MAX;
    self->retry_at = zclock_mono () + self->backoff;
    if (self->refusals == 1 || s_may_log (&self->refusal_log_at)) {
        if (self->refusals == 1)
            self->refusal_log_at = zclock_mono ();
        zsys_error ("forward: NAK site=%s seq=%" PRIu64
                    " err=%s reason=\"%s\" refusals=%" PRIu64
                    " retry_in=%" PRId64 "ms%s%s",
                    self->site, seq, ih_err_name (nak->code), nak->reason,
                    self->refusals, self->backoff, s_refusal_hint (nak->code),
                    self->refusals >= 3
                        ? "; the site's stream is blocked until an operator "
                          "fixes the cause"
                        : "");
    }
}

static void
s_handle_hub (s_self_t *self)
{
    for (int reads = 0; reads < IH_AGENT_MAX_HUB_READS; reads++) {
        if (!(zsock_events (self->dealer) & ZMQ_POLLIN))
            break;
        zmsg_t *msg = zmsg_recv (self->dealer);
        if (!msg)
            break;
        ih_wire_t wire;
        ih_err_t err = ih_wire_decode (msg, &wire);
        if (err) {
            if (s_may_log (&self->gap_log_at))
                zsys_warning ("forward: bad message from hub=%s err=%s",
                              self->hub, ih_err_name (err));
        } else if (wire.kind == IH_WIRE_ACK) {
            //  Believe an ACK only for what we sent (it may also be late,
            //  for an event sent before a rewind: still true).
            if (streq (wire.site, self->site) && wire.seq > self->acked &&
                wire.seq <= self->max_sent)
                s_advance (self, wire.seq);
            else if (!streq (wire.site, self->site) &&
                     s_may_log (&self->gap_log_at))
                zsys_warning ("forward: ACK for site=%s ignored", wire.site);
        } else if (wire.kind == IH_WIRE_NAK) {
            bool ours = wire.seq == 0 ||
                        (wire.seq > self->acked && wire.seq <= self->max_sent);
            if (wire.code == IH_E_GAP)
                s_handle_gap (self, &wire);
            else if (wire.code == IH_E_DUPLICATE) {
                if (ours && wire.seq)
                    s_advance (self, wire.seq);
            } else if (ours && !self->retry_at)
                s_handle_refusal (self, &wire);
        } else if (s_may_log (&self->gap_log_at))
            zsys_warning ("forward: unexpected message kind=%d from hub",
                          (int) wire.kind);
        zmsg_destroy (&msg);
    }
}

//  Monitor events. A connection that closed before its handshake
//  completed is not retried by libzmq (see the top of this file): the
//  redialer schedules our own reconnect, run by s_run_timers.
static void
s_handle_monitor (s_self_t *self)
{
    zsock_t *sock = zactor_sock (ih_redial_monitor (self->redial));
    while (zsock_events (sock) & ZMQ_POLLIN) {
        bool failing = ih_redial_failing (self->redial); //  until now
        ih_redial_event_t event = ih_redial_recv (self->redial);
        const char *name = ih_redial_event_name (self->redial);
        if (event == IH_REDIAL_NONE)
            break;
        if (event == IH_REDIAL_CONNECTED) {
            //  Quiet while the handshake keeps failing (reconnects)
            if (!self->connected && !failing)
                zsys_info ("forward: connected site=%s hub=%s", self->site,
                           self->hub);
            self->connected = true;
            //  Whatever was in flight on the old connection may be lost.
            s_rewind (self, self->acked + 1);
        } else if (event == IH_REDIAL_DISCONNECTED) {
            if (self->connected)
                zsys_info ("forward: disconnected site=%s hub=%s", self->site,
                           self->hub);
            self->connected = false;
        } else if (event == IH_REDIAL_SUCCEEDED) {
            if (failing)
                zsys_notice ("forward: %s handshake with hub=%s succeeded "
                             "site=%s",
                             self->curve ? "CURVE" : "plain-text", self->hub,
                             self->site);
        } else if (event == IH_REDIAL_FAILED) {
            //  libzmq drops the connection for good: stop sending until
            //  the next CONNECTED (after our redial), and say why, loudly
            self->connected = false;
            if (ih_redial_may_log (self->redial))
                zsys_error (
                    "forward: %s handshake with hub=%s failed site=%s "
                    "event=%s: %s",
                    self->curve ? "CURVE" : "plain-text", self->hub, self->site,
                    name,
                    streq (name, "HANDSHAKE_FAILED_AUTH")
                        ? "the hub refused our key (is the site registered "
                          "with this key's transport key, and not revoked?)"
                    : self->curve ? "wrong hub_key, or the hub does not "
                                    "speak CURVE?"
                                  : "the hub wants CURVE: set hub_key");
        }
    }
}

//  ---------------------------------------------------------------------
//  Accepting: group commit of PUBLISH requests

static void
s_batch_push (s_self_t *self, s_req_kind_t kind, zframe_t **identity_p,
              ih_err_t code, uint64_t seq)
{
    assert (self->batch_size < IH_AGENT_MAX_BATCH);
    s_req_t *req = &self->batch[self->batch_size++];
    req->kind = kind;
    req->identity = identity_p ? *identity_p : NULL;
    if (identity_p)
        *identity_p = NULL;
    req->code = code;
    req->seq = seq;
    req->tag_size = 0;
}

//  Remembers the request tag of the last pushed request, to echo it.
static void
s_batch_tag (s_self_t *self, const ih_wire_t *wire)
{
    assert (self->batch_size > 0);
    s_req_t *req = &self->batch[self->batch_size - 1];
    if (wire->tag && wire->tag_size <= IH_WIRE_TAG_MAX) {
        memcpy (req->tag, wire->tag, wire->tag_size);
        req->tag_size = wire->tag_size;
    }
}

//  Adds one event to the open batch, opening it on first use.
static ih_err_t
s_publish (s_self_t *self, bool *open_p, const char *type, const uint8_t *data,
           size_t size, uint64_t *seq_p)
{
    if (!*open_p) {
        ih_err_t err = ih_outbox_begin (self->outbox);
        if (err)
            return err;
        *open_p = true;
    }
    ih_err_t err =
        ih_outbox_add (self->outbox, self->key, type, data, size, seq_p);
    if (err && err != IH_E_BADNAME && err != IH_E_MALFORMED &&
        err != IH_E_TOOBIG && s_may_log (&self->store_log_at))
        zsys_error ("agent: cannot add to outbox site=%s type=%s err=%s",
                    self->site, type, ih_err_name (err));
    return err;
}

static void
s_recv_local (s_self_t *self, bool *open_p)
{
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return;
    zframe_t *identity = zmsg_pop (msg);
    if (!identity || zmsg_size (msg) == 0) {
        zframe_destroy (&identity);
        zmsg_destroy (&msg);
        return;
    }
    ih_wire_t wire;
    ih_err_t err = ih_wire_decode (msg, &wire);
    if (err) {
        s_batch_push (self, S_REQ_NAK, &identity, err, 0);
        s_batch_tag (self, &wire); //  a bad PUBLISH may still have a tag
    } else if (wire.kind == IH_WIRE_PUBLISH) {
        uint64_t seq = 0;
        err = s_publish (self, open_p, wire.type, wire.data, wire.data_size,
                         &seq);
        s_batch_push (self, S_REQ_PUBLISH, &identity, err, seq);
        s_batch_tag (self, &wire);
    } else if (wire.kind == IH_WIRE_STATUS && wire.json_size == 0)
        s_batch_push (self, S_REQ_STATUS, &identity, IH_OK, 0);
    else
        s_batch_push (self, S_REQ_NAK, &identity, IH_E_COMMAND, 0);
    zmsg_destroy (&msg);
}

static void
s_recv_pipe (s_self_t *self, bool *open_p)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg)
        return;
    char *command = zmsg_popstr (msg);
    assert (command);
    if (streq (command, "$TERM"))
        self->terminated = true;
    else if (streq (command, "PUBLISH")) {
        char *type = zmsg_popstr (msg);
        zframe_t *data = zmsg_pop (msg);
        assert (type && data);
        uint64_t seq = 0;
        ih_err_t err = s_publish (self, open_p, type, zframe_data (data),
                                  zframe_size (data), &seq);
        s_batch_push (self, S_REQ_PUBLISH, NULL, err, seq);
        zstr_free (&type);
        zframe_destroy (&data);
    } else if (streq (command, "STATUS"))
        s_batch_push (self, S_REQ_STATUS, NULL, IH_OK, 0);
    else
        assert (false); //  programmer error on the internal pipe
    zstr_free (&command);
    zmsg_destroy (&msg);
}

static void
s_reply (s_self_t *self, s_req_t *req)
{
    if (!req->identity) {
        if (req->kind == S_REQ_STATUS) {
            char *text = s_status_text (self);
            zstr_send (self->pipe, text);
            free (text);
        } else
            zsock_send (self->pipe, "48", (uint32_t) req->code, req->seq);
        return;
    }
    zmsg_t *reply;
    if (req->kind == S_REQ_STATUS) {
        char *text = s_status_text (self);
        reply = ih_wire_status_reply (text);
        free (text);
    } else {
        if (req->code == IH_OK)
            reply = ih_wire_confirm (self->site, req->seq);
        else if (req->code == IH_E_FULL)
            reply = ih_wire_nak (req->code,
                                 "outbox full: the hub has not acknowledged "
                                 "enough events yet; retry later",
                                 self->site, 0, 0);
        else
            reply = ih_wire_nak (req->code, NULL, self->site, 0, 0);
        ih_wire_set_tag (reply, req->tag, req->tag_size);
    }
    zmsg_prepend (reply, &req->identity);
    //  ROUTER drops replies to peers that are gone; never blocks (sndtimeo 0)
    if (zmsg_send (&reply, self->router) != 0)
        zmsg_destroy (&reply);
}

//  Drains readable requests into one outbox transaction, commits it, then
//  answers every request in arrival order.
static void
s_handle_requests (s_self_t *self)
{
    bool open = false;
    self->batch_size = 0;
    while (self->batch_size < IH_AGENT_MAX_BATCH) {
        bool any = false;
        if (self->router && (zsock_events (self->router) & ZMQ_POLLIN)) {
            s_recv_local (self, &open);
            any = true;
        }
        if (!self->terminated && self->batch_size < IH_AGENT_MAX_BATCH &&
            (zsock_events (self->pipe) & ZMQ_POLLIN)) {
            s_recv_pipe (self, &open);
            any = true;
        }
        if (!any)
            break;
    }
    if (open) {
        ih_err_t err = ih_outbox_commit (self->outbox);
        if (err) {
            //  Nothing of this batch is durable: nobody gets a CONFIRM.
            zsys_error ("agent: outbox commit failed site=%s err=%s",
                        self->site, ih_err_name (err));
            for (size_t i = 0; i < self->batch_size; i++)
                if (self->batch[i].kind == S_REQ_PUBLISH &&
                    self->batch[i].code == IH_OK) {
                    self->batch[i].code = err;
                    self->batch[i].seq = 0;
                }
        }
    }
    for (size_t i = 0; i < self->batch_size; i++)
        s_reply (self, &self->batch[i]);
    self->batch_size = 0;
}

//  ---------------------------------------------------------------------
//  Timers: every deadline is either in the future or disarmed on return,
//  so the next poll timeout is never zero.

static void
s_run_timers (s_self_t *self)
{
    int64_t now = zclock_mono ();
    if (self->send_retry_at && now >= self->send_retry_at)
        self->send_retry_at = 0;
    if (self->retry_at && now >= self->retry_at) {
        self->retry_at = 0;
        s_rewind (self, self->acked + 1);
    }
    if (self->connected && !self->retry_at &&
        self->next_send > self->acked + 1 &&
        now - self->progress_at >= self->ack_timeout) {
        //  Consecutive timeouts without ACK progress double the timeout,
        //  so a slow hub gets one window resent per (growing) period
        //  instead of one every ack_timeout_base ms.
        int64_t waited = now - self->progress_at;
        self->ack_timeout *= 2;
        if (self->ack_timeout > self->ack_timeout_max)
            self->ack_timeout = self->ack_timeout_max;
        zsys_info ("forward: no ACK for %" PRId64 "ms site=%s acked=%" PRIu64
                   ", resending; next ack timeout %" PRId64 "ms",
                   waited, self->site, self->acked, self->ack_timeout);
        s_rewind (self, self->acked + 1);
    }
    if (self->delete_at && now >= self->delete_at)
        s_flush_deletes (self, false);
    if (ih_redial_due (self->redial)) {
        zsys_info ("forward: reconnecting site=%s hub=%s (the last "
                   "connection closed before its handshake completed)",
                   self->site, self->hub);
        ih_redial_run (self->redial);
    }
    s_send_window (self);
}

static int
s_poll_timeout (s_self_t *self)
{
    int64_t next = INT64_MAX;
    if (self->send_retry_at)
        next = self->send_retry_at;
    if (self->retry_at && self->retry_at < next)
        next = self->retry_at;
    if (self->delete_at && self->delete_at < next)
        next = self->delete_at;
    int64_t redial_at = ih_redial_at (self->redial);
    if (redial_at && redial_at < next)
        next = redial_at;
    if (self->connected && !self->retry_at &&
        self->next_send > self->acked + 1 &&
        self->progress_at + self->ack_timeout < next)
        next = self->progress_at + self->ack_timeout;
    if (next == INT64_MAX)
        return -1;
    int64_t wait = next - zclock_mono ();
    if (wait < 1)
        wait = 1;
    if (wait > 60000)
        wait = 60000;
    return (int) wait;
}

static void
s_actor (zsock_t *pipe, void *args)
{
    s_self_t *self = (s_self_t *) args;
    self->pipe = pipe;
    self->poller = zpoller_new (pipe, NULL);
    assert (self->poller);
    if (self->router)
        zpoller_add (self->poller, self->router);
    zpoller_add (self->poller, self->dealer);
    zpoller_add (self->poller, ih_redial_monitor (self->redial));
    //  The embedding application decides when we stop ($TERM), not SIGINT.
    zpoller_set_nonstop (self->poller, true);
    zsock_signal (pipe, 0);

    while (!self->terminated) {
        zpoller_wait (self->poller, s_poll_timeout (self));
        //  Look at every socket on each wakeup so no source starves.
        if ((zsock_events (pipe) & ZMQ_POLLIN) ||
            (self->router && (zsock_events (self->router) & ZMQ_POLLIN)))
            s_handle_requests (self);
        if (zsock_events (zactor_sock (ih_redial_monitor (self->redial))) &
            ZMQ_POLLIN)
            s_handle_monitor (self);
        if (zsock_events (self->dealer) & ZMQ_POLLIN)
            s_handle_hub (self);
        s_run_timers (self);
    }
    s_flush_deletes (self, true);
    s_self_destroy (&self);
}

//  ---------------------------------------------------------------------
//  Public API

ih_agent_t *
ih_agent_new (const ih_agent_config_t *config, ih_err_t *err_p)
{
    assert (config);
    ih_err_t err;
    s_self_t *state = s_self_new (config, &err);
    if (err_p)
        *err_p = err;
    if (!state)
        return NULL;
    ih_agent_t *self = (ih_agent_t *) zmalloc (sizeof (ih_agent_t));
    if (state->listen)
        self->endpoint = strdup (state->listen);
    pthread_mutex_init (&self->mutex, NULL);
    zsys_info ("agent: started site=%s hub=%s next_seq=%" PRIu64
               " acked=%" PRIu64,
               state->site, state->hub, ih_outbox_next_seq (state->outbox),
               state->acked);
    //  The actor owns state from here on and frees it when it ends.
    self->actor = zactor_new (s_actor, state);
    assert (self->actor);
    return self;
}

void
ih_agent_destroy (ih_agent_t **self_p)
{
    assert (self_p);
    ih_agent_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy (&self->actor);
    pthread_mutex_destroy (&self->mutex);
    zstr_free (&self->endpoint);
    free (self);
    *self_p = NULL;
}

const char *
ih_agent_endpoint (ih_agent_t *self)
{
    assert (self);
    return self->endpoint;
}

ih_err_t
ih_agent_publish (ih_agent_t *self, const char *type, const uint8_t *data,
                  size_t size, uint64_t *seq_p)
{
    assert (self);
    if (!type || strlen (type) > IH_NAME_MAX)
        return IH_E_BADNAME;
    if (!data || size == 0)
        return IH_E_MALFORMED;
    if (size > IH_EVENT_MAX)
        return IH_E_TOOBIG;
    pthread_mutex_lock (&self->mutex);
    uint32_t code = IH_E_INTERNAL;
    uint64_t seq = 0;
    int rc = zsock_send (self->actor, "ssb", "PUBLISH", type, data, size);
    //  Once sent, the reply must be read, or the next call would get it:
    //  retry a receive interrupted by a signal.
    if (rc == 0)
        while (zsock_recv (self->actor, "48", &code, &seq) == -1 &&
               zmq_errno () == EINTR)
            ;
    pthread_mutex_unlock (&self->mutex);
    if (code == IH_OK && seq_p)
        *seq_p = seq;
    return (ih_err_t) code;
}

json_t *
ih_agent_status (ih_agent_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->mutex);
    char *text = NULL;
    if (zstr_send (self->actor, "STATUS") == 0)
        while (!(text = zstr_recv (self->actor)) && zmq_errno () == EINTR)
            ;
    pthread_mutex_unlock (&self->mutex);
    json_t *status = text ? json_loads (text, 0, NULL) : NULL;
    zstr_free (&text);
    return status;
}

//  ---------------------------------------------------------------------
//  Selftest
//  The selftest asserts on results (with side effects), so keep assert live
//  even in release builds (RelWithDebInfo defines NDEBUG).
#undef NDEBUG
#include <assert.h>

//  A stand-in for hub ingest: stores each site event in order, ACKs it,
//  ACKs duplicates, NAKs gaps; can lose or refuse one delivery.
typedef struct {
    zsock_t *router;                 //  bound where the agent connects
    const uint8_t *public_key;       //  the site's key
    uint64_t stored;                 //  last stored seq
    uint8_t last_hash[IH_HASH_SIZE]; //  hash of the last stored event
    uint64_t drop_once;              //  ignore the first delivery of this
    uint64_t refuse_once;            //  NAK the first delivery of this
    ih_err_t refuse_code;            //  with this code (0: IH_E_STORE)
    uint64_t gaps;                   //  GAP NAKs sent
    uint64_t dups;                   //  duplicates ACKed
} s_hub_t;

static void
s_hub_bind (s_hub_t *hub, const char *endpoint)
{
    hub->router = zsock_new (ZMQ_ROUTER);
    assert (hub->router);
    assert (zsock_bind (hub->router, "%s", endpoint) == 0);
}

static void
s_hub_handle (s_hub_t *hub)
{
    zmsg_t *msg = zmsg_recv (hub->router);
    assert (msg);
    zframe_t *identity = zmsg_pop (msg);
    ih_wire_t wire;
    assert (ih_wire_decode (msg, &wire) == IH_OK);
    assert (wire.kind == IH_WIRE_EVENT);
    ih_event_t event;
    assert (ih_event_decode (wire.event, wire.event_size, &event) == IH_OK);
    assert (ih_event_verify (wire.event, wire.event_size, hub->public_key) ==
            IH_OK);
    zmsg_t *reply = NULL;
    if (event.seq == hub->drop_once)
        hub->drop_once = 0;
    else if (event.seq == hub->refuse_once && event.seq == hub->stored + 1) {
        hub->refuse_once = 0;
        reply = ih_wire_nak (hub->refuse_code ? hub->refuse_code : IH_E_STORE,
                             NULL, event.site, event.seq, 0);
    } else if (event.seq <= hub->stored) {
        hub->dups++;
        reply = ih_wire_ack (event.site, event.seq, event.seq);
    } else if (event.seq == hub->stored + 1) {
        //  The chain links across batches, restarts and deletes
        assert (memcmp (event.prev, hub->last_hash, IH_HASH_SIZE) == 0);
        ih_event_hash (wire.event, wire.event_size, hub->last_hash);
        hub->stored = event.seq;
        reply = ih_wire_ack (event.site, event.seq, event.seq);
    } else {
        hub->gaps++;
        reply = ih_wire_nak (IH_E_GAP, NULL, event.site, event.seq,
                             hub->stored + 1);
    }
    if (reply) {
        zmsg_prepend (reply, &identity);
        zmsg_send (&reply, hub->router);
    }
    zframe_destroy (&identity);
    zmsg_destroy (&msg);
}

static int64_t
s_status_int (ih_agent_t *agent, const char *name)
{
    json_t *status = ih_agent_status (agent);
    assert (status);
    json_t *value = json_object_get (status, name);
    assert (value);
    int64_t result = json_is_boolean (value) ? json_is_true (value)
                                             : json_integer_value (value);
    json_decref (status);
    return result;
}

//  Serves the agent until the hub stored `want` and the agent's backlog is
//  empty, or the deadline passes. Returns true on success.
static bool
s_hub_serve (s_hub_t *hub, ih_agent_t *agent, uint64_t want, int64_t ms)
{
    zpoller_t *poller = zpoller_new (hub->router, NULL);
    int64_t deadline = zclock_mono () + ms;
    bool done = false;
    while (!done && zclock_mono () < deadline) {
        if (zpoller_wait (poller, 20))
            while (zsock_events (hub->router) & ZMQ_POLLIN)
                s_hub_handle (hub);
        done = hub->stored == want && s_status_int (agent, "backlog") == 0 &&
               s_status_int (agent, "in_flight") == 0;
    }
    zpoller_destroy (&poller);
    return done;
}

//  Waits until the agent's connected flag equals want.
static bool
s_wait_connected (ih_agent_t *agent, bool want, int64_t ms)
{
    int64_t deadline = zclock_mono () + ms;
    zsock_t *idle = zsock_new (ZMQ_PAIR); //  a socket to wait on, 10 ms
    zpoller_t *poller = zpoller_new (idle, NULL);
    bool done = false;
    while (!(done = s_status_int (agent, "connected") == want) &&
           zclock_mono () < deadline)
        zpoller_wait (poller, 10);
    zpoller_destroy (&poller);
    zsock_destroy (&idle);
    return done;
}

static void
s_test_payload (int n, uint8_t **out_p, size_t *size_p)
{
    json_t *object =
        json_pack ("{s:s, s:i}", "enterprise", "qd-startup", "n", n);
    assert (object);
    assert (ih_json_to_msgpack (object, out_p, size_p) == IH_OK);
    json_decref (object);
}

//  Sends one request on the local client and decodes the reply.
static zmsg_t *
s_client_call (zsock_t *client, zmsg_t **request_p, ih_wire_t *wire)
{
    assert (zmsg_send (request_p, client) == 0);
    zmsg_t *reply = zmsg_recv (client);
    assert (reply);
    assert (ih_wire_decode (reply, wire) == IH_OK);
    return reply;
}

//  Copies a secret key file without its curve-* lines into path (mode
//  0600, in a new directory): a key file from before issue 4.
static void
s_strip_curve (const char *from, const char *path)
{
    char *dir = strdup (path);
    assert (dir);
    *strrchr (dir, '/') = 0;
    assert (mkdir (dir, 0700) == 0);
    free (dir);
    FILE *in = fopen (from, "r");
    assert (in);
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert (fd >= 0);
    FILE *out = fdopen (fd, "w");
    assert (out);
    char line[512];
    while (fgets (line, sizeof line, in))
        if (!strstr (line, "curve-"))
            fputs (line, out);
    fclose (in);
    fclose (out);
}

//  CURVE to a stand-in hub over loopback TCP whose ZAP handler (zauth)
//  first knows no client key, then accepts any: the agent's handshake is
//  refused, libzmq gives up on that connection, the agent reconnects by
//  itself once the key is "registered" and drains. A second agent holding
//  a wrong hub key never gets through.
static void
s_test_curve (bool verbose, const char *tmp, const char *key_file,
              ih_key_t *hub_key, const char *hub_pub_file)
{
    zactor_t *auth = zactor_new (zauth, NULL);
    assert (auth);
    if (verbose) {
        zstr_send (auth, "VERBOSE");
        zsock_wait (auth);
    }
    char *no_certs = zsys_sprintf ("%s/no-certs", tmp);
    assert (mkdir (no_certs, 0700) == 0);
    zstr_sendx (auth, "CURVE", no_certs, NULL); //  knows no client key
    zsock_wait (auth);

    s_hub_t hub = {0};
    ih_key_t *site_key = NULL;
    assert (ih_key_load (key_file, &site_key) == IH_OK);
    hub.public_key = ih_key_public (site_key);
    hub.router = zsock_new (ZMQ_ROUTER);
    assert (hub.router);
    assert (ih_curve_server (hub.router, hub_key, IH_CURVE_DOMAIN_INGEST) ==
            IH_OK);
    int port = zsock_bind (hub.router, "tcp://127.0.0.1:*");
    assert (port > 0);
    char *hub_ep = zsys_sprintf ("tcp://127.0.0.1:%d", port);
    char *outbox_dir = zsys_sprintf ("%s/outbox-curve", tmp);

    ih_agent_config_t config = {0};
    config.site = "laoshan-inc-01";
    config.key = key_file;
    config.hub = hub_ep;
    config.hub_key = hub_pub_file;
    config.outbox = outbox_dir;
    config.ack_timeout = 300;
    ih_err_t err;
    ih_agent_t *agent = ih_agent_new (&config, &err);
    assert (agent && err == IH_OK);
    json_t *status = ih_agent_status (agent);
    assert (streq (json_string_value (json_object_get (status, "transport")),
                   "curve"));
    json_decref (status);
    uint8_t *data;
    size_t size;
    s_test_payload (7, &data, &size);
    for (uint64_t i = 1; i <= 3; i++) {
        uint64_t seq = 0;
        assert (ih_agent_publish (agent, "enterprise.admitted", data, size,
                                  &seq) == IH_OK);
        assert (seq == i);
    }
    assert (!s_hub_serve (&hub, agent, 3, 500)); //  refused
    assert (hub.stored == 0);
    zstr_sendx (auth, "CURVE", CURVE_ALLOW_ANY, NULL); //  now registered
    zsock_wait (auth);
    assert (s_hub_serve (&hub, agent, 3, 20000));
    ih_agent_destroy (&agent);

    //  A wrong hub key: the handshake fails, nothing reaches the hub
    ih_key_t *impostor = ih_key_new ("qd-hub");
    char *impostor_dir = zsys_sprintf ("%s/impostor", tmp);
    assert (mkdir (impostor_dir, 0700) == 0);
    assert (ih_key_save (impostor, impostor_dir) == IH_OK);
    char *impostor_pub = zsys_sprintf ("%s/qd-hub.pub", impostor_dir);
    config.hub_key = impostor_pub;
    agent = ih_agent_new (&config, &err);
    assert (agent && err == IH_OK);
    uint64_t seq = 0;
    assert (ih_agent_publish (agent, "enterprise.admitted", data, size, &seq) ==
            IH_OK);
    assert (seq == 4);
    assert (!s_hub_serve (&hub, agent, 4, 1500));
    assert (hub.stored == 3);
    ih_agent_destroy (&agent);

    free (data);
    ih_key_destroy (&impostor);
    ih_key_destroy (&site_key);
    zsock_destroy (&hub.router);
    zactor_destroy (&auth);
    zstr_free (&impostor_pub);
    zstr_free (&no_certs);
    zstr_free (&impostor_dir);
    zstr_free (&hub_ep);
    zstr_free (&outbox_dir);
}

void
ih_agent_test (bool verbose)
{
    if (verbose)
        printf (" * ih_agent: ");
    char tmpl[] = "/tmp/ih_agent_test.XXXXXX";
    char *tmp = mkdtemp (tmpl);
    assert (tmp);
    ih_key_t *key = ih_key_new ("laoshan-inc-01");
    ih_key_t *other = ih_key_new ("shinan-district");
    assert (ih_key_save (key, tmp) == IH_OK);
    assert (ih_key_save (other, tmp) == IH_OK);
    char *key_file = zsys_sprintf ("%s/laoshan-inc-01.key", tmp);
    char *other_file = zsys_sprintf ("%s/shinan-district.key", tmp);
    char *outbox_dir = zsys_sprintf ("%s/outbox", tmp);
    char *hub_ep = zsys_sprintf ("ipc://%s/hub.sock", tmp);
    //  The hub's keys, and the site's key file without its transport part
    //  (as written before issue 4)
    ih_key_t *hub_key = ih_key_new ("qd-hub");
    assert (ih_key_save (hub_key, tmp) == IH_OK);
    char *hub_pub_file = zsys_sprintf ("%s/qd-hub.pub", tmp);
    char *nocurve_file = zsys_sprintf ("%s/old/laoshan-inc-01.key", tmp);
    s_strip_curve (key_file, nocurve_file);
    char *listen_ep = zsys_sprintf ("ipc://%s/agent.sock", tmp);
    uint8_t *data;
    size_t size;
    s_test_payload (1, &data, &size);

    //  Set-up errors are reported
    ih_agent_config_t config = {0};
    ih_err_t err;
    assert (!ih_agent_new (&config, &err) && err == IH_E_CONFIG);
    config.site = "laoshan-inc-01";
    config.key = "/nonexistent/laoshan-inc-01.key";
    config.hub = hub_ep;
    config.outbox = outbox_dir;
    config.ack_timeout = 300;
    assert (!ih_agent_new (&config, &err) && err == IH_E_KEY);
    config.key = other_file;
    assert (!ih_agent_new (&config, &err) && err == IH_E_WRONGSITE);
    config.key = key_file;
    config.hub = "tcp://127.0.0.1:notaport";
    assert (!ih_agent_new (&config, &err) && err == IH_E_CONFIG);
    //  The transport rule: plain text only to a local hub; the listen
    //  socket local only; CURVE needs both transport keys
    config.hub = "tcp://10.1.2.3:5555";
    assert (!ih_agent_new (&config, &err) && err == IH_E_CONFIG);
    config.hub = hub_ep;
    config.listen = "tcp://*:7701";
    assert (!ih_agent_new (&config, &err) && err == IH_E_CONFIG);
    config.listen = NULL;
    config.hub_key = "/nonexistent/hub.pub";
    assert (!ih_agent_new (&config, &err) && err == IH_E_KEY);
    config.hub_key = hub_pub_file;
    config.key = nocurve_file;
    assert (!ih_agent_new (&config, &err) && err == IH_E_KEY);
    config.key = key_file;
    config.hub_key = NULL;

    //  No hub running: events are confirmed from the outbox
    config.listen = listen_ep;
    ih_agent_t *agent = ih_agent_new (&config, &err);
    assert (agent && err == IH_OK);
    assert (streq (ih_agent_endpoint (agent), listen_ep));
    const uint64_t count = 20;
    for (uint64_t i = 1; i <= count; i++) {
        uint64_t seq = 0;
        assert (ih_agent_publish (agent, "startup.admitted", data, size,
                                  &seq) == IH_OK);
        assert (seq == i);
    }
    assert (ih_agent_publish (agent, "Bad Type", data, size, NULL) ==
            IH_E_BADNAME);
    uint8_t not_a_map[1] = {0x01};
    assert (ih_agent_publish (agent, "t", not_a_map, 1, NULL) ==
            IH_E_MALFORMED);
    json_t *status = ih_agent_status (agent);
    assert (status);
    assert (json_integer_value (json_object_get (status, "backlog")) ==
            (json_int_t) count);
    assert (json_integer_value (json_object_get (status, "next_seq")) ==
            (json_int_t) count + 1);
    assert (json_is_false (json_object_get (status, "connected")));
    assert (streq (json_string_value (json_object_get (status, "site")),
                   "laoshan-inc-01"));
    json_decref (status);

    //  The listen socket: PUBLISH, STATUS, and NAKs for the rest
    zsock_t *client = zsock_new (ZMQ_DEALER);
    zsock_set_rcvtimeo (client, 10000);
    assert (zsock_connect (client, "%s", listen_ep) == 0);
    ih_wire_t wire;
    zmsg_t *request = ih_wire_publish ("mentor.joined", data, size);
    zmsg_t *reply = s_client_call (client, &request, &wire);
    assert (wire.kind == IH_WIRE_CONFIRM);
    assert (wire.seq == count + 1 && streq (wire.site, "laoshan-inc-01"));
    zmsg_destroy (&reply);
    request = ih_wire_status_request ();
    reply = s_client_call (client, &request, &wire);
    assert (wire.kind == IH_WIRE_STATUS && wire.json_size > 0);
    json_t *remote = json_loadb (wire.json, wire.json_size, 0, NULL);
    assert (remote);
    assert (json_integer_value (json_object_get (remote, "next_seq")) ==
            (json_int_t) count + 2);
    json_decref (remote);
    zmsg_destroy (&reply);
    request = ih_wire_publish ("Bad Type", data, size);
    reply = s_client_call (client, &request, &wire);
    assert (wire.kind == IH_WIRE_NAK && wire.code == IH_E_BADNAME);
    assert (wire.tag == NULL);
    zmsg_destroy (&reply);
    //  Tagged requests get their tag back, on CONFIRM and on NAK
    const uint8_t tag[8] = {0, 0, 0, 0, 0, 0, 0, 42};
    request = ih_wire_publish_tagged ("mentor.joined", data, size, tag, 8);
    reply = s_client_call (client, &request, &wire);
    assert (wire.kind == IH_WIRE_CONFIRM && wire.seq == count + 2);
    assert (wire.tag_size == 8 && memcmp (wire.tag, tag, 8) == 0);
    zmsg_destroy (&reply);
    request = ih_wire_publish_tagged ("Bad Type", data, size, tag, 3);
    reply = s_client_call (client, &request, &wire);
    assert (wire.kind == IH_WIRE_NAK && wire.code == IH_E_BADNAME);
    assert (wire.tag_size == 3 && memcmp (wire.tag, tag, 3) == 0);
    zmsg_destroy (&reply);
    request = ih_wire_publish ("t", data, size);
    zmsg_addmem (request, "", 0); //  an empty tag is malformed
    reply = s_client_call (client, &request, &wire);
    assert (wire.kind == IH_WIRE_NAK && wire.code == IH_E_MALFORMED);
    assert (wire.tag == NULL);
    zmsg_destroy (&reply);
    request = ih_wire_ack ("laoshan-inc-01", 1, 1);
    reply = s_client_call (client, &request, &wire);
    assert (wire.kind == IH_WIRE_NAK && wire.code == IH_E_COMMAND);
    zmsg_destroy (&reply);
    request = zmsg_new ();
    zmsg_addstr (request, "PUBLISH");
    reply = s_client_call (client, &request, &wire);
    assert (wire.kind == IH_WIRE_NAK && wire.code != IH_OK);
    zmsg_destroy (&reply);
    request = zmsg_new ();
    zmsg_addstr (request, "HELLO");
    reply = s_client_call (client, &request, &wire);
    assert (wire.kind == IH_WIRE_NAK && wire.code == IH_E_COMMAND);
    zmsg_destroy (&reply);
    zsock_destroy (&client);
    ih_agent_destroy (&agent);
    ih_agent_destroy (&agent);
    assert (agent == NULL);

    //  Re-created over the same outbox, sequences continue; a tcp listen
    //  endpoint is resolved to its port
    config.listen = "tcp://127.0.0.1:*";
    agent = ih_agent_new (&config, &err);
    assert (agent);
    assert (strncmp (ih_agent_endpoint (agent), "tcp://127.0.0.1:", 16) == 0);
    assert (!strchr (ih_agent_endpoint (agent), '*'));
    uint64_t seq = 0;
    assert (ih_agent_publish (agent, "t", data, size, &seq) == IH_OK);
    assert (seq == count + 3);
    uint64_t total = seq;

    //  A hub appears: the agent connects and drains, through a lost event
    //  (gap NAKs, rewind) and a refused one (backoff, retry)
    s_hub_t hub = {0};
    hub.public_key = ih_key_public (key);
    hub.drop_once = 5;
    hub.refuse_once = 12;
    s_hub_bind (&hub, hub_ep);
    assert (s_wait_connected (agent, true, 10000));
    assert (s_hub_serve (&hub, agent, total, 20000));
    assert (hub.gaps > 0);
    assert (s_status_int (agent, "acked") == (int64_t) total);

    //  A lost last event is resent after ack_timeout
    hub.drop_once = total + 1;
    assert (ih_agent_publish (agent, "t", data, size, &seq) == IH_OK);
    assert (seq == ++total);
    assert (s_hub_serve (&hub, agent, total, 10000));

    //  A registry refusal (here IH_E_REVOKED) is kept and retried like
    //  any refusal; the status names it while the stream is blocked
    hub.refuse_once = total + 1;
    hub.refuse_code = IH_E_REVOKED;
    assert (ih_agent_publish (agent, "t", data, size, &seq) == IH_OK);
    assert (seq == ++total);
    zpoller_t *poller = zpoller_new (hub.router, NULL);
    int64_t blocked_by = zclock_mono () + 10000;
    while (!s_status_int (agent, "blocked")) {
        assert (zclock_mono () < blocked_by);
        if (zpoller_wait (poller, 20))
            s_hub_handle (&hub);
    }
    zpoller_destroy (&poller);
    status = ih_agent_status (agent);
    assert (streq (json_string_value (json_object_get (status, "refused")),
                   "IH_E_REVOKED"));
    json_decref (status);
    assert (s_hub_serve (&hub, agent, total, 10000));
    status = ih_agent_status (agent);
    assert (json_object_get (status, "refused") == NULL);
    json_decref (status);
    assert (s_status_int (agent, "ack_timeout_ms") == 300);

    //  A hub that stops answering sees the timeout double per resend
    //  (300, 600, 1200 ms...), not a resend every 300 ms; ACK progress
    //  restores it
    assert (ih_agent_publish (agent, "t", data, size, &seq) == IH_OK);
    assert (seq == ++total);
    int64_t deadline = zclock_mono () + 10000;
    while (s_status_int (agent, "ack_timeout_ms") < 1200) {
        assert (zclock_mono () < deadline);
        zclock_sleep (10); //  polling interval of the condition
    }
    assert (s_status_int (agent, "rewinds") < 20);
    assert (s_hub_serve (&hub, agent, total, 10000));
    assert (s_status_int (agent, "ack_timeout_ms") == 300);

    //  The hub goes away; events are kept; the hub comes back
    zsock_destroy (&hub.router);
    assert (s_wait_connected (agent, false, 10000));
    for (int i = 0; i < 5; i++) {
        assert (ih_agent_publish (agent, "t", data, size, &seq) == IH_OK);
        assert (seq == ++total);
    }
    assert (s_status_int (agent, "backlog") == 5);
    s_hub_bind (&hub, hub_ep);
    assert (s_hub_serve (&hub, agent, total, 20000));
    ih_agent_destroy (&agent);
    zsock_destroy (&hub.router);

    //  Acked events were deleted from the outbox on the way out
    ih_outbox_t *outbox = ih_outbox_new (outbox_dir, "laoshan-inc-01", 0, NULL);
    assert (outbox);
    assert (ih_outbox_acked (outbox) == total);
    assert (ih_outbox_backlog (outbox) == 0);
    assert (ih_outbox_next_seq (outbox) == total + 1);
    ih_outbox_destroy (&outbox);

    free (data);
    s_test_curve (verbose, tmp, key_file, hub_key, hub_pub_file);

    ih_key_destroy (&key);
    ih_key_destroy (&other);
    ih_key_destroy (&hub_key);
    zstr_free (&hub_pub_file);
    zstr_free (&nocurve_file);
    zdir_t *tree = zdir_new (tmp, NULL);
    if (tree)
        zdir_remove (tree, true);
    zdir_destroy (&tree);
    zstr_free (&key_file);
    zstr_free (&other_file);
    zstr_free (&outbox_dir);
    zstr_free (&hub_ep);
    zstr_free (&listen_ep);
    if (verbose)
        printf ("OK\n");
}
