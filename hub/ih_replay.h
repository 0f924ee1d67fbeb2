/*  =========================================================================
    ih_replay - the hub's replay service: stored events and proofs on demand

    Where it sits: next to the ingest actor, on the same ih_log (which the
    ingest actor alone writes). Subscribers that missed live events (a
    slow SUB past its high-water mark, a network drop, a late start) ask
    it for the stored ones by hub_seq; auditors ask it for signed
    checkpoints and Merkle proofs. It only reads, in short LMDB read
    transactions, which never block the writer.

    Flow control is by credit (docs/protocol.md 5.5): a stream sends at
    most the RECORDs its client has granted, so the hub never queues more
    for a reader than that reader asked for; a stream whose client has
    been silent for IH_REPLAY_IDLE_MS is forgotten, and the number of
    open streams is capped, in total and per peer address.

    It is a CZMQ actor:
        zactor_t *replay = zactor_new (ih_replay_actor, NULL);
    Commands on its pipe:
        START log registry hub_key endpoint   ("ppps", sent by
            ih_replay_start: the ih_log_t * and the ih_registry_t *, both
            borrowed for the actor's life; the hub's ih_key_t * with its
            transport secret, borrowed during START only, or NULL for
            plain text; the endpoint to bind). With a hub key the ROUTER is
            a CURVE server under ZAP domain "replay" (hub/ih_zap must be
            running) and requests are checked against the reader's
            permissions: REPLAY needs ih_registry_may_read for its
            district and site filters, CHECKPOINT and PROVE-* need read
            scope all; else NAK IH_E_DENIED with the reason. Plain text:
            no checks. Replies "is": 0 and the bound endpoint, or -1 and
            a reason.
        IDLE ms     forget streams silent this long (default
                    IH_REPLAY_IDLE_MS). Replies with a signal.
        STREAMS n m at most n open streams in total, m per peer address
                    (defaults IH_REPLAY_STREAMS_MAX, _PER_PEER). Replies
                    with a signal.
        VERBOSE     logs each stream's start and end at debug level.
        $TERM       ends the actor (zactor_destroy sends it).
    The log and the registry must outlive the actor: destroy it first.
    =========================================================================*/
#ifndef IH_REPLAY_H_INCLUDED
#define IH_REPLAY_H_INCLUDED

#include <czmq.h>
#include "ih_key.h"
#include "ih_log.h"
#include "ih_registry.h"

//  Most credit a stream may hold (RECORDs granted but not yet sent); more
//  is clipped. The ROUTER's send high-water mark is just above it, so a
//  client that reads what it grants never loses a RECORD, and one that
//  does not read pins at most about that many records (x 64 KiB at worst)
//  in the hub.
#define IH_REPLAY_CREDIT_MAX 1000
//  Open streams in total and per peer address (TCP: the IP).
#define IH_REPLAY_STREAMS_MAX 1024
#define IH_REPLAY_STREAMS_PER_PEER 64
//  A stream whose client sent nothing for this long is forgotten.
#define IH_REPLAY_IDLE_MS 60000
//  Records one stream examines per turn, so streams share the actor.
#define IH_REPLAY_SCAN_MAX 4096

//  The actor function, for zactor_new (args unused).
void ih_replay_actor (zsock_t *pipe, void *args);

//  Sends START and waits for the answer. log and registry must outlive
//  the actor; hub_key (NULL: plain text) is only used during the call.
//  On success returns 0 and sets *endpoint_p to the bound endpoint; on
//  failure returns -1 and sets *endpoint_p to the reason. The caller
//  frees it with zstr_free.
int ih_replay_start (zactor_t *self, ih_log_t *log, ih_registry_t *registry,
                     ih_key_t *hub_key, const char *endpoint,
                     char **endpoint_p);

//  Sends IDLE and waits for the answer.
void ih_replay_set_idle (zactor_t *self, int idle_ms);

//  Sends STREAMS and waits for the answer.
void ih_replay_set_streams (zactor_t *self, size_t max, size_t per_peer);

//  Selftest
void ih_replay_test (bool verbose);

#endif
