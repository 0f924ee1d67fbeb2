/*  =========================================================================
    ih_ingest - the hub's ingest and store actor

    Where it sits: agents send signed events to its ROUTER socket; it
    judges each one against the site registry (ih_registry_admit: the
    connection's site, the key valid for the event's seq, revocation, the
    kind's permissions), appends it to the LMDB log (ih_log) in one write
    transaction per batch (group commit), and only after the commit has
    returned sends the batch's ACKs and publishes the stored events on the
    feed (ih_publish). Everything that is not stored gets a NAK with an
    ih_err_t code and a reason. No ACK ever leaves before the commit that
    made its event durable. It is the registry's one writer: registry
    events from the bureau are applied as they are stored.

    Transport: by default both sockets are CURVE servers (ih_curve) under
    the ZAP domains "ingest" and "feed"; a ZAP handler (ih_zap) must be
    running before START. An event whose site is not the connection's
    (User-Id) is NAKed IH_E_IMPERSONATE, one of a type the site's kind may
    not publish IH_E_DENIED, one of a revoked site IH_E_REVOKED; none is
    stored. The feed applies only the subscriptions the registry allows.
    PLAINTEXT turns CURVE off (development only; local endpoints only).

    It is a CZMQ actor:
        zactor_t *ingest = zactor_new (ih_ingest_actor, NULL);
    Commands on its pipe:
        REGISTRY ptr before START ("sp"): the shared ih_registry_t (owned
                 by the caller, must outlive the actor; this actor is its
                 only writer). Required. Replies with a signal.
        PLAINTEXT before START: no CURVE on either socket; both endpoints
                 must then satisfy ih_curve_local. Replies with a signal.
        START data journal ingest pub map_size batch_max
            (seven string frames; journal is the bureau's registry journal
            (ih_journal), "" for none; map_size in bytes, 0 = default;
            batch_max >= 1). Opens and verifies the log, rebuilds the
            registry from it (ih_registry_rebuild), stores the journal's
            events (one batch, through the same checks as network events;
            "journal: N stored, M already in the log, K refused" is
            logged), then binds both sockets. Later, when an event is
            refused IH_E_UNKNOWN_SITE, IH_E_BADSIG or IH_E_REVOKED and the
            journal file changed (checked at most once a second), its new
            events are stored first and the event judged again. Without
            PLAINTEXT, START needs KEY with a transport secret. Replies
            "iss": 0, the bound ingest endpoint and the bound pub endpoint
            (e.g. "tcp://127.0.0.1:49152"); or -1, a reason and "".
        MAPMAX bytes
                 lets the log's map grow, doubling, up to bytes when a batch
                 fills it (the batch is then retried at once instead of
                 NAKed IH_E_FULL); 0 = never grow (the default). Replies
                 with a signal.
        PUBHWM n before START: SNDHWM of the feed socket (messages queued
                 per subscriber before they are dropped for it); 0 =
                 IH_PUBLISH_SNDHWM. Replies with a signal.
        KEY path before START: the hub's own key (NAME.key, with its
                 secret parts; NAME is the checkpoints' log id). Its
                 transport pair secures both sockets (unless PLAINTEXT).
                 With it, START verifies the log's Merkle tree and latest
                 checkpoint (and fails, naming the first bad hub_seq, if
                 they do not match the records) and the hub signs
                 checkpoints. Replies with a signal: 0, or -1 if the key
                 cannot be loaded or has no secret part.
        CHECKPOINT events ms
                 before START: sign a checkpoint once `events` events
                 were stored since the last one (inside that batch), or
                 `ms` after an event no checkpoint covers (defaults
                 IH_INGEST_CHECKPOINT_EVENTS / _MS). Replies with a signal.
        LOG      replies "p": the ih_log_t pointer (NULL before START), for
                 readers in other threads (replay); valid until $TERM.
        VERBOSE  logs every ACK at debug level (no reply).
        $TERM    ends the actor (zactor_destroy sends it).
    ih_ingest_start wraps START for callers. STATUS answers (to agents)
    include registry_sites, the registry's size.
    =========================================================================*/
#ifndef IH_INGEST_H_INCLUDED
#define IH_INGEST_H_INCLUDED

#include <czmq.h>
#include <stddef.h>
#include "ih_log.h"
#include "ih_registry.h"

#define IH_INGEST_BATCH_DEFAULT 1024
#define IH_INGEST_BATCH_MAX 65536
//  NAK log lines per second per error code before they are summarised.
#define IH_INGEST_LOG_RATE 10
//  Replies queued per agent before the ROUTER drops them.
#define IH_INGEST_REPLY_HWM 100000
//  Largest frame the ingest socket accepts at all (ZMQ_MAXMSGSIZE): an
//  oversize message below it is NAKed IH_E_TOOBIG; a frame above it makes
//  libzmq close the connection.
#define IH_INGEST_FRAME_MAX (1024 * 1024)
//  Clock skew (hub receive time minus event time) beyond which a site's
//  clock is reported as off, in ms. Skew is reported, never used for order.
#define IH_INGEST_SKEW_WARN 60000
//  Default checkpoint policy: every 1000 events, or 5 s after an event.
#define IH_INGEST_CHECKPOINT_EVENTS 1000
#define IH_INGEST_CHECKPOINT_MS 5000

//  The actor function, for zactor_new (args unused).
void ih_ingest_actor (zsock_t *pipe, void *args);

//  Sends START and waits for the answer. journal is the bureau's registry
//  journal, NULL or "" for none. On success returns 0 and sets *ingest_p
//  and *pub_p to the bound endpoints (caller frees with zstr_free). On
//  failure returns -1 and sets *ingest_p to the reason (caller frees) and
//  *pub_p to NULL.
int ih_ingest_start (zactor_t *self, const char *data, const char *journal,
                     const char *ingest, const char *pub, size_t map_size,
                     size_t batch_max, char **ingest_p, char **pub_p);

//  Sends REGISTRY (before START; required) and waits. registry is shared,
//  borrowed: it must outlive the actor. Returns 0, or -1 after START.
int ih_ingest_set_registry (zactor_t *self, ih_registry_t *registry);

//  Sends PLAINTEXT (before START) and waits. Returns 0, or -1 after START.
int ih_ingest_set_plaintext (zactor_t *self);

//  Sends PUBHWM (before START: the feed socket's SNDHWM, messages queued
//  per subscriber; 0 = IH_PUBLISH_SNDHWM) and waits for the answer.
void ih_ingest_set_pub_hwm (zactor_t *self, size_t hwm);

//  Sends MAPMAX and waits for the answer.
void ih_ingest_set_map_max (zactor_t *self, size_t max_bytes);

//  Sends KEY (before START: the hub's own key file, NAME.key) and waits.
//  Returns 0, or -1 if the key cannot be loaded or has no secret part.
//  (Without PLAINTEXT, START also needs its transport secret.)
int ih_ingest_set_key (zactor_t *self, const char *path);

//  Sends CHECKPOINT (before START) and waits: a checkpoint every events
//  events (>= 1), or ms after an event no checkpoint covers.
void ih_ingest_set_checkpoint (zactor_t *self, uint64_t events, uint64_t ms);

//  Sends LOG and returns the actor's log (NULL before START). Other
//  threads may call its readers (ih_log_read, ih_log_root, proofs,
//  checkpoints) until the actor is destroyed; never its writers.
ih_log_t *ih_ingest_log (zactor_t *self);

//  Selftest
void ih_ingest_test (bool verbose);

#endif
