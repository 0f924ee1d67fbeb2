/*  =========================================================================
    ih_replay - the hub's replay service: stored events and proofs on demand

    Where it sits: a ROUTER next to the ingest actor's, reading the same
    ih_log (the ingest actor is its only writer). Readers use it to fill
    what the lossy PUB socket dropped; auditors to fetch checkpoints and
    Merkle proofs. docs/protocol.md section 5.5 is the normative text.

    The design, and why memory stays bounded:
      - One stream per client (routing id). A stream is a cursor (next
        hub_seq to examine, an optional last one), filters and a credit:
        the number of RECORDs the client still allows. Only matching
        events consume credit; filtered-out ones are examined freely.
      - Each turn of the loop, every stream that can make progress reads
        at most IH_REPLAY_SCAN_MAX records in one short read transaction
        (LMDB readers never block the writer nor see a half batch) and
        sends what its credit allows. So no stream starves the others and
        no read transaction stays open between turns.
      - When a stream has examined everything up to the end of the log as
        it was at that moment (or up to its `to`), it sends END with the
        last hub_seq examined and is closed: a reader then knows there was
        no gap up to that point, filtered or not.
      - The ROUTER is ROUTER_MANDATORY with a zero send timeout and a
        send HWM above IH_REPLAY_CREDIT_MAX: a send that fails (client
        gone, or one that grants credit without reading) closes the stream
        at once, so a RECORD is never silently skipped within a stream and
        the hub never queues more than the credit.
      - Streams whose client has been silent for idle_ms are forgotten;
        there are at most streams_max of them, per_peer per address.
    Requests that are not streams (CHECKPOINT, PROVE-*) are answered at
    once. Every bad request is answered with a NAK; nothing here asserts
    on input.

    Who may read what. Under CURVE (a hub key at START) the ROUTER is a
    CURVE server under ZAP domain "replay" (hub/ih_zap lets in only sites
    whose kind may read at all) and every request carries the client's
    site id (User-Id, ih_curve_peer). A REPLAY must fix the filters its
    reader's scope demands (ih_registry_may_read: an "own" reader names
    itself as site filter, a "district" reader its district), else it is
    NAKed IH_E_DENIED; since a stream's records are matched against those
    filters, the reader gets nothing else. The scope is checked again
    whenever the registry changes under an open stream (permissions
    changed, key revoked), and a stream that is no longer allowed is
    NAKed IH_E_DENIED and closed. Checkpoints and proofs need read scope
    "all" (they reveal records of any site). In plain text nobody is
    identified and nothing is checked: plain text is for ipc:// and
    loopback development only.
    =========================================================================*/
#include <czmq.h>
#include "ih_replay.h"
#include "ih_checkpoint.h"
#include "ih_curve.h"
#include "ih_record.h"
#include "ih_registry.h"
#include "ih_wire.h"

typedef struct {
    zframe_t *identity; //  the client's routing id (owned)
    char *key;          //  identity in hex: the streams table key (owned)
    char *peer;         //  the client's address, "" if unknown (owned)
    char *reader;       //  the client's site id (CURVE), or NULL (owned)
    uint64_t version;   //  registry version when its access was checked
    uint64_t next;      //  next hub_seq to examine
    uint64_t to;        //  last hub_seq wanted, 0 = the end of the log
    uint64_t credit;    //  RECORDs the client still allows
    char district[IH_NAME_MAX + 1]; //  filters, "" = any
    char site[IH_NAME_MAX + 1];
    char type[IH_NAME_MAX + 1];
    int64_t heard; //  zclock_mono of the client's last request
    bool ready;    //  may make progress: pump it this turn
    uint64_t sent; //  RECORDs sent, for the log line
} s_stream_t;

typedef struct {
    zsock_t *pipe;
    zpoller_t *poller;
    zsock_t *router;
    ih_log_t *log;           //  borrowed; the ingest actor writes it
    ih_registry_t *registry; //  borrowed: site -> district, permissions
    bool secure;             //  CURVE: every request names its reader
    zhashx_t *streams;       //  identity hex -> s_stream_t
    zhashx_t *peers;         //  peer address -> open streams (size_t *)
    int idle_ms;
    size_t streams_max;
    size_t per_peer;
    int64_t swept; //  zclock_mono of the last idle sweep
    bool backoff;  //  a read failed this turn: do not spin
    bool verbose;
    bool terminated;
} s_self_t;

static void
s_stream_destroy (s_stream_t **self_p)
{
    if (*self_p) {
        s_stream_t *self = *self_p;
        zframe_destroy (&self->identity);
        zstr_free (&self->key);
        zstr_free (&self->peer);
        zstr_free (&self->reader);
        free (self);
        *self_p = NULL;
    }
}

static s_self_t *
s_self_new (zsock_t *pipe)
{
    s_self_t *self = (s_self_t *) zmalloc (sizeof (s_self_t));
    assert (self);
    self->pipe = pipe;
    self->poller = zpoller_new (pipe, NULL);
    assert (self->poller);
    self->streams = zhashx_new ();
    assert (self->streams);
    zhashx_set_destructor (self->streams,
                           (zhashx_destructor_fn *) s_stream_destroy);
    self->peers = zhashx_new ();
    assert (self->peers);
    zhashx_set_destructor (self->peers, (zhashx_destructor_fn *) zstr_free);
    self->idle_ms = IH_REPLAY_IDLE_MS;
    self->streams_max = IH_REPLAY_STREAMS_MAX;
    self->per_peer = IH_REPLAY_STREAMS_PER_PEER;
    return self;
}

static void
s_self_destroy (s_self_t **self_p)
{
    if (*self_p) {
        s_self_t *self = *self_p;
        zhashx_destroy (&self->streams);
        zhashx_destroy (&self->peers);
        zpoller_destroy (&self->poller);
        zsock_destroy (&self->router);
        free (self);
        *self_p = NULL;
    }
}

//  Open streams per peer address, kept as a counter in a string-keyed
//  table (values are malloc'ed size_t).
static size_t *
s_peer_count (s_self_t *self, const char *peer)
{
    size_t *count = (size_t *) zhashx_lookup (self->peers, peer);
    if (!count) {
        count = (size_t *) zmalloc (sizeof (size_t));
        assert (count);
        zhashx_insert (self->peers, peer, count);
    }
    return count;
}

static void
s_stream_close (s_self_t *self, s_stream_t *stream, const char *why)
{
    if (self->verbose)
        zsys_debug ("replay: stream %s closed (%s) next=%" PRIu64
                    " sent=%" PRIu64,
                    stream->key, why, stream->next, stream->sent);
    size_t *count = (size_t *) zhashx_lookup (self->peers, stream->peer);
    if (count && --*count == 0)
        zhashx_delete (self->peers, stream->peer);
    zhashx_delete (self->streams, stream->key); //  frees stream
}

//  Sends msg to identity (copied). Returns 0, or -1 if the peer is gone or
//  its queue is full (ROUTER_MANDATORY, zero send timeout).
static int
s_send (s_self_t *self, zframe_t *identity, zmsg_t **msg_p)
{
    zframe_t *id = zframe_dup (identity);
    zmsg_prepend (*msg_p, &id);
    int rc = zmsg_send (msg_p, self->router);
    if (rc)
        zmsg_destroy (msg_p); //  not sent: CZMQ leaves it to us
    return rc;
}

static void
s_nak (s_self_t *self, zframe_t *identity, ih_err_t code, const char *reason)
{
    zmsg_t *nak = ih_wire_nak (code, reason, NULL, 0, 0);
    if (s_send (self, identity, &nak))
        zsys_debug ("replay: NAK %s not delivered", ih_err_name (code));
}

//  --------------------------------------------------------------------------
//  Streams

//  District of site into district (IH_NAME_MAX + 1 bytes). The registry
//  is log-derived and changes as registry events are stored, so it is
//  asked for each record.
static void
s_district (s_self_t *self, const char *site, char *district)
{
    ih_site_t entry;
    //  A site the registry does not know (its events were stored before a
    //  registry reset, or the log was copied): its events still replay,
    //  under a district no filter names
    if (ih_registry_lookup (self->registry, site, &entry))
        memcpy (district, entry.district, IH_NAME_MAX + 1);
    else
        strcpy (district, "unknown");
}

//  What the checks below start from: 1 if reader is a registered,
//  unrevoked site (its entry in *entry), for the caller to judge by its
//  kind. Else 0 if it may go ahead without one (plain text: reader NULL
//  on a socket without CURVE), or -1 if it may not; why gets the reason.
static int
s_reader_entry (s_self_t *self, const char *reader, ih_site_t *entry, char *why,
                size_t why_size)
{
    if (!reader) {
        snprintf (why, why_size, "no authenticated reader");
        return self->secure ? -1 : 0;
    }
    if (!ih_registry_lookup (self->registry, reader, entry) || entry->revoked) {
        snprintf (why, why_size, "site %s is not registered or revoked",
                  reader);
        return -1;
    }
    return 1;
}

//  May reader read events of district/site ("" = any)? Plain text
//  (reader NULL on a socket without CURVE): yes. Else the reader's scope
//  decides (ih_registry_may_read); on refusal why gets the reason.
static bool
s_may_read (s_self_t *self, const char *reader, const char *district,
            const char *site, char *why, size_t why_size)
{
    ih_site_t entry;
    int found = s_reader_entry (self, reader, &entry, why, why_size);
    if (found < 1)
        return found == 0;
    if (ih_registry_may_read (self->registry, reader,
                              district && *district ? district : NULL,
                              site && *site ? site : NULL))
        return true;
    ih_read_scope_t scope = ih_registry_read_scope (self->registry, entry.kind);
    if (scope == IH_READ_OWN)
        snprintf (why, why_size,
                  "kind %s reads only its own events: set site=%s", entry.kind,
                  reader);
    else if (scope == IH_READ_DISTRICT)
        snprintf (why, why_size,
                  "kind %s reads only its district: set district=%s",
                  entry.kind, entry.district);
    else
        snprintf (why, why_size, "kind %s may not read (scope %s)", entry.kind,
                  ih_regchange_scope_name (scope));
    return false;
}

//  Checkpoints and proofs: read scope all only (plain text: anyone).
static bool
s_may_prove (s_self_t *self, const char *reader, char *why, size_t why_size)
{
    ih_site_t entry;
    int found = s_reader_entry (self, reader, &entry, why, why_size);
    if (found < 1)
        return found == 0;
    ih_read_scope_t scope = ih_registry_read_scope (self->registry, entry.kind);
    if (scope == IH_READ_ALL)
        return true;
    snprintf (why, why_size,
              "checkpoints and proofs need read scope all; kind %s has %s",
              entry.kind, ih_regchange_scope_name (scope));
    return false;
}

typedef struct {
    s_self_t *self;
    s_stream_t *stream;
    uint64_t examined;
    bool stop;    //  stopped early: credit, scan limit, `to` or send failure
    bool blocked; //  a matching event waits for credit
    bool past_to; //  reached a hub_seq beyond the stream's `to`
    bool dead;    //  a send failed
} s_pump_t;

static int
s_pump_fn (uint64_t hub_seq, uint64_t received, const uint8_t *bytes,
           size_t size, void *arg)
{
    s_pump_t *pump = (s_pump_t *) arg;
    s_stream_t *stream = pump->stream;
    if (stream->to && hub_seq > stream->to) {
        pump->past_to = true;
        return 1;
    }
    if (pump->examined >= IH_REPLAY_SCAN_MAX) {
        pump->stop = true;
        return 1;
    }
    ih_event_t event;
    if (received == 0 || ih_event_decode (bytes, size, &event) != IH_OK) {
        //  A damaged record is the auditor's business; a reader cannot
        //  use it, and skipping it must not look like a gap: it counts
        //  as examined
        zsys_warning ("replay: hub_seq=%" PRIu64 " does not decode; skipped",
                      hub_seq);
    } else {
        char district[IH_NAME_MAX + 1];
        s_district (pump->self, event.site, district);
        if ((!*stream->district || streq (stream->district, district)) &&
            (!*stream->site || streq (stream->site, event.site)) &&
            (!*stream->type || streq (stream->type, event.type))) {
            if (stream->credit == 0) {
                pump->blocked = true;
                return 1; //  not examined: next stays here
            }
            zmsg_t *record =
                ih_wire_record (hub_seq, received, district, bytes, size);
            if (s_send (pump->self, stream->identity, &record)) {
                pump->dead = true;
                return 1;
            }
            stream->credit--;
            stream->sent++;
        }
    }
    pump->examined++;
    stream->next = hub_seq + 1;
    return 0;
}

//  One turn of one stream. Closes it when it is done or dead.
static void
s_pump (s_self_t *self, s_stream_t *stream)
{
    //  The registry changed since the stream's access was checked: check
    //  again, so a revoked reader or a narrowed scope takes effect
    uint64_t version = ih_registry_version (self->registry);
    if (stream->reader && version != stream->version) {
        char why[IH_WIRE_REASON_MAX];
        if (!s_may_read (self, stream->reader, stream->district, stream->site,
                         why, sizeof why)) {
            zsys_warning ("replay: stream of site=%s denied: %s",
                          stream->reader, why);
            s_nak (self, stream->identity, IH_E_DENIED, why);
            s_stream_close (self, stream, "denied");
            return;
        }
        stream->version = version;
    }
    s_pump_t pump = {self, stream, 0, false, false, false, false};
    ih_err_t err = IH_OK;
    if (!(stream->to && stream->next > stream->to))
        err = ih_log_read (self->log, stream->next, 0, s_pump_fn, &pump);
    if (err != IH_OK) {
        //  Transient (the log is shared with the writer): try again soon
        self->backoff = true;
        return;
    }
    if (pump.dead) {
        s_stream_close (self, stream, "client gone or not reading");
        return;
    }
    if (pump.blocked) {
        stream->ready = false; //  until CREDIT
        return;
    }
    if (pump.stop)
        return; //  more next turn
    //  Everything up to the end of the log (or `to`) has been examined
    uint64_t last = stream->next - 1;
    uint64_t log_last = ih_log_last (self->log);
    if (last > log_last)
        last = log_last; //  started beyond the end: claim nothing more
    if (stream->to && last > stream->to)
        last = stream->to;
    zmsg_t *end = ih_wire_end (last);
    s_send (self, stream->identity, &end);
    s_stream_close (self, stream, "END");
}

//  The first hub_seq whose received time is >= from_time (binary search,
//  relying on received times that do not decrease along the log; if the
//  hub's clock went back, it returns one such point, not necessarily the
//  first), or log_last + 1 if none.
typedef struct {
    uint64_t hub_seq;
    uint64_t received;
} s_probe_t;

static int
s_probe_fn (uint64_t hub_seq, uint64_t received, const uint8_t *bytes,
            size_t size, void *arg)
{
    (void) bytes;
    (void) size;
    s_probe_t *probe = (s_probe_t *) arg;
    probe->hub_seq = hub_seq;
    probe->received = received;
    return 1;
}

static ih_err_t
s_seek_time (s_self_t *self, uint64_t from_time, uint64_t *seq_p)
{
    uint64_t low = 1, high = ih_log_last (self->log) + 1;
    //  Invariant: every hub_seq < low has received < from_time, and high is
    //  log_last + 1 or a hub_seq with received >= from_time
    while (low < high) {
        uint64_t mid = low + (high - low) / 2;
        s_probe_t probe = {0, 0};
        ih_err_t err = ih_log_read (self->log, mid, 1, s_probe_fn, &probe);
        if (err)
            return err;
        if (probe.hub_seq == 0) {
            high = mid; //  nothing at or after mid (cannot happen: no holes)
            continue;
        }
        if (probe.received >= from_time)
            high = mid;
        else
            low = probe.hub_seq + 1;
    }
    *seq_p = low;
    return IH_OK;
}

static void
s_handle_replay (s_self_t *self, zframe_t *identity, const char *key,
                 const char *peer, const char *reader, const ih_wire_t *wire)
{
    //  A new REPLAY replaces the client's open stream, if any
    s_stream_t *old = (s_stream_t *) zhashx_lookup (self->streams, key);
    if (old)
        s_stream_close (self, old, "replaced");
    char why[IH_WIRE_REASON_MAX];
    uint64_t version = ih_registry_version (self->registry);
    if (!s_may_read (self, reader, wire->district, wire->site, why,
                     sizeof why)) {
        zsys_warning ("replay: REPLAY of site=%s from '%s' denied: %s",
                      reader ? reader : "-", peer, why);
        s_nak (self, identity, IH_E_DENIED, why);
        return;
    }
    size_t *count = s_peer_count (self, peer);
    if (zhashx_size (self->streams) >= self->streams_max ||
        *count >= self->per_peer) {
        if (*count == 0)
            zhashx_delete (self->peers, peer);
        zsys_warning ("replay: refused a stream from '%s': %zu open", peer,
                      zhashx_size (self->streams));
        s_nak (self, identity, IH_E_FULL, "too many replay streams");
        return;
    }
    uint64_t from = wire->from ? wire->from : 1;
    if (wire->from_time) {
        ih_err_t err = s_seek_time (self, wire->from_time, &from);
        if (err) {
            s_nak (self, identity, err, "cannot read the log");
            return;
        }
    }
    s_stream_t *stream = (s_stream_t *) zmalloc (sizeof (s_stream_t));
    assert (stream);
    stream->identity = zframe_dup (identity);
    stream->key = strdup (key);
    stream->peer = strdup (peer);
    stream->reader = reader ? strdup (reader) : NULL;
    stream->version = version;
    stream->next = from;
    stream->to = wire->to;
    stream->credit = wire->credit < IH_REPLAY_CREDIT_MAX ? wire->credit
                                                         : IH_REPLAY_CREDIT_MAX;
    strcpy (stream->district, wire->district);
    strcpy (stream->site, wire->site);
    strcpy (stream->type, wire->type);
    stream->heard = zclock_mono ();
    stream->ready = true;
    (*count)++;
    zhashx_insert (self->streams, key, stream);
    if (self->verbose)
        zsys_debug ("replay: stream %s from=%" PRIu64 " to=%" PRIu64
                    " credit=%" PRIu64,
                    key, from, stream->to, stream->credit);
}

static void
s_handle_credit (s_self_t *self, const char *key, const ih_wire_t *wire)
{
    //  CREDIT is never answered: one for a stream that has just ended (or
    //  was forgotten) crosses the END on the wire and is simply dropped
    s_stream_t *stream = (s_stream_t *) zhashx_lookup (self->streams, key);
    if (!stream)
        return;
    uint64_t room = IH_REPLAY_CREDIT_MAX - stream->credit;
    stream->credit += wire->credit < room ? wire->credit : room;
    stream->heard = zclock_mono ();
    stream->ready = true;
}

//  --------------------------------------------------------------------------
//  Checkpoints and proofs

//  The stored checkpoint of size (0 = latest) into out; *size_p its tree
//  size. NAKs and returns -1 on failure.
static int
s_checkpoint (s_self_t *self, zframe_t *identity, uint64_t size, uint8_t *out,
              size_t *len_p, uint64_t *size_p)
{
    ih_err_t err = ih_log_checkpoint (self->log, size, out, len_p);
    ih_checkpoint_t checkpoint;
    if (!err)
        err = ih_checkpoint_decode (out, *len_p, &checkpoint);
    if (err) {
        char reason[100];
        if (err == IH_E_MISSING && size)
            snprintf (reason, sizeof reason, "no checkpoint of size %" PRIu64,
                      size);
        else if (err == IH_E_MISSING)
            snprintf (reason, sizeof reason, "no checkpoint yet");
        else
            snprintf (reason, sizeof reason, "cannot read the checkpoint");
        s_nak (self, identity, err == IH_E_MISSING ? err : IH_E_STORE, reason);
        return -1;
    }
    *size_p = checkpoint.size;
    return 0;
}

typedef struct {
    uint64_t hub_seq;
    uint8_t *bytes;
    size_t size;
} s_copy_t;

static int
s_copy_fn (uint64_t hub_seq, uint64_t received, const uint8_t *bytes,
           size_t size, void *arg)
{
    (void) received;
    s_copy_t *copy = (s_copy_t *) arg;
    copy->hub_seq = hub_seq;
    copy->bytes = (uint8_t *) malloc (size);
    assert (copy->bytes);
    memcpy (copy->bytes, bytes, size);
    copy->size = size;
    return 1;
}

static void
s_handle_inclusion (s_self_t *self, zframe_t *identity, const ih_wire_t *wire)
{
    uint8_t cp[IH_CHECKPOINT_MAX];
    size_t cp_len = 0;
    uint64_t size = 0;
    if (s_checkpoint (self, identity, wire->size, cp, &cp_len, &size))
        return;
    if (wire->hub_seq > size) {
        s_nak (self, identity, IH_E_BADARG, "hub_seq beyond the tree size");
        return;
    }
    s_copy_t copy = {0, NULL, 0};
    uint8_t *path = NULL;
    size_t path_len = 0;
    ih_err_t err =
        ih_log_read_raw (self->log, wire->hub_seq, 1, s_copy_fn, &copy);
    if (!err && copy.hub_seq != wire->hub_seq)
        err = IH_E_STORE; //  a covered record must exist
    if (!err)
        err = ih_log_inclusion_proof (self->log, wire->hub_seq, size, &path,
                                      &path_len);
    if (!err && (copy.size <= IH_RECORD_HEADER ||
                 copy.size > IH_RECORD_HEADER + IH_EVENT_MAX ||
                 path_len > IH_WIRE_PATH_MAX))
        err = IH_E_STORE; //  the reply would not decode
    if (err)
        s_nak (self, identity, err == IH_E_BADARG ? err : IH_E_STORE,
               "cannot build the inclusion proof");
    else {
        zmsg_t *reply =
            ih_wire_inclusion (wire->hub_seq, size, copy.bytes, copy.size, path,
                               path_len, cp, cp_len);
        s_send (self, identity, &reply);
    }
    free (copy.bytes);
    free (path);
}

static void
s_handle_consistency (s_self_t *self, zframe_t *identity, const ih_wire_t *wire)
{
    uint8_t old_cp[IH_CHECKPOINT_MAX], new_cp[IH_CHECKPOINT_MAX];
    size_t old_len = 0, new_len = 0;
    uint64_t old_size = 0, new_size = 0;
    if (wire->old_size == 0) {
        s_nak (self, identity, IH_E_BADARG, "old size must be >= 1");
        return;
    }
    if (s_checkpoint (self, identity, wire->old_size, old_cp, &old_len,
                      &old_size) ||
        s_checkpoint (self, identity, wire->new_size, new_cp, &new_len,
                      &new_size))
        return;
    if (old_size > new_size) {
        s_nak (self, identity, IH_E_BADARG, "old size beyond new size");
        return;
    }
    uint8_t *proof = NULL;
    size_t proof_len = 0;
    ih_err_t err = ih_log_consistency_proof (self->log, old_size, new_size,
                                             &proof, &proof_len);
    if (!err && proof_len > IH_WIRE_CPROOF_MAX)
        err = IH_E_STORE;
    if (err)
        s_nak (self, identity, err == IH_E_BADARG ? err : IH_E_STORE,
               "cannot build the consistency proof");
    else {
        zmsg_t *reply = ih_wire_consistency (old_cp, old_len, new_cp, new_len,
                                             proof, proof_len);
        s_send (self, identity, &reply);
    }
    free (proof);
}

//  --------------------------------------------------------------------------
//  The sockets

static void
s_handle_router (s_self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return; //  interrupted
    zframe_t *identity = zmsg_pop (msg);
    if (!identity || zmsg_size (msg) == 0) {
        zframe_destroy (&identity);
        zmsg_destroy (&msg);
        return;
    }
    char *key = zframe_strhex (identity);
    const char *peer = zframe_meta (zmsg_first (msg), "Peer-Address");
    char *peer_copy = strdup (peer ? peer : "");
    //  The reader's site id (User-Id), borrowed from msg
    const char *reader = ih_curve_peer (zmsg_first (msg));
    char why[IH_WIRE_REASON_MAX];
    ih_wire_t wire;
    ih_err_t err = ih_wire_decode (msg, &wire);
    if (err) {
        zsys_debug ("replay: NAK %s from %s", ih_err_name (err), peer_copy);
        s_nak (self, identity, err, NULL);
    } else if ((wire.kind == IH_WIRE_CHECKPOINT ||
                wire.kind == IH_WIRE_PROVE_INCLUSION ||
                wire.kind == IH_WIRE_PROVE_CONSISTENCY) &&
               !s_may_prove (self, reader, why, sizeof why)) {
        zsys_warning ("replay: proof request of site=%s from '%s' denied: %s",
                      reader ? reader : "-", peer_copy, why);
        s_nak (self, identity, IH_E_DENIED, why);
    } else
        switch (wire.kind) {
        case IH_WIRE_REPLAY:
            s_handle_replay (self, identity, key, peer_copy, reader, &wire);
            break;
        case IH_WIRE_CREDIT:
            s_handle_credit (self, key, &wire);
            break;
        case IH_WIRE_CHECKPOINT: {
            uint8_t cp[IH_CHECKPOINT_MAX];
            size_t len = 0;
            uint64_t size = 0;
            if (!s_checkpoint (self, identity, wire.size, cp, &len, &size)) {
                zmsg_t *reply = ih_wire_signed_checkpoint (cp, len);
                s_send (self, identity, &reply);
            }
            break;
        }
        case IH_WIRE_PROVE_INCLUSION:
            s_handle_inclusion (self, identity, &wire);
            break;
        case IH_WIRE_PROVE_CONSISTENCY:
            s_handle_consistency (self, identity, &wire);
            break;
        default:
            s_nak (self, identity, IH_E_COMMAND,
                   "not a replay service request");
        }
    zstr_free (&key);
    free (peer_copy);
    zframe_destroy (&identity);
    zmsg_destroy (&msg);
}

//  Pops a pointer frame (zsock_send "p") from request; NULL if absent.
static void *
s_pop_pointer (zmsg_t *request)
{
    void *pointer = NULL;
    zframe_t *frame = zmsg_pop (request);
    if (frame && zframe_size (frame) == sizeof (pointer))
        memcpy (&pointer, zframe_data (frame), sizeof (pointer));
    zframe_destroy (&frame);
    return pointer;
}

static void
s_start (s_self_t *self, zmsg_t *request)
{
    ih_log_t *log = (ih_log_t *) s_pop_pointer (request);
    ih_registry_t *registry = (ih_registry_t *) s_pop_pointer (request);
    ih_key_t *hub_key = (ih_key_t *) s_pop_pointer (request);
    char *endpoint = zmsg_popstr (request);
    char *reason = NULL;
    if (self->router)
        reason = strdup ("already started");
    else if (!log || !registry || !endpoint)
        reason = strdup ("START needs a log, a registry and an endpoint");
    if (!reason) {
        self->router = zsock_new (ZMQ_ROUTER);
        assert (self->router);
        zsock_set_maxmsgsize (self->router, IH_WIRE_MAX);
        zsock_set_router_mandatory (self->router, 1);
        zsock_set_sndtimeo (self->router, 0);
        zsock_set_sndhwm (self->router, IH_REPLAY_CREDIT_MAX + 100);
        zsock_set_rcvhwm (self->router, 10000);
        if (hub_key) {
            ih_err_t err =
                ih_curve_server (self->router, hub_key, IH_CURVE_DOMAIN_REPLAY);
            if (err)
                reason = zsys_sprintf ("cannot secure %s: %s", endpoint,
                                       ih_strerror (err));
        }
        if (!reason && zsock_bind (self->router, "%s", endpoint) == -1)
            reason = zsys_sprintf ("cannot bind %s: %s", endpoint,
                                   zmq_strerror (zmq_errno ()));
        if (reason)
            zsock_destroy (&self->router);
    }
    if (reason)
        zsock_send (self->pipe, "is", -1, reason);
    else {
        self->log = log;
        self->registry = registry;
        self->secure = hub_key != NULL;
        zpoller_add (self->poller, self->router);
        const char *bound = zsock_endpoint (self->router);
        zsock_send (self->pipe, "is", 0, bound ? bound : endpoint);
        zsys_info ("replay: serving on %s (%s)", bound ? bound : endpoint,
                   self->secure ? "CURVE" : "plain text");
    }
    zstr_free (&reason);
    zstr_free (&endpoint);
}

static void
s_handle_pipe (s_self_t *self)
{
    zmsg_t *request = zmsg_recv (self->pipe);
    if (!request) {
        self->terminated = true;
        return;
    }
    char *command = zmsg_popstr (request);
    assert (command);
    if (streq (command, "$TERM"))
        self->terminated = true;
    else if (streq (command, "START"))
        s_start (self, request);
    else if (streq (command, "IDLE")) {
        char *ms = zmsg_popstr (request);
        self->idle_ms = ms ? atoi (ms) : IH_REPLAY_IDLE_MS;
        if (self->idle_ms < 1)
            self->idle_ms = 1;
        zstr_free (&ms);
        zsock_signal (self->pipe, 0);
    } else if (streq (command, "STREAMS")) {
        char *max = zmsg_popstr (request);
        char *per = zmsg_popstr (request);
        self->streams_max = max ? (size_t) atol (max) : IH_REPLAY_STREAMS_MAX;
        self->per_peer = per ? (size_t) atol (per) : IH_REPLAY_STREAMS_PER_PEER;
        zstr_free (&max);
        zstr_free (&per);
        zsock_signal (self->pipe, 0);
    } else if (streq (command, "VERBOSE"))
        self->verbose = true;
    else {
        zsys_error ("replay: unknown pipe command '%s'", command);
        assert (false);
    }
    zstr_free (&command);
    zmsg_destroy (&request);
}

//  Forgets streams whose client has been silent for idle_ms.
static void
s_sweep (s_self_t *self)
{
    int64_t now = zclock_mono ();
    zlistx_t *stale = zlistx_new ();
    assert (stale);
    s_stream_t *stream = (s_stream_t *) zhashx_first (self->streams);
    while (stream) {
        if (now - stream->heard >= self->idle_ms)
            zlistx_add_end (stale, stream);
        stream = (s_stream_t *) zhashx_next (self->streams);
    }
    stream = (s_stream_t *) zlistx_first (stale);
    while (stream) {
        s_stream_close (self, stream, "idle");
        stream = (s_stream_t *) zlistx_next (stale);
    }
    zlistx_destroy (&stale);
    self->swept = now;
}

//  One turn for every stream that can make progress. Returns true if some
//  stream still can (the loop then polls without waiting).
static bool
s_pump_all (s_self_t *self)
{
    self->backoff = false;
    zlistx_t *ready = zlistx_new ();
    assert (ready);
    s_stream_t *stream = (s_stream_t *) zhashx_first (self->streams);
    while (stream) {
        if (stream->ready)
            zlistx_add_end (ready, stream);
        stream = (s_stream_t *) zhashx_next (self->streams);
    }
    //  s_pump may close (free) the stream it is given, never another
    stream = (s_stream_t *) zlistx_first (ready);
    while (stream) {
        s_pump (self, stream);
        stream = (s_stream_t *) zlistx_next (ready);
    }
    zlistx_destroy (&ready);
    stream = (s_stream_t *) zhashx_first (self->streams);
    while (stream) {
        if (stream->ready)
            return true;
        stream = (s_stream_t *) zhashx_next (self->streams);
    }
    return false;
}

void
ih_replay_actor (zsock_t *pipe, void *args)
{
    (void) args;
    s_self_t *self = s_self_new (pipe);
    zsock_signal (pipe, 0);
    bool busy = false;
    while (!self->terminated) {
        //  Wait only when no stream can make progress; a read that failed
        //  is retried after a short pause rather than in a tight loop
        int timeout = busy ? (self->backoff ? 10 : 0) : 1000;
        if (self->idle_ms < timeout)
            timeout = self->idle_ms;
        void *which = zpoller_wait (self->poller, timeout);
        if (which == self->pipe)
            s_handle_pipe (self);
        else if (self->router && which == self->router)
            s_handle_router (self);
        else if (zpoller_terminated (self->poller))
            break;
        busy = self->router ? s_pump_all (self) : false;
        if (zclock_mono () - self->swept >= self->idle_ms / 2 + 1)
            s_sweep (self);
    }
    s_self_destroy (&self);
}

int
ih_replay_start (zactor_t *self, ih_log_t *log, ih_registry_t *registry,
                 ih_key_t *hub_key, const char *endpoint, char **endpoint_p)
{
    assert (self && log && registry && endpoint && endpoint_p);
    zsock_send (self, "sppps", "START", log, registry, hub_key, endpoint);
    int status = -1;
    *endpoint_p = NULL;
    zsock_recv (self, "is", &status, endpoint_p);
    return status == 0 ? 0 : -1;
}

void
ih_replay_set_idle (zactor_t *self, int idle_ms)
{
    assert (self);
    zsock_send (self, "si", "IDLE", idle_ms);
    zsock_wait (self);
}

void
ih_replay_set_streams (zactor_t *self, size_t max, size_t per_peer)
{
    assert (self);
    char max_text[32], per_text[32];
    snprintf (max_text, sizeof max_text, "%zu", max);
    snprintf (per_text, sizeof per_text, "%zu", per_peer);
    zsock_send (self, "sss", "STREAMS", max_text, per_text);
    zsock_wait (self);
}

//  --------------------------------------------------------------------------
//  Selftest

#include "ih_hubtest.h"
#include "ih_merkle.h"
#include "ih_zap.h"

#define S_EVENTS 50

//  A CURVE client of the replay service, as key.
static zsock_t *
s_test_client (const char *endpoint, ih_key_t *key, ih_key_t *hub)
{
    zsock_t *dealer = ih_hubtest_client (ZMQ_DEALER, endpoint, key, hub);
    zsock_set_rcvtimeo (dealer, 10000);
    return dealer;
}

//  Receives one message and decodes it; fails the test on timeout.
static zmsg_t *
s_test_recv (zsock_t *dealer, ih_wire_t *wire)
{
    zmsg_t *msg = zmsg_recv (dealer);
    assert (msg);
    ih_err_t err = ih_wire_decode (msg, wire);
    assert (err == IH_OK);
    return msg;
}

static void
s_test_send (zsock_t *dealer, zmsg_t *msg)
{
    int rc = zmsg_send (&msg, dealer);
    assert (rc == 0);
}

//  Receives RECORDs until END; checks hub order; returns their count and
//  sets *last_p to END's last.
static size_t
s_test_drain (zsock_t *dealer, uint64_t *first_p, uint64_t *last_p)
{
    size_t count = 0;
    uint64_t prev = 0;
    while (true) {
        ih_wire_t wire;
        zmsg_t *msg = s_test_recv (dealer, &wire);
        if (wire.kind == IH_WIRE_END) {
            *last_p = wire.last;
            zmsg_destroy (&msg);
            return count;
        }
        assert (wire.kind == IH_WIRE_RECORD);
        assert (wire.hub_seq > prev);
        if (count == 0 && first_p)
            *first_p = wire.hub_seq;
        prev = wire.hub_seq;
        count++;
        zmsg_destroy (&msg);
    }
}

//  Asks for a checkpoint; returns the NAK code or IH_OK and the decoded one.
static ih_err_t
s_test_checkpoint (zsock_t *dealer, uint64_t size, ih_checkpoint_t *cp)
{
    s_test_send (dealer, ih_wire_checkpoint_request (size));
    ih_wire_t wire;
    zmsg_t *msg = s_test_recv (dealer, &wire);
    ih_err_t err = wire.kind == IH_WIRE_NAK ? wire.code : IH_OK;
    if (!err) {
        assert (wire.kind == IH_WIRE_SIGNED_CHECKPOINT);
        assert (ih_checkpoint_decode (wire.checkpoint, wire.checkpoint_size,
                                      cp) == IH_OK);
    }
    zmsg_destroy (&msg);
    return err;
}

//  Appends the chain's next event of type to the chain's log, received at
//  received (and made 5 ms before).
static void
s_test_append (ih_hubtest_chain_t *chain, const char *type, uint64_t received)
{
    ih_hubtest_chain_append (chain, type, received - 5, NULL, received);
}

static void
s_test_sign_checkpoint (ih_log_t *log, ih_key_t *hub_key, uint64_t size)
{
    uint8_t root[IH_HASH_SIZE], cp[IH_CHECKPOINT_MAX];
    size_t len;
    assert (ih_log_root (log, size, root) == IH_OK);
    assert (ih_checkpoint_sign (size, root, ih_event_now (), hub_key, cp,
                                &len) == IH_OK);
    assert (ih_log_put_checkpoint (log, cp, len) == IH_OK);
}

void
ih_replay_test (bool verbose)
{
    printf (" * ih_replay: ");
    ih_hubtest_t *test = ih_hubtest_new ("ih_replay_test");
    char *data = ih_hubtest_path (test, "data");
    assert (zsys_dir_create (data) == 0);

    //  Two sites in two districts, and an auditor, registered by the
    //  bureau (the registry alone: the log holds only the sites' events)
    ih_key_t *keys[2] = {ih_key_new ("lh-a"), ih_key_new ("sn-b")};
    ih_key_t *auditor = ih_key_new ("audit-01");
    assert (keys[0] && keys[1] && auditor);
    const char *districts[2] = {"laoshan", "shinan"};
    ih_registry_t *registry = test->registry;
    for (int i = 0; i < 2; i++)
        ih_hubtest_add_site (test, keys[i], "incubator", districts[i]);
    ih_hubtest_add_site (test, auditor, "auditor", "city");
    ih_key_t *hub_key = ih_key_new ("hub-test");

    //  hub_seq n: site n % 2, type door.open when n % 3 == 0, received
    //  1000 + 10 n
    ih_log_t *log = ih_log_new (data, false, 0);
    assert (log);
    ih_hubtest_chain_t chains[2] = {{keys[0], 0, {0}, log},
                                    {keys[1], 0, {0}, log}};
    assert (ih_log_begin (log) == IH_OK);
    for (uint64_t n = 1; n <= S_EVENTS; n++)
        s_test_append (&chains[n % 2], n % 3 == 0 ? "door.open" : "sensor.temp",
                       1000 + 10 * n);
    assert (ih_log_commit (log) == IH_OK);
    s_test_sign_checkpoint (log, hub_key, 20);
    s_test_sign_checkpoint (log, hub_key, S_EVENTS);

    zactor_t *replay = zactor_new (ih_replay_actor, NULL);
    assert (replay);
    if (verbose)
        zstr_send (replay, "VERBOSE");
    char *endpoint = NULL;
    assert (ih_replay_start (replay, log, registry, NULL, "bogus://x",
                             &endpoint) == -1);
    zstr_free (&endpoint);
    //  Plain text: no reader is identified, nothing is checked
    assert (ih_replay_start (replay, log, registry, NULL, "tcp://127.0.0.1:*",
                             &endpoint) == 0);
    assert (strncmp (endpoint, "tcp://127.0.0.1:", 16) == 0);
    zsock_t *dealer = zsock_new_dealer (endpoint);
    assert (dealer);
    zsock_set_rcvtimeo (dealer, 5000);

    ih_wire_t wire;
    zmsg_t *msg;

    //  Credit exhaustion: 10 RECORDs, then nothing until CREDIT. The
    //  CHECKPOINT answer arriving next proves no 11th was sent.
    s_test_send (dealer, ih_wire_replay (0, 0, 0, NULL, NULL, NULL, 10));
    for (uint64_t n = 1; n <= 10; n++) {
        msg = s_test_recv (dealer, &wire);
        assert (wire.kind == IH_WIRE_RECORD && wire.hub_seq == n);
        assert (wire.received == 1000 + 10 * n);
        assert (streq (wire.district, districts[n % 2]));
        assert (ih_event_verify (wire.event, wire.event_size,
                                 ih_key_public (keys[n % 2])) == IH_OK);
        zmsg_destroy (&msg);
    }
    ih_checkpoint_t cp;
    assert (s_test_checkpoint (dealer, 0, &cp) == IH_OK);
    assert (cp.size == S_EVENTS && streq (cp.log_id, "hub-test"));
    s_test_send (dealer, ih_wire_credit (5));
    s_test_send (dealer, ih_wire_credit (1000));
    uint64_t first = 0, last = 0;
    assert (s_test_drain (dealer, &first, &last) == S_EVENTS - 10);
    assert (first == 11 && last == S_EVENTS);

    //  Filters: laoshan (even hub_seqs) door.open (multiples of 3)
    s_test_send (dealer,
                 ih_wire_replay (1, 0, 0, "laoshan", NULL, "door.open", 100));
    assert (s_test_drain (dealer, &first, &last) == S_EVENTS / 6);
    assert (first == 6 && last == S_EVENTS);
    s_test_send (dealer, ih_wire_replay (1, 0, 0, NULL, "sn-b", NULL, 100));
    assert (s_test_drain (dealer, &first, &last) == S_EVENTS / 2);
    assert (first == 1);
    //  No match at all, no credit: END at once
    s_test_send (dealer, ih_wire_replay (1, 0, 0, "nowhere", NULL, NULL, 0));
    assert (s_test_drain (dealer, NULL, &last) == 0 && last == S_EVENTS);
    //  from_time and to
    s_test_send (dealer, ih_wire_replay (0, 1250, 30, NULL, NULL, NULL, 100));
    assert (s_test_drain (dealer, &first, &last) == 6);
    assert (first == 25 && last == 30);
    s_test_send (dealer, ih_wire_replay (0, 1251, 0, NULL, NULL, NULL, 100));
    assert (s_test_drain (dealer, &first, &last) == S_EVENTS - 25);
    assert (first == 26);
    s_test_send (dealer, ih_wire_replay (0, 99999, 0, NULL, NULL, NULL, 100));
    assert (s_test_drain (dealer, NULL, &last) == 0 && last == S_EVENTS);
    //  Beyond the end: END claims only what exists
    s_test_send (dealer, ih_wire_replay (100, 0, 0, NULL, NULL, NULL, 100));
    assert (s_test_drain (dealer, NULL, &last) == 0 && last == S_EVENTS);

    //  The log grows while a stream waits for credit; the writer (this
    //  thread) holds a batch open while the actor reads
    assert (ih_log_begin (log) == IH_OK);
    for (uint64_t n = S_EVENTS + 1; n <= S_EVENTS + 10; n++)
        s_test_append (&chains[n % 2], "sensor.temp", 1000 + 10 * n);
    s_test_send (dealer, ih_wire_replay (45, 0, 0, NULL, NULL, NULL, 2));
    for (uint64_t n = 45; n <= 46; n++) {
        msg = s_test_recv (dealer, &wire);
        assert (wire.kind == IH_WIRE_RECORD && wire.hub_seq == n);
        zmsg_destroy (&msg);
    }
    assert (s_test_checkpoint (dealer, 20, &cp) == IH_OK); //  batch open
    assert (ih_log_commit (log) == IH_OK);
    s_test_send (dealer, ih_wire_credit (100));
    assert (s_test_drain (dealer, &first, &last) == 14);
    assert (first == 47 && last == S_EVENTS + 10);

    //  Checkpoints
    assert (s_test_checkpoint (dealer, 20, &cp) == IH_OK && cp.size == 20);
    assert (s_test_checkpoint (dealer, 21, &cp) == IH_E_MISSING);

    //  Inclusion proofs verify against the checkpoint's root
    uint64_t cases[][3] = {
        {7, 0, S_EVENTS}, {7, 20, 20}, {20, 20, 20}, {1, 0, S_EVENTS}};
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        s_test_send (dealer,
                     ih_wire_prove_inclusion (cases[i][0], cases[i][1]));
        msg = s_test_recv (dealer, &wire);
        assert (wire.kind == IH_WIRE_INCLUSION);
        assert (wire.hub_seq == cases[i][0] && wire.size == cases[i][2]);
        assert (ih_checkpoint_decode (wire.checkpoint, wire.checkpoint_size,
                                      &cp) == IH_OK);
        assert (ih_checkpoint_verify (wire.checkpoint, wire.checkpoint_size,
                                      ih_key_public (hub_key)) == IH_OK);
        uint8_t leaf[IH_HASH_SIZE];
        ih_merkle_leaf_hash (wire.record, wire.record_size, leaf);
        assert (ih_merkle_verify_inclusion (
                    wire.hub_seq - 1, cp.size, leaf, wire.proof,
                    wire.proof_size / IH_WIRE_HASH, cp.root) == IH_OK);
        zmsg_destroy (&msg);
    }
    //  ... and errors
    uint64_t bad[][3] = {{21, 20, IH_E_BADARG}, {1, 7, IH_E_MISSING}};
    for (size_t i = 0; i < 2; i++) {
        s_test_send (dealer, ih_wire_prove_inclusion (bad[i][0], bad[i][1]));
        msg = s_test_recv (dealer, &wire);
        assert (wire.kind == IH_WIRE_NAK && wire.code == (ih_err_t) bad[i][2]);
        zmsg_destroy (&msg);
    }

    //  Consistency proofs
    s_test_send (dealer, ih_wire_prove_consistency (20, 0));
    msg = s_test_recv (dealer, &wire);
    assert (wire.kind == IH_WIRE_CONSISTENCY);
    ih_checkpoint_t old_cp, new_cp;
    assert (ih_checkpoint_decode (wire.checkpoint, wire.checkpoint_size,
                                  &old_cp) == IH_OK);
    assert (ih_checkpoint_decode (wire.checkpoint_new, wire.checkpoint_new_size,
                                  &new_cp) == IH_OK);
    assert (old_cp.size == 20 && new_cp.size == S_EVENTS);
    assert (ih_merkle_verify_consistency (
                old_cp.size, new_cp.size, old_cp.root, new_cp.root, wire.proof,
                wire.proof_size / IH_WIRE_HASH) == IH_OK);
    zmsg_destroy (&msg);
    uint64_t bad_c[][3] = {{S_EVENTS, 20, IH_E_BADARG},
                           {0, 20, IH_E_BADARG},
                           {3, 20, IH_E_MISSING}};
    for (size_t i = 0; i < 3; i++) {
        s_test_send (dealer,
                     ih_wire_prove_consistency (bad_c[i][0], bad_c[i][1]));
        msg = s_test_recv (dealer, &wire);
        assert (wire.kind == IH_WIRE_NAK &&
                wire.code == (ih_err_t) bad_c[i][2]);
        zmsg_destroy (&msg);
    }

    //  Bad requests: NAKs, never silence
    s_test_send (dealer, ih_wire_ack ("lh-a", 1, 1));
    msg = s_test_recv (dealer, &wire);
    assert (wire.kind == IH_WIRE_NAK && wire.code == IH_E_COMMAND);
    zmsg_destroy (&msg);
    zmsg_t *garbage = zmsg_new ();
    zmsg_addstr (garbage, "REPLAY");
    zmsg_addstr (garbage, "junk");
    s_test_send (dealer, garbage);
    msg = s_test_recv (dealer, &wire);
    assert (wire.kind == IH_WIRE_NAK && wire.code == IH_E_TRAILING);
    zmsg_destroy (&msg);

    //  Stream caps and idle expiry: one stream allowed; a second client is
    //  refused until the first, silent, is forgotten
    ih_replay_set_streams (replay, 1, 1);
    ih_replay_set_idle (replay, 200);
    s_test_send (dealer, ih_wire_replay (1, 0, 0, NULL, NULL, NULL, 0));
    zsock_t *other = zsock_new_dealer (endpoint);
    assert (other);
    zsock_set_rcvtimeo (other, 5000);
    bool refused = false, served = false;
    int64_t deadline = zclock_mono () + 10000;
    while (!served && zclock_mono () < deadline) {
        s_test_send (other, ih_wire_replay (1, 0, 5, NULL, NULL, NULL, 10));
        msg = s_test_recv (other, &wire);
        if (wire.kind == IH_WIRE_NAK) {
            assert (wire.code == IH_E_FULL);
            refused = true;
        } else {
            assert (wire.kind == IH_WIRE_RECORD && wire.hub_seq == 1);
            served = true;
        }
        zmsg_destroy (&msg);
    }
    assert (refused && served);
    assert (s_test_drain (other, NULL, &last) == 4 && last == 5);
    //  The forgotten stream's late CREDIT is ignored: the next answer the
    //  first client gets is its CHECKPOINT's
    s_test_send (dealer, ih_wire_credit (10));
    assert (s_test_checkpoint (dealer, 20, &cp) == IH_OK);

    zsock_destroy (&other);
    zsock_destroy (&dealer);
    zactor_destroy (&replay);
    zstr_free (&endpoint);

    //  CURVE: the ZAP handler identifies each reader; the registry says
    //  what it may read
    zactor_t *zap = ih_zap_new (registry);
    assert (zap);
    replay = zactor_new (ih_replay_actor, NULL);
    assert (replay);
    assert (ih_replay_start (replay, log, registry, hub_key,
                             "tcp://127.0.0.1:*", &endpoint) == 0);
    //  An incubator reads only its own events, and no proofs
    zsock_t *own = s_test_client (endpoint, keys[0], hub_key);
    s_test_send (own, ih_wire_replay (1, 0, 0, NULL, NULL, NULL, 100));
    msg = s_test_recv (own, &wire);
    assert (wire.kind == IH_WIRE_NAK && wire.code == IH_E_DENIED);
    assert (strstr (wire.reason, "site=lh-a"));
    zmsg_destroy (&msg);
    s_test_send (own, ih_wire_replay (1, 0, 0, "laoshan", NULL, NULL, 100));
    msg = s_test_recv (own, &wire);
    assert (wire.kind == IH_WIRE_NAK && wire.code == IH_E_DENIED);
    zmsg_destroy (&msg);
    s_test_send (own, ih_wire_replay (1, 0, 0, NULL, "lh-a", NULL, 100));
    assert (s_test_drain (own, &first, &last) == (S_EVENTS + 10) / 2);
    assert (first == 2 && last == S_EVENTS + 10);
    assert (s_test_checkpoint (own, 0, &cp) == IH_E_DENIED);
    s_test_send (own, ih_wire_prove_inclusion (2, 0));
    msg = s_test_recv (own, &wire);
    assert (wire.kind == IH_WIRE_NAK && wire.code == IH_E_DENIED);
    zmsg_destroy (&msg);
    //  The auditor reads everything, proofs included
    zsock_t *audit = s_test_client (endpoint, auditor, hub_key);
    s_test_send (audit, ih_wire_replay (1, 0, 0, NULL, NULL, NULL, 1000));
    assert (s_test_drain (audit, &first, &last) == S_EVENTS + 10);
    assert (s_test_checkpoint (audit, 0, &cp) == IH_OK);
    assert (cp.size == S_EVENTS);
    //  Revoked mid-stream: the open stream is refused at its next turn
    s_test_send (own, ih_wire_replay (1, 0, 0, NULL, "lh-a", NULL, 1));
    msg = s_test_recv (own, &wire);
    assert (wire.kind == IH_WIRE_RECORD && wire.hub_seq == 2);
    zmsg_destroy (&msg);
    ih_regchange_t revoke;
    ih_hubtest_key_revoked (&revoke, "lh-a", NULL);
    ih_hubtest_change (test, &revoke);
    s_test_send (own, ih_wire_credit (10));
    msg = s_test_recv (own, &wire);
    assert (wire.kind == IH_WIRE_NAK && wire.code == IH_E_DENIED);
    zmsg_destroy (&msg);
    uint64_t accepted = 0, denied = 0;
    ih_zap_counts (zap, &accepted, &denied);
    assert (accepted == 2 && denied == 0);

    zsock_destroy (&own);
    zsock_destroy (&audit);
    zactor_destroy (&replay);
    zactor_destroy (&zap);
    zstr_free (&endpoint);
    ih_log_destroy (&log);
    ih_key_destroy (&hub_key);
    ih_key_destroy (&auditor);
    for (int i = 0; i < 2; i++)
        ih_key_destroy (&keys[i]);
    zstr_free (&data);
    ih_hubtest_destroy (&test);
    printf ("OK\n");
}
