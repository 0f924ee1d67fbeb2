/*  =========================================================================
    ih_ingest - the hub's ingest and store actor

    Where it sits: between the agents (DEALER sockets, connected to our
    ROUTER) and the log (ih_log), with the publisher (ih_publish) after it.
    It is also the one writer of the site registry (ih_registry), which
    lives in the log: ZAP (ih_zap), the feed and replay only read it.

    The batch cycle, and why it is safe:
      1. When the ROUTER is readable, take up to batch_max messages that
         are already queued (ZMQ_EVENTS says so; we never block inside a
         batch). Under load a batch holds many events; idle, it holds one.
      2. For each message: decode the frames and the event; if its seq is
         at or below the site's last stored one it is a resend (ih_log
         tells a duplicate, ACKed again, from a conflict); else
         ih_registry_admit decides against the registry as it stands at
         this point of the log (the connection's site, the key valid for
         this seq, revocation, the kind's permissions, registry changes
         from the bureau only), and an admitted event is appended in the
         batch's write transaction and, if it is a registry change,
         applied at once (ih_registry_apply) so the next event of the
         same batch is judged by the new registry. Every outcome becomes
         a queued reply, in arrival order.
      3. Commit. Only if the commit returned IH_OK are the queued ACKs
         sent and the new events published; the commit has fsynced them
         (see the essay in ih_log.c). If it failed (map full, disk error)
         every event that reached the log in this batch is NAKed with that
         code instead, and nothing is published; registry changes the
         batch applied never reached the log, so the registry is rebuilt
         from the log (ih_registry_rebuild).
      4. Send the queued replies in order (ACKs, NAKs and STATUS answers).
    So an ACK always follows the commit of its event, a duplicate is ACKed
    again with its original hub_seq, and replies to peers that went away
    are dropped (ROUTER_MANDATORY off) rather than blocking the hub.
    Nothing here asserts on input: every bad message gets a NAK.

    Transport. By default both sockets are CURVE servers with the hub's
    transport key (ih_curve; ZAP domains "ingest" and "feed"), so every
    message carries the connection's site id (User-Id), and an event for
    another site is NAKed IH_E_IMPERSONATE. PLAINTEXT (development, local
    endpoints only) turns that off: nobody is identified.

    The bureau's journal (ih_journal; START's journal path) is how
    registry changes reach a hub without a network push: at START all its
    events go through the same admit/append/apply path as network events
    (peer NULL), in one batch; afterwards, when an event is refused with
    IH_E_UNKNOWN_SITE, IH_E_BADSIG or IH_E_REVOKED (a site just added, a
    key just rotated, ...) and the file changed (checked at most once a
    second), its new events join the open batch before the refused event
    is judged again. The poll loop also checks the file once a second, so
    a site added to it can connect (ZAP refuses its key until then) and a
    revocation takes effect without waiting for a refusal. Journal events
    get no reply; refusals are logged.

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
#include <sys/stat.h>
#include "ih_checkpoint.h"
#include "ih_curve.h"
#include "ih_ingest.h"
#include "ih_journal.h"
#include "ih_log.h"
#include "ih_publish.h"
#include "ih_registry.h"
#include "ih_wire.h"

typedef enum { S_REPLY_ACK, S_REPLY_NAK, S_REPLY_STATUS } s_reply_t;

//  One received message (or journal event) and the reply it will get
//  after the commit.
typedef struct {
    zframe_t *identity; //  peer routing id (owned); NULL for the journal
    zmsg_t *msg;        //  the message; owns the event bytes
    const char *peer;   //  the connection's site id (CURVE), from msg
    bool journal;       //  from the journal: no reply, no skew
    size_t line;        //  its journal line
    s_reply_t reply;
    ih_err_t code; //  NAK code
    char *why;     //  NAK reason (owned), NULL: ih_strerror (code)
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
    zpoller_t *poller;       //  pipe; router and feed once started
    zsock_t *router;         //  ingest socket
    ih_publish_t *publish;   //  the feed (XPUB; subscriptions checked)
    ih_log_t *log;           //  the store; only this thread writes
    ih_registry_t *registry; //  borrowed (REGISTRY); only we change it
    bool plaintext;          //  PLAINTEXT: no CURVE on either socket
    char *journal;           //  the bureau's journal, or NULL
    struct stat journal_st;  //  its stat when last read
    bool journal_known;      //  journal_st is set
    int64_t journal_checked; //  zclock_mono of the last stat
    char *data;              //  data directory, for STATUS
    size_t batch_max;        //  messages received per batch
    s_item_t *items;         //  the batch's replies (grows for the journal)
    size_t nitems;
    size_t items_max;      //  allocated items
    bool batch_open;       //  ih_log_begin done for this batch
    ih_err_t batch_failed; //  storage error that dooms the batch
    bool batch_registry;   //  the batch applied registry changes
    bool batch_narrows;    //  ... one that may narrow who reads the feed
    bool last_failed;      //  s_last_fn met a storage error
    int64_t feed_retry_at; //  zclock_mono to reopen the feed again, or 0
    bool retrying;         //  re-running a batch (no journal refresh)
    s_limit_t limits[IH_E_ERR_MAX + 1];
    int64_t started;     //  zclock_mono at START
    uint64_t commits;    //  batches committed: events / commits shows grouping
    size_t map_max;      //  grow a full map up to this many bytes; 0 = never
    size_t pub_hwm;      //  SNDHWM of the feed; 0 = IH_PUBLISH_SNDHWM
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
        zhashx_destroy (&self->skews);
        ih_key_destroy (&self->key);
        free (self->items);
        zstr_free (&self->data);
        zstr_free (&self->journal);
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
        zsys_warning ("ingest: NAK site=%s seq=%" PRIu64 " err=%s%s%s%s%s",
                      item->site[0] ? item->site : "-", item->seq,
                      ih_err_name (item->code), item->peer ? " peer=" : "",
                      item->peer ? item->peer : "", item->why ? " why=" : "",
                      item->why ? item->why : "");
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

//  NAK with a reason (why "" or NULL: ih_strerror's text).
static void
s_nak_why (s_item_t *item, ih_err_t code, const char *why)
{
    s_nak (item, code);
    zstr_free (&item->why);
    if (why && *why)
        item->why = strdup (why);
}

//  A new item at the end of the batch, all zero. Pointers to items are
//  not stable across this call (the array grows for journal events).
static s_item_t *
s_item_add (s_self_t *self)
{
    if (self->nitems == self->items_max) {
        size_t max = self->items_max ? 2 * self->items_max : 16;
        s_item_t *items =
            (s_item_t *) realloc (self->items, max * sizeof (s_item_t));
        assert (items);
        self->items = items;
        self->items_max = max;
    }
    s_item_t *item = &self->items[self->nitems++];
    memset (item, 0, sizeof (*item));
    return item;
}

//  Forgets an item's outcome (for a second judgement), keeping what it
//  received: identity, message, event, peer, time, journal line.
static void
s_item_reset (s_item_t *item)
{
    s_item_t kept = *item;
    memset (item, 0, sizeof (*item));
    item->identity = kept.identity;
    item->msg = kept.msg;
    item->peer = kept.peer;
    item->journal = kept.journal;
    item->line = kept.line;
    item->received = kept.received;
    item->event = kept.event;
    item->event_size = kept.event_size;
    zstr_free (&kept.why);
}

//  Frees what the batch's items own and empties it.
static void
s_items_clear (s_self_t *self)
{
    for (size_t i = 0; i < self->nitems; i++) {
        zframe_destroy (&self->items[i].identity);
        zmsg_destroy (&self->items[i].msg);
        zstr_free (&self->items[i].why);
    }
    self->nitems = 0;
}

//  The registry's `last` callback: the site's last seq, seen through the
//  open batch if one is open. On a storage error it answers "everything", so that a key
//  rotation is refused rather than accepted on a guess.
static uint64_t
s_last_fn (const char *site, void *arg)
{
    s_self_t *self = (s_self_t *) arg;
    uint64_t seq = 0;
    if (ih_log_site_last (self->log, site, &seq) != IH_OK) {
        self->last_failed = true; //  the caller answers IH_E_STORE
        return 0;
    }
    return seq;
}

//  Opens the batch's write transaction if it is not open. Returns false
//  if the batch has failed (then the item's fate is the batch's).
static bool
s_batch_ready (s_self_t *self)
{
    if (self->batch_failed == IH_OK && !self->batch_open) {
        if (ih_log_begin (self->log) == IH_OK)
            self->batch_open = true;
        else
            self->batch_failed = IH_E_STORE;
    }
    return self->batch_failed == IH_OK;
}

//  An append that failed: a storage error dooms the batch.
static void
s_append_failed (s_self_t *self, s_item_t *item, ih_err_t err)
{
    if (err == IH_E_FULL || err == IH_E_STORE) {
        item->appended = true;
        self->batch_failed = err;
    }
    s_nak (item, err);
}

//  Appends item's event to the batch, opening the batch first if need be.
//  Returns false, with item NAKed as its batch failed, if there is no
//  batch to append to; else true, with ih_log_append's code in *err_p.
static bool
s_append (s_self_t *self, s_item_t *item, const ih_event_t *event,
          ih_err_t *err_p)
{
    if (!s_batch_ready (self)) {
        item->appended = true;
        s_nak (item, self->batch_failed);
        return false;
    }
    *err_p = ih_log_append (self->log, event, item->event, item->event_size,
                            item->received, &item->hub_seq, &item->expected);
    return true;
}

//  Judges the event of item index and, if admitted, appends it (and
//  applies it, for a registry change). Sets the item's reply; returns its
//  NAK code or IH_OK.
static ih_err_t
s_process (s_self_t *self, size_t index)
{
    s_item_t *item = &self->items[index];
    ih_event_t event;
    ih_err_t err = ih_event_decode (item->event, item->event_size, &event);
    if (err != IH_OK) {
        s_nak (item, err);
        return err;
    }
    memcpy (item->site, event.site, sizeof (item->site));
    memcpy (item->type, event.type, sizeof (item->type));
    item->seq = event.seq;
    if (self->batch_failed != IH_OK) {
        item->appended = true;
        s_nak (item, self->batch_failed);
        return self->batch_failed;
    }
    //  Inside the open batch this sees what it appended; with no batch
    //  open yet, the committed log is all there is
    uint64_t last = 0;
    if (ih_log_site_last (self->log, event.site, &last) != IH_OK) {
        s_append_failed (self, item, IH_E_STORE);
        return IH_E_STORE;
    }
    char why[IH_WIRE_REASON_MAX + 1] = "";
    if (event.seq <= last) {
        //  A resend (duplicate) or a conflict: ih_log tells which. Not
        //  through admit, which would refuse a registry change that is
        //  already applied; nothing new can be stored this way
        if (item->peer && !streq (item->peer, event.site)) {
            snprintf (why, sizeof why,
                      "the connection is site %s, the event is site %s",
                      item->peer, event.site);
            s_nak_why (item, IH_E_IMPERSONATE, why);
            return IH_E_IMPERSONATE;
        }
        if (!s_append (self, item, &event, &err))
            return self->batch_failed;
        if (err == IH_E_DUPLICATE) {
            //  ACKed again with its original hub_seq; if the original is
            //  in this batch, its fate is this batch's commit
            item->appended = true;
            item->reply = S_REPLY_ACK;
            return IH_OK;
        }
        if (err == IH_E_CONFLICT) {
            //  Name the real problem if there is one (a forged signature,
            //  a revoked key) rather than the conflict
            ih_err_t admitted = ih_registry_admit (
                self->registry, &event, item->event, item->event_size,
                item->peer, s_last_fn, self, why, sizeof why);
            if (admitted != IH_OK && admitted != IH_E_REGISTRY)
                err = admitted;
            else
                why[0] = 0;
            s_nak_why (item, err, why);
            return err;
        }
        if (err == IH_OK) {
            //  Cannot happen (seq <= last never appends); if it did, an
            //  unadmitted event would be in the batch: drop the batch
            zsys_error ("ingest: site=%s seq=%" PRIu64 " appended below "
                        "last=%" PRIu64 "; batch dropped",
                        event.site, event.seq, last);
            err = IH_E_STORE;
        }
        s_append_failed (self, item, err);
        return err;
    }
    self->last_failed = false;
    err = ih_registry_admit (self->registry, &event, item->event,
                             item->event_size, item->peer, s_last_fn, self, why,
                             sizeof why);
    if (self->last_failed) {
        //  A rotation was judged without the site's stored seqs
        s_append_failed (self, item, IH_E_STORE);
        return IH_E_STORE;
    }
    if (err != IH_OK) {
        s_nak_why (item, err, why);
        return err;
    }
    ih_site_t site;
    if (ih_registry_lookup (self->registry, event.site, &site))
        memcpy (item->district, site.district, sizeof (item->district));
    else
        strcpy (item->district, "unknown"); //  admitted: cannot happen
    //  The batch opens with its first append, so a batch of refusals
    //  costs no write transaction
    if (!s_append (self, item, &event, &err))
        return self->batch_failed;
    if (err == IH_OK) {
        item->appended = true;
        item->reply = S_REPLY_ACK;
        item->stored = true;
        item->skew = (int64_t) item->received - (int64_t) event.ts;
        //  Later events, in this batch too, are judged by the new registry
        if (ih_regchange_is_registry (event.type)) {
            ih_registry_apply (self->registry, &event);
            self->batch_registry = true;
            if (!streq (event.type, IH_REG_SITE_ADDED))
                self->batch_narrows = true;
            zsys_notice ("ingest: registry change %s seq=%" PRIu64
                         " hub_seq=%" PRIu64,
                         event.type, event.seq, item->hub_seq);
        }
        return IH_OK;
    }
    if (err == IH_E_DUPLICATE) {
        item->appended = true;
        item->reply = S_REPLY_ACK;
        return IH_OK;
    }
    s_append_failed (self, item, err);
    return err;
}

//  True if the journal changed since it was last read (a stat at most once
//  a second).
static bool
s_journal_changed (s_self_t *self)
{
    if (!self->journal)
        return false;
    int64_t now = zclock_mono ();
    if (now - self->journal_checked < 1000)
        return false;
    self->journal_checked = now;
    struct stat st;
    if (stat (self->journal, &st))
        return false; //  gone: nothing new to read
    const struct stat *old = &self->journal_st;
    return !self->journal_known || st.st_ino != old->st_ino ||
           st.st_size != old->st_size ||
           st.st_mtim.tv_sec != old->st_mtim.tv_sec ||
           st.st_mtim.tv_nsec != old->st_mtim.tv_nsec ||
           st.st_ctim.tv_sec != old->st_ctim.tv_sec ||
           st.st_ctim.tv_nsec != old->st_ctim.tv_nsec;
}

typedef struct {
    s_self_t *self;
    size_t stored;  //  appended in this batch
    size_t already; //  duplicates: in the log already
    size_t refused; //  NAKed
} s_journal_t;

static int
s_journal_fn (const uint8_t *bytes, size_t size, size_t line, void *arg)
{
    s_journal_t *journal = (s_journal_t *) arg;
    s_self_t *self = journal->self;
    s_item_t *item = s_item_add (self);
    item->journal = true;
    item->line = line;
    item->msg = zmsg_new ();
    assert (item->msg);
    zmsg_addmem (item->msg, bytes, size);
    item->event = zframe_data (zmsg_first (item->msg));
    item->event_size = size;
    item->received = ih_event_now ();
    ih_err_t err = s_process (self, self->nitems - 1);
    item = &self->items[self->nitems - 1];
    if (err == IH_OK && item->stored)
        journal->stored++;
    else if (err == IH_OK)
        journal->already++;
    else {
        journal->refused++;
        zsys_warning ("ingest: journal line %zu refused: site=%s seq=%" PRIu64
                      " err=%s%s%s",
                      line, item->site[0] ? item->site : "-", item->seq,
                      ih_err_name (err), item->why ? " why=" : "",
                      item->why ? item->why : "");
    }
    return 0;
}

//  Reads the whole journal into the open batch (the events' replies are
//  not sent; they are logged). Returns IH_OK or the read error.
static ih_err_t
s_journal_ingest (s_self_t *self)
{
    self->journal_checked = zclock_mono ();
    self->journal_known = stat (self->journal, &self->journal_st) == 0;
    s_journal_t journal = {self, 0, 0, 0};
    ih_err_t err = ih_journal_read (self->journal, s_journal_fn, &journal);
    if (err != IH_OK)
        zsys_error ("ingest: journal %s: %s", self->journal, ih_strerror (err));
    zsys_notice ("ingest: journal: %zu stored, %zu already in the log, %zu "
                 "refused (%s)",
                 journal.stored, journal.already, journal.refused,
                 self->journal);
    return err;
}

//  Judges the newest item; if it was refused in a way a newer journal may
//  cure (a site just added, a key just rotated or revoked) and the journal
//  changed, reads the journal into the batch first (so its events get
//  hub_seqs before this one) and judges the item again.
static void
s_ingest (s_self_t *self)
{
    size_t index = self->nitems - 1;
    ih_err_t err = s_process (self, index);
    if ((err != IH_E_UNKNOWN_SITE && err != IH_E_BADSIG &&
         err != IH_E_REVOKED) ||
        self->retrying || !s_journal_changed (self))
        return;
    //  Take the item out, read the journal, put it back at the end: the
    //  array's order stays the log's order
    s_item_t trigger = self->items[index];
    self->nitems--;
    s_journal_ingest (self);
    s_item_t *item = s_item_add (self);
    *item = trigger;
    s_item_reset (item);
    s_process (self, self->nitems - 1);
}

//  Closes the feed socket and binds a fresh one (ih_publish_rebind): every
//  subscriber reconnects and is judged again. If the endpoint cannot be
//  bound again yet, the poll loop tries once a second.
static void
s_feed_reopen (s_self_t *self)
{
    if (!self->publish || !self->poller)
        return;
    zsock_t *old = ih_publish_socket (self->publish);
    if (old)
        zpoller_remove (self->poller, old);
    if (ih_publish_rebind (self->publish) == 0) {
        zpoller_add (self->poller, ih_publish_socket (self->publish));
        self->feed_retry_at = 0;
    } else {
        zsys_error ("ingest: the feed is down until it can be bound again");
        self->feed_retry_at = zclock_mono () + 1000;
    }
}

//  Receives one message into the next item and works out its reply.
static void
s_receive (s_self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return;
    zframe_t *identity = zmsg_pop (msg);
    if (!identity) {
        zmsg_destroy (&msg);
        return;
    }
    s_item_t *item = s_item_add (self);
    item->identity = identity;
    item->msg = msg;
    item->received = ih_event_now ();
    //  User-Id is on every frame of a CURVE connection; NULL in plain text
    item->peer = zmsg_first (msg) ? ih_curve_peer (zmsg_first (msg)) : NULL;

    if (zmsg_content_size (msg) > IH_WIRE_MAX) {
        s_nak (item, IH_E_TOOBIG);
        return;
    }
    ih_wire_t wire;
    ih_err_t err = ih_wire_decode (msg, &wire);
    if (err != IH_OK)
        s_nak (item, err);
    else if (wire.kind == IH_WIRE_STATUS && wire.json_size == 0) {
        //  STATUS names every reporting site: for readers of everything
        ih_site_t site;
        if (item->peer &&
            (!ih_registry_lookup (self->registry, item->peer, &site) ||
             ih_registry_read_scope (self->registry, site.kind) != IH_READ_ALL))
            s_nak_why (item, IH_E_DENIED,
                       "STATUS lists every site: only kinds with read scope "
                       "all may ask");
        else
            item->reply = S_REPLY_STATUS;
    } else if (wire.kind == IH_WIRE_EVENT) {
        item->event = wire.event;
        item->event_size = wire.event_size;
        s_ingest (self);
    } else
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

//  Resets the registry to what the log says (after a batch whose registry
//  changes were applied but not committed).
static void
s_rebuild (s_self_t *self)
{
    char why[IH_WIRE_REASON_MAX + 1] = "";
    ih_err_t err =
        ih_registry_rebuild (self->registry, self->log, why, sizeof why);
    if (err != IH_OK)
        zsys_error ("ingest: cannot rebuild the registry from the log: %s %s",
                    ih_err_name (err), why);
    else
        zsys_notice ("ingest: registry rebuilt from the log: %zu sites",
                     ih_registry_size (self->registry));
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
    if (err != IH_OK && self->batch_registry) {
        s_rebuild (self); //  its registry changes never reached the log
        //  Readers may have been let in by a change that is now undone
        self->batch_narrows = true;
    }
    self->batch_registry = false;
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
//  runs the batch's events again from the start, in the same order (the
//  failed transaction left nothing behind, and s_commit has rebuilt the
//  registry if the batch had changed it). Returns the new outcome.
static ih_err_t
s_grow_and_retry (s_self_t *self, ih_err_t err)
{
    self->retrying = true;
    while (err == IH_E_FULL && self->map_max &&
           ih_log_grow (self->log, self->map_max, NULL) == IH_OK) {
        self->batch_failed = IH_OK;
        for (size_t i = 0; i < self->nitems; i++) {
            s_item_t *item = &self->items[i];
            if (!item->event)
                continue; //  not an EVENT: its reply stands
            s_item_reset (item);
            s_process (self, i);
        }
        err = s_commit (self);
    }
    self->retrying = false;
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
                zstr_free (&item->why);
                item->stored = false;
                item->expected = 0;
                lost++;
            }
        }
        if (lost)
            zsys_error ("ingest: batch of %zu events not stored: %s", lost,
                        ih_err_name (err));
    }
    for (size_t i = 0; i < self->nitems; i++) {
        s_item_t *item = &self->items[i];
        if (item->journal)
            continue; //  no one to answer; refusals were logged
        zmsg_t *reply;
        if (item->reply == S_REPLY_ACK) {
            reply = ih_wire_ack (item->site, item->seq, item->hub_seq);
            if (self->verbose)
                zsys_debug ("ingest: ACK site=%s seq=%" PRIu64
                            " hub_seq=%" PRIu64 "%s",
                            item->site, item->seq, item->hub_seq,
                            item->stored ? "" : " (duplicate)");
        } else if (item->reply == S_REPLY_NAK) {
            reply = ih_wire_nak (item->code, item->why, item->site, item->seq,
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
        if (!item->stored)
            continue;
        //  Journal events read at START are stored before the feed exists
        if (self->publish)
            ih_publish_send (self->publish, item->district, item->site,
                             item->type, item->hub_seq, item->received,
                             item->event, item->event_size);
        //  A journal event's time is when the bureau signed it, not a clock
        if (!item->journal)
            s_note_skew (self, item);
    }
    s_items_clear (self);
    self->batch_failed = IH_OK;
    //  A revocation, rotation or permissions change: subscriptions applied
    //  under the old registry must be judged again
    if (err == IH_OK && self->batch_narrows && self->publish && self->poller) {
        zpoller_remove (self->poller, ih_publish_socket (self->publish));
        if (ih_publish_rebind (self->publish) == 0)
            zpoller_add (self->poller, ih_publish_socket (self->publish));
    }
    self->batch_narrows = false;
}

//  One batch: every message already queued, up to batch_max, then flush.
static void
s_handle_router (s_self_t *self)
{
    size_t received = 0;
    while (received < self->batch_max &&
           (zsock_events (self->router) & ZMQ_POLLIN)) {
        s_receive (self);
        received++;
    }
    s_flush (self);
}

//  Closes what a failed START opened. A batch the journal left open is
//  dropped, and the registry rebuilt from the log (without its changes).
static void
s_unstart (s_self_t *self)
{
    if (self->log && self->batch_open) {
        ih_log_abort (self->log);
        self->batch_open = false;
        s_items_clear (self);
        s_rebuild (self);
    }
    zsock_destroy (&self->router);
    ih_publish_destroy (&self->publish);
    ih_log_destroy (&self->log);
    zstr_free (&self->journal);
    zstr_free (&self->data);
}

//  Makes the ingest socket: options, CURVE unless plain text, bind.
//  Returns NULL (reason set) on failure.
static zsock_t *
s_router_new (s_self_t *self, const char *ingest, char **reason_p)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert (router);
    //  Frames up to IH_INGEST_FRAME_MAX reach us and an oversize one gets
    //  a NAK (IH_E_TOOBIG) from ih_wire; a larger frame makes libzmq drop
    //  the connection before buffering it, which bounds our memory
    zsock_set_maxmsgsize (router, IH_INGEST_FRAME_MAX);
    //  Replies to peers that are gone are dropped, never block or fail
    zsock_set_router_mandatory (router, 0);
    //  An agent that reconnects with the same identity takes over
    zsock_set_router_handover (router, 1);
    //  Room for many batches of replies to an agent that sends a long
    //  burst before reading; beyond it replies are dropped and the agent
    //  resends (and gets a duplicate ACK)
    zsock_set_sndhwm (router, IH_INGEST_REPLY_HWM);
    if (!self->plaintext) {
        ih_err_t err =
            ih_curve_server (router, self->key, IH_CURVE_DOMAIN_INGEST);
        if (err != IH_OK) {
            *reason_p = zsys_sprintf ("cannot secure %s: %s", ingest,
                                      ih_strerror (err));
            zsock_destroy (&router);
            return NULL;
        }
    }
    if (zsock_bind (router, "%s", ingest) == -1) {
        *reason_p = zsys_sprintf ("cannot bind %s: %s", ingest,
                                  zmq_strerror (zmq_errno ()));
        zsock_destroy (&router);
    }
    return router;
}

//  START: on failure, replies -1 and a reason, and leaves self unstarted.
//  The order matters: the log is verified, the registry rebuilt from it,
//  the journal stored, and only then are the sockets bound, so that the
//  first client is judged by the whole registry.
static void
s_start (s_self_t *self, zmsg_t *request)
{
    char *data = zmsg_popstr (request);
    char *journal = zmsg_popstr (request);
    char *ingest = zmsg_popstr (request);
    char *pub = zmsg_popstr (request);
    char *map_text = zmsg_popstr (request);
    char *batch_text = zmsg_popstr (request);
    char *reason = NULL;
    size_t map_size = 0, batch_max = 0;

    bool started = self->router != NULL;
    if (started)
        reason = strdup ("already started");
    else if (!data || !journal || !ingest || !pub || !map_text || !batch_text ||
             zmsg_size (request) != 0)
        reason = strdup ("START needs six arguments");
    else if (s_parse_size (map_text, 0, SIZE_MAX, &map_size))
        reason = zsys_sprintf ("bad map size '%s'", map_text);
    else if (s_parse_size (batch_text, 1, IH_INGEST_BATCH_MAX, &batch_max))
        reason = zsys_sprintf ("bad batch size '%s'", batch_text);
    else if (!self->registry)
        reason = strdup ("no registry (REGISTRY before START)");
    else if (!self->plaintext &&
             (!self->key || !ih_key_has_curve_secret (self->key)))
        reason = strdup ("CURVE needs the hub key with its transport secret "
                         "(KEY), or PLAINTEXT");
    else if (self->plaintext && !ih_curve_local (ingest))
        reason = zsys_sprintf ("plaintext is allowed only on ipc:// or "
                               "loopback endpoints: %s",
                               ingest);
    else if (self->plaintext && !ih_curve_local (pub))
        reason = zsys_sprintf ("plaintext is allowed only on ipc:// or "
                               "loopback endpoints: %s",
                               pub);
    if (reason)
        goto cleanup;

    //  The log is opened here, in the actor's thread, which is the only
    //  one that ever begins a write transaction on it
    self->log = ih_log_new (data, false, map_size);
    if (!self->log) {
        reason = zsys_sprintf ("cannot open log in %s (see log)", data);
        goto cleanup;
    }
    ih_err_t err;
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

    //  The registry is what the bureau's stored registry events say
    char why[IH_WIRE_REASON_MAX + 1] = "";
    err = ih_registry_rebuild (self->registry, self->log, why, sizeof why);
    if (err != IH_OK) {
        reason = zsys_sprintf ("cannot rebuild the registry from the log: "
                               "%s %s",
                               ih_err_name (err), why);
        goto cleanup;
    }
    self->batch_max = batch_max;
    self->data = strdup (data);
    if (!self->items) {
        self->items = (s_item_t *) calloc (batch_max, sizeof (s_item_t));
        assert (self->items);
        self->items_max = batch_max;
    }
    if (*journal) {
        //  One batch, committed before anything binds
        self->journal = strdup (journal);
        err = s_journal_ingest (self);
        if (err != IH_OK) {
            reason = zsys_sprintf ("cannot read the registry journal %s: %s",
                                   journal, ih_strerror (err));
            goto cleanup;
        }
        s_flush (self);
    }

    self->router = s_router_new (self, ingest, &reason);
    if (!self->router)
        goto cleanup;
    self->publish = ih_publish_new_secure (
        pub, self->pub_hwm ? (int) self->pub_hwm : IH_PUBLISH_SNDHWM,
        self->plaintext ? NULL : self->key, self->registry);
    if (!self->publish) {
        reason = zsys_sprintf ("cannot bind %s (see log)", pub);
        goto cleanup;
    }
    self->started = zclock_mono ();
    zpoller_add (self->poller, self->router);
    zpoller_add (self->poller, ih_publish_socket (self->publish));

    char *bound = zsock_last_endpoint (self->router);
    uint64_t events, bytes, sites;
    ih_log_stats (self->log, &events, &bytes, &sites);
    zsys_notice ("ingest: started data=%s events=%" PRIu64
                 " last_hub_seq=%" PRIu64 " journal=%s sites=%zu"
                 " checkpoint=%" PRIu64 " transport=%s",
                 data, events, ih_log_last (self->log),
                 *journal ? journal : "-", ih_registry_size (self->registry),
                 self->cp_size, self->plaintext ? "plain-text" : "CURVE");
    if (self->key && ih_log_last (self->log) > self->cp_size)
        self->cp_deadline = zclock_mono (); //  cover the tail at once
    zsock_send (self->pipe, "iss", 0, bound,
                ih_publish_endpoint (self->publish));
    zstr_free (&bound);

cleanup:
    if (reason) {
        zsys_error ("ingest: START failed: %s", reason);
        if (!started)
            s_unstart (self);
        zsock_send (self->pipe, "iss", -1, reason, "");
        zstr_free (&reason);
    }
    zstr_free (&data);
    zstr_free (&journal);
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
    else if (streq (command, "REGISTRY")) {
        //  Borrowed from the caller, who keeps it past $TERM
        zframe_t *frame = zmsg_pop (request);
        assert (frame && zframe_size (frame) == sizeof (void *));
        void *registry;
        memcpy (&registry, zframe_data (frame), sizeof (registry));
        zframe_destroy (&frame);
        if (!self->router)
            self->registry = (ih_registry_t *) registry;
        zsock_signal (self->pipe, self->router ? (byte) -1 : 0);
    } else if (streq (command, "PLAINTEXT")) {
        if (!self->router)
            self->plaintext = true;
        zsock_signal (self->pipe, self->router ? (byte) -1 : 0);
    } else if (streq (command, "PUBHWM")) {
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
        //  ... and while there is a journal to watch: a site added to it
        //  cannot reach us to trigger a read (ZAP refuses its key until
        //  then), and a revocation should not wait for a refusal
        if ((self->journal && self->log) || self->feed_retry_at)
            timeout = 1000;
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
        else if (which && self->publish &&
                 which == ih_publish_socket (self->publish)) {
            //  A message that is not a subscription puts libzmq's XPUB
            //  out of step (see ih_publish_handle): start the feed afresh
            if (ih_publish_handle (self->publish))
                s_feed_reopen (self);
        } else if (zpoller_terminated (self->poller))
            break;
        if (self->feed_retry_at && zclock_mono () >= self->feed_retry_at)
            s_feed_reopen (self);
        if (self->journal && self->log && !self->terminated &&
            s_journal_changed (self)) {
            s_journal_ingest (self);
            s_flush (self);
        }
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
ih_ingest_set_registry (zactor_t *self, ih_registry_t *registry)
{
    assert (self);
    assert (registry);
    zsock_send (self, "sp", "REGISTRY", (void *) registry);
    return zsock_wait (self) == 0 ? 0 : -1;
}

int
ih_ingest_set_plaintext (zactor_t *self)
{
    assert (self);
    zstr_send (self, "PLAINTEXT");
    return zsock_wait (self) == 0 ? 0 : -1;
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
ih_ingest_start (zactor_t *self, const char *data, const char *journal,
                 const char *ingest, const char *pub, size_t map_size,
                 size_t batch_max, char **ingest_p, char **pub_p)
{
    assert (self);
    assert (ingest_p && pub_p);
    if (!journal)
        journal = "";
    *ingest_p = NULL;
    *pub_p = NULL;
    char map_text[32], batch_text[32];
    snprintf (map_text, sizeof (map_text), "%zu", map_size);
    snprintf (batch_text, sizeof (batch_text), "%zu", batch_max);
    if (zstr_sendx (self, "START", data, journal, ingest, pub, map_text,
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
//  Selftest: a real actor in a temporary directory, agents as DEALERs; a
//  registry built by the bureau's journal.

#include "ih_hubtest.h"
#include "ih_zap.h"

//  Event seq of key's site after prev (NULL: the first), of type, now.
static uint8_t *
s_test_event (ih_key_t *key, uint64_t seq, const uint8_t *prev,
              const char *type, size_t *size_p)
{
    return ih_hubtest_sign (key, seq, prev, type, 0, "{\"n\": 1}", size_p);
}

//  Appends "site added" for key to the journal, signed by signer (the
//  bureau, unless a test forges one); returns the signed event if
//  bytes_p is not NULL.
static void
s_test_add (const char *journal, ih_key_t *signer, ih_key_t *key,
            const char *district, uint8_t **bytes_p, size_t *size_p)
{
    ih_regchange_t change;
    ih_hubtest_site_added (&change, key, "incubator", district);
    ih_hubtest_append (journal, signer, &change, NULL, bytes_p, size_p);
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
    if (wire.kind != kind || (kind == IH_WIRE_NAK && wire.code != code))
        fprintf (stderr, "ingest test: got %s %s (%s), expected %s\n",
                 wire.kind == IH_WIRE_ACK ? "ACK" : "NAK",
                 ih_err_name (wire.code), wire.reason, ih_err_name (code));
    assert (wire.kind == kind);
    if (kind == IH_WIRE_ACK)
        assert (wire.hub_seq == value);
    else {
        assert (wire.code == code);
        assert (wire.expected == value);
    }
    zmsg_destroy (&reply);
}

//  Sends the event until the hub stops refusing it with code (it reads
//  the journal at most once a second); expects an ACK of hub_seq then.
static void
s_test_until (zsock_t *dealer, const uint8_t *bytes, size_t size, ih_err_t code,
              uint64_t hub_seq)
{
    int64_t deadline = zclock_mono () + 10000;
    while (true) {
        ih_wire_t wire;
        zmsg_t *reply =
            s_test_call (dealer, ih_wire_event (bytes, size), &wire);
        bool refused = wire.kind == IH_WIRE_NAK && wire.code == code;
        if (!refused) {
            assert (wire.kind == IH_WIRE_ACK && wire.hub_seq == hub_seq);
            zmsg_destroy (&reply);
            return;
        }
        zmsg_destroy (&reply);
        assert (zclock_mono () < deadline);
        zclock_sleep (100);
    }
}

//  Plain text: the whole ingest path, the journal read at start and on
//  an unknown site, STATUS and the feed.
static void
s_test_plain (bool verbose)
{
    ih_hubtest_t *test = ih_hubtest_new ("ih_ingest_test");
    char *data = ih_hubtest_path (test, "data");
    const char *journal = test->journal;
    ih_key_t *bureau = test->bureau;
    ih_registry_t *registry = test->registry;

    ih_key_t *key = ih_key_new ("lh-inc-01");
    ih_key_t *stranger = ih_key_new ("xx-inc-99");
    ih_key_t *impostor = ih_key_new ("lh-inc-01");
    assert (key && stranger && impostor);
    s_test_add (journal, bureau, key, "laoshan", NULL, NULL);

    zactor_t *ingest = zactor_new (ih_ingest_actor, NULL);
    assert (ingest);
    if (verbose)
        zstr_send (ingest, "VERBOSE");
    char *ingest_ep = NULL, *pub_ep = NULL;
    //  Bad arguments are refused, and the actor can still start
    assert (ih_ingest_start (ingest, data, journal, "tcp://127.0.0.1:*",
                             "tcp://127.0.0.1:*", 0, 4, &ingest_ep,
                             &pub_ep) == -1);
    assert (strstr (ingest_ep, "REGISTRY"));
    zstr_free (&ingest_ep);
    assert (ih_ingest_set_registry (ingest, registry) == 0);
    assert (ih_ingest_start (ingest, data, journal, "tcp://127.0.0.1:*",
                             "tcp://127.0.0.1:*", 0, 4, &ingest_ep,
                             &pub_ep) == -1);
    assert (strstr (ingest_ep, "KEY"));
    zstr_free (&ingest_ep);
    assert (ih_ingest_set_plaintext (ingest) == 0);
    assert (ih_ingest_start (ingest, data, journal, "tcp://127.0.0.1:*",
                             "tcp://127.0.0.1:*", 0, 0, &ingest_ep,
                             &pub_ep) == -1);
    zstr_free (&ingest_ep);
    assert (ih_ingest_start (ingest, data, journal, "tcp://127.0.0.1:*",
                             "tcp://0.0.0.0:*", 0, 4, &ingest_ep,
                             &pub_ep) == -1);
    assert (strstr (ingest_ep, "plaintext is allowed only"));
    zstr_free (&ingest_ep);
    assert (ih_ingest_start (ingest, data, "/nonexistent/registry.journal",
                             "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 0, 4,
                             &ingest_ep, &pub_ep) == -1);
    zstr_free (&ingest_ep);
    assert (ih_ingest_start (ingest, data, journal, "tcp://127.0.0.1:*",
                             "tcp://127.0.0.1:*", 0, 4, &ingest_ep,
                             &pub_ep) == 0);
    assert (strncmp (ingest_ep, "tcp://127.0.0.1:", 16) == 0);
    assert (strncmp (pub_ep, "tcp://127.0.0.1:", 16) == 0);
    if (verbose)
        printf ("   ingest=%s pub=%s\n", ingest_ep, pub_ep);
    //  Started: the registry is the actor's now
    assert (ih_ingest_set_plaintext (ingest) == -1);
    ih_site_t site;
    assert (ih_registry_lookup (registry, "lh-inc-01", &site));
    assert (streq (site.district, "laoshan"));

    zsock_t *dealer = zsock_new_dealer (ingest_ep);
    zsock_t *sub = zsock_new_sub (pub_ep, "shinan/");
    assert (dealer && sub);

    //  The journal's event is hub_seq 1. First event: ACK with hub_seq 2
    const char *type = "enterprise.admitted";
    uint8_t hash[2][IH_HASH_SIZE];
    size_t size1, size2;
    uint8_t *ev1 = s_test_event (key, 1, NULL, type, &size1);
    ih_event_hash (ev1, size1, hash[0]);
    uint8_t *ev2 = s_test_event (key, 2, hash[0], type, &size2);
    ih_event_hash (ev2, size2, hash[1]);
    s_test_expect (dealer, ih_wire_event (ev1, size1), IH_WIRE_ACK, IH_OK, 2);
    //  Duplicate: ACK again, same hub_seq
    s_test_expect (dealer, ih_wire_event (ev1, size1), IH_WIRE_ACK, IH_OK, 2);
    //  Gap
    size_t size3;
    uint8_t *ev3 = s_test_event (key, 3, hash[1], type, &size3);
    s_test_expect (dealer, ih_wire_event (ev3, size3), IH_WIRE_NAK, IH_E_GAP,
                   2);
    //  Garbage, an unknown command, a bad signature, a type the kind may
    //  not publish, an unknown site
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
    uint8_t *forged = s_test_event (impostor, 2, hash[0], type, &forged_size);
    s_test_expect (dealer, ih_wire_event (forged, forged_size), IH_WIRE_NAK,
                   IH_E_BADSIG, 0);
    //  ... also for a seq already used: the signature is the problem
    size_t forged1_size;
    uint8_t *forged1 = s_test_event (impostor, 1, NULL, type, &forged1_size);
    s_test_expect (dealer, ih_wire_event (forged1, forged1_size), IH_WIRE_NAK,
                   IH_E_BADSIG, 0);
    free (forged1);
    size_t rating_size;
    uint8_t *rating =
        s_test_event (key, 2, hash[0], "rating.given", &rating_size);
    reply = s_test_call (dealer, ih_wire_event (rating, rating_size), &wire);
    assert (wire.kind == IH_WIRE_NAK && wire.code == IH_E_DENIED);
    assert (strstr (wire.reason, "rating.given"));
    zmsg_destroy (&reply);
    free (rating);
    size_t alien_size;
    uint8_t *alien = s_test_event (stranger, 1, NULL, type, &alien_size);
    s_test_expect (dealer, ih_wire_event (alien, alien_size), IH_WIRE_NAK,
                   IH_E_UNKNOWN_SITE, 0);
    //  ... until the bureau adds the site to its journal: the hub reads
    //  it (its event is hub_seq 3) and then stores the event
    s_test_add (journal, bureau, stranger, "shinan", NULL, NULL);
    s_test_until (dealer, alien, alien_size, IH_E_UNKNOWN_SITE, 4);

    //  A burst: several events in flight, replies come back in order
    assert (zmsg_send (&(zmsg_t *){ih_wire_event (ev2, size2)}, dealer) == 0);
    assert (zmsg_send (&(zmsg_t *){ih_wire_event (ev3, size3)}, dealer) == 0);
    assert (zmsg_send (&(zmsg_t *){ih_wire_event (ev3, size3)}, dealer) == 0);
    uint64_t expect_hub[] = {5, 6, 6};
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

    //  STATUS: the bureau is a site of the log and of the registry
    reply = s_test_call (dealer, ih_wire_status_request (), &wire);
    assert (wire.kind == IH_WIRE_STATUS && wire.json_size > 0);
    json_error_t jerr;
    json_t *status = json_loadb (wire.json, wire.json_size, 0, &jerr);
    assert (status);
    assert (json_integer_value (json_object_get (status, "events")) == 6);
    assert (json_integer_value (json_object_get (status, "last_hub_seq")) == 6);
    assert (json_integer_value (json_object_get (status, "sites")) == 3);
    assert (json_integer_value (json_object_get (status, "registry_sites")) ==
            3);
    assert (json_integer_value (json_object_get (status, "bytes")) > 0);
    assert (json_is_integer (json_object_get (status, "uptime_ms")));
    assert (streq (json_string_value (json_object_get (status, "data")), data));
    json_decref (status);
    zmsg_destroy (&reply);

    //  Published events: the feed drops until the subscription has
    //  reached the hub, so keep storing events of xx-inc-99 until one
    //  comes back on the SUB (deadline 10 s), then check it is exactly
    //  what was ACKed
    uint8_t prev[IH_HASH_SIZE];
    ih_event_hash (alien, alien_size, prev);
    zpoller_t *poller = zpoller_new (sub, NULL);
    int64_t deadline = zclock_mono () + 10000;
    bool seen = false;
    uint64_t seq = 2, last_hub_seq = 6;
    while (!seen && zclock_mono () < deadline) {
        size_t size;
        uint8_t *bytes = s_test_event (stranger, seq++, prev, type, &size);
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

    //  A restart rebuilds the registry from the log, and the journal's
    //  events are all in it already
    ih_registry_t *again = ih_registry_new (bureau);
    ingest = zactor_new (ih_ingest_actor, NULL);
    assert (ih_ingest_set_registry (ingest, again) == 0);
    assert (ih_ingest_set_plaintext (ingest) == 0);
    zstr_free (&ingest_ep);
    zstr_free (&pub_ep);
    assert (ih_ingest_start (ingest, data, journal, "tcp://127.0.0.1:*",
                             "tcp://127.0.0.1:*", 0, 4, &ingest_ep,
                             &pub_ep) == 0);
    assert (ih_registry_size (again) == 3);
    assert (ih_registry_lookup (again, "xx-inc-99", &site));
    assert (streq (site.district, "shinan"));
    log = ih_ingest_log (ingest);
    assert (log && ih_log_last (log) == last_hub_seq);
    zactor_destroy (&ingest);
    ih_registry_destroy (&again);

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
    ih_hubtest_destroy (&test);
}

//  CURVE: each event is judged against the connection's site. Nothing
//  that is NAKed is stored.
static void
s_test_curve (bool verbose)
{
    ih_hubtest_t *test = ih_hubtest_new ("ih_ingest_curve");
    char *data = ih_hubtest_path (test, "data");
    char *forgery = ih_hubtest_path (test, "forged.journal");
    char *hub_path = ih_hubtest_path (test, "hub.key");
    const char *journal = test->journal;
    ih_key_t *bureau = test->bureau;
    ih_registry_t *registry = test->registry;

    ih_key_t *hub = ih_key_new ("hub");
    ih_key_t *inc = ih_key_new ("lh-inc-01");
    ih_key_t *other = ih_key_new ("lh-inc-02");
    assert (hub && inc && other);
    assert (ih_key_save (hub, test->dir) == IH_OK);
    s_test_add (journal, bureau, inc, "laoshan", NULL, NULL);
    uint8_t *added = NULL;
    size_t added_size = 0;
    s_test_add (journal, bureau, other, "laoshan", &added, &added_size);
    zactor_t *zap = ih_zap_new (registry);
    assert (zap);

    zactor_t *ingest = zactor_new (ih_ingest_actor, NULL);
    assert (ingest);
    if (verbose)
        zstr_send (ingest, "VERBOSE");
    assert (ih_ingest_set_registry (ingest, registry) == 0);
    assert (ih_ingest_set_key (ingest, hub_path) == 0);
    char *ingest_ep = NULL, *pub_ep = NULL;
    assert (ih_ingest_start (ingest, data, journal, "tcp://127.0.0.1:*",
                             "tcp://127.0.0.1:*", 0, 16, &ingest_ep,
                             &pub_ep) == 0);
    zsock_t *dealer = ih_hubtest_client (ZMQ_DEALER, ingest_ep, inc, hub);
    zsock_t *dealer2 = ih_hubtest_client (ZMQ_DEALER, ingest_ep, other, hub);
    zsock_t *office = ih_hubtest_client (ZMQ_DEALER, ingest_ep, bureau, hub);

    //  lh-inc-01's connection sends lh-inc-02's (genuinely signed) event
    const char *type = "enterprise.admitted";
    size_t size;
    uint8_t *theirs = s_test_event (other, 1, NULL, type, &size);
    ih_wire_t wire;
    zmsg_t *reply = s_test_call (dealer, ih_wire_event (theirs, size), &wire);
    assert (wire.kind == IH_WIRE_NAK && wire.code == IH_E_IMPERSONATE);
    assert (streq (wire.site, "lh-inc-02"));
    zmsg_destroy (&reply);
    free (theirs);
    //  A type its kind may not publish
    uint8_t *rating = s_test_event (inc, 1, NULL, "rating.given", &size);
    s_test_expect (dealer, ih_wire_event (rating, size), IH_WIRE_NAK,
                   IH_E_DENIED, 0);
    free (rating);
    //  A registry change signed by a site that is not the bureau
    uint8_t *fake = NULL;
    size_t fake_size = 0;
    ih_key_t *newcomer = ih_key_new ("lh-inc-03");
    s_test_add (forgery, other, newcomer, "laoshan", &fake, &fake_size);
    ih_key_destroy (&newcomer);
    s_test_expect (dealer2, ih_wire_event (fake, fake_size), IH_WIRE_NAK,
                   IH_E_DENIED, 0);
    free (fake);
    //  Its own event, of a type it may publish: stored after the journal
    uint8_t *mine = s_test_event (inc, 1, NULL, type, &size);
    s_test_expect (dealer, ih_wire_event (mine, size), IH_WIRE_ACK, IH_OK, 3);
    //  The bureau pushes a journal event that is in the log already
    s_test_expect (office, ih_wire_event (added, added_size), IH_WIRE_ACK,
                   IH_OK, 2);
    //  ... and a revocation: lh-inc-01's next event is refused
    ih_regchange_t revoke;
    ih_hubtest_key_revoked (&revoke, "lh-inc-01", "key stolen");
    uint8_t *revoked = NULL;
    size_t revoked_size = 0;
    ih_hubtest_append (journal, bureau, &revoke, NULL, &revoked, &revoked_size);
    s_test_expect (office, ih_wire_event (revoked, revoked_size), IH_WIRE_ACK,
                   IH_OK, 4);
    uint8_t prev[IH_HASH_SIZE];
    ih_event_hash (mine, size, prev);
    size_t next_size;
    uint8_t *next = s_test_event (inc, 2, prev, type, &next_size);
    s_test_expect (dealer, ih_wire_event (next, next_size), IH_WIRE_NAK,
                   IH_E_REVOKED, 0);
    free (next);
    free (mine);
    free (revoked);
    free (added);

    //  Nothing NAKed was stored: two journal events, one event, one
    //  revocation
    ih_log_t *log = ih_ingest_log (ingest);
    assert (log && ih_log_last (log) == 4);
    zsock_destroy (&dealer);
    zsock_destroy (&dealer2);
    zsock_destroy (&office);
    zactor_destroy (&ingest);
    zactor_destroy (&zap);
    ih_key_destroy (&hub);
    ih_key_destroy (&inc);
    ih_key_destroy (&other);
    zstr_free (&ingest_ep);
    zstr_free (&pub_ep);
    zstr_free (&data);
    zstr_free (&forgery);
    zstr_free (&hub_path);
    ih_hubtest_destroy (&test);
}

void
ih_ingest_test (bool verbose)
{
    printf (" * ih_ingest: ");
    if (verbose)
        printf ("\n");
    s_test_plain (verbose);
    s_test_curve (verbose);
    printf ("OK\n");
}
