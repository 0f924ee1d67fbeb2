/*  =========================================================================
    ih_ingest - the hub's ingest and store actor

    Where it sits: agents send signed events to its ROUTER socket; it
    decodes and verifies each one against the site registry, appends it to
    the LMDB log (ih_log) in one write transaction per batch (group
    commit), and only after the commit has returned sends the batch's
    ACKs and publishes the stored events on the PUB socket (ih_publish).
    Everything that is not stored gets a NAK with an ih_err_t code. No ACK
    ever leaves before the commit that made its event durable.

    It is a CZMQ actor:
        zactor_t *ingest = zactor_new (ih_ingest_actor, NULL);
    Commands on its pipe:
        START data registry ingest pub map_size batch_max
            (seven string frames; map_size in bytes, 0 = default;
            batch_max >= 1). Opens the log and the registry, binds both
            sockets. Replies "iss": 0, the bound ingest endpoint and the
            bound pub endpoint (e.g. "tcp://127.0.0.1:49152"); or -1, a
            reason and "".
        MAPMAX bytes
                 lets the log's map grow, doubling, up to bytes when a batch
                 fills it (the batch is then retried at once instead of
                 NAKed IH_E_FULL); 0 = never grow (the default). Replies
                 with a signal.
        PUBHWM n before START: SNDHWM of the PUB socket (messages queued
                 per subscriber before they are dropped for it); 0 =
                 IH_PUBLISH_SNDHWM. Replies with a signal.
        KEY path before START: the hub's own Ed25519 key (NAME.key, with
                 its secret part; NAME is the checkpoints' log id). With
                 it, START verifies the log's Merkle tree and latest
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
    ih_ingest_start wraps START for callers.
    =========================================================================*/
#ifndef IH_INGEST_H_INCLUDED
#define IH_INGEST_H_INCLUDED

#include <czmq.h>
#include <stddef.h>
#include "ih_log.h"

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

//  Sends START and waits for the answer. On success returns 0 and sets
//  *ingest_p and *pub_p to the bound endpoints (caller frees with
//  zstr_free). On failure returns -1 and sets *ingest_p to the reason
//  (caller frees) and *pub_p to NULL.
int ih_ingest_start (zactor_t *self, const char *data, const char *registry,
                     const char *ingest, const char *pub, size_t map_size,
                     size_t batch_max, char **ingest_p, char **pub_p);

//  Sends PUBHWM (before START: the PUB socket's SNDHWM, messages queued
//  per subscriber; 0 = IH_PUBLISH_SNDHWM) and waits for the answer.
void ih_ingest_set_pub_hwm (zactor_t *self, size_t hwm);

//  Sends MAPMAX and waits for the answer.
void ih_ingest_set_map_max (zactor_t *self, size_t max_bytes);

//  Sends KEY (before START: the hub's own key file, NAME.key) and waits.
//  Returns 0, or -1 if the key cannot be loaded or has no secret part.
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
