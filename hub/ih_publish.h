/*  =========================================================================
    ih_publish - the hub's feed socket: one message per stored event, to
    the subscribers the registry lets read it

    Where it sits: the ingest actor owns one ih_publish_t and, after a
    batch has committed, sends each newly stored event here; district
    offices, the bureau and `incuhub tail` subscribe by topic prefix
    ("<district>/<site>/<type>/", see ih_wire.h). The socket drops
    messages for a subscriber whose queue is full (SNDHWM) and never
    blocks, so a slow subscriber can never hold up ingest; subscribers
    that must not miss events replay from the log by hub_seq.

    Who reads what. The socket is an XPUB in manual mode (ZMQ_XPUB_MANUAL):
    a subscription a client sends is not applied by libzmq but handed to
    us as a message, stamped (under CURVE) with the client's User-Id.
    ih_publish_handle checks each one with ih_registry_may_subscribe (an
    "own" reader may only subscribe to "<district>/<site>/" of itself, a
    "district" reader to "<district>/", an "all" reader to anything) and
    applies only those allowed; a refused subscription is logged (at most
    IH_PUBLISH_LOG_RATE lines a second) and simply never matches, so that
    client receives nothing for it. Unsubscriptions are always applied.
    In plain text (no hub key) every subscription is allowed. The owner
    must poll ih_publish_socket and call ih_publish_handle when it is
    readable, or no subscription ever takes effect.

    Not thread-safe: use it only in the thread that created it (the
    ingest actor).
    =========================================================================*/
#ifndef IH_PUBLISH_H_INCLUDED
#define IH_PUBLISH_H_INCLUDED

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>
#include "ih_key.h"
#include "ih_registry.h"

//  Messages queued per subscriber before PUB drops for it. Kept small on
//  purpose: queueing for stuck subscribers is what costs the hub (measured
//  with bench/ih_bench_subscribers: 100 slow and dead subscribers cut the
//  ingest rate to ~0.78 of the rate without them at 100,000, and not at
//  all measurably at 1,000). A subscriber that falls further behind loses
//  messages and sees a hole in the hub sequence.
#define IH_PUBLISH_SNDHWM 1000
//  Refused-subscription log lines per second before they are counted.
#define IH_PUBLISH_LOG_RATE 10

typedef struct _ih_publish_t ih_publish_t;

//  Creates a plain-text feed socket with SNDHWM IH_PUBLISH_SNDHWM that
//  allows every subscription, and binds it to endpoint (tcp://127.0.0.1:*
//  and ipc:// work). Returns NULL, and logs why, on failure.
ih_publish_t *ih_publish_new (const char *endpoint);

//  As ih_publish_new with another SNDHWM (>= 1; 0 means unlimited, which
//  lets a stuck subscriber grow the hub's memory without bound).
ih_publish_t *ih_publish_new_hwm (const char *endpoint, int sndhwm);

//  The hub's constructor. hub_key (borrowed during the call) with its
//  transport secret makes the socket a CURVE server under ZAP domain
//  IH_CURVE_DOMAIN_FEED (a ZAP handler, hub/ih_zap, must be running); NULL
//  means plain text. registry (borrowed; must outlive the publisher)
//  decides which subscriptions are applied; NULL allows all. Under CURVE a
//  subscription without a User-Id is refused. Returns NULL, and logs why,
//  on failure (bad endpoint, bind, or a hub key without transport secret).
ih_publish_t *ih_publish_new_secure (const char *endpoint, int sndhwm,
                                     ih_key_t *hub_key,
                                     ih_registry_t *registry);

//  Unbinds, closes and frees; sets *self_p to NULL; safe to call twice.
void ih_publish_destroy (ih_publish_t **self_p);

//  The endpoint actually bound, e.g. "tcp://127.0.0.1:49153" for
//  "tcp://127.0.0.1:*". Borrowed, valid until destroy.
const char *ih_publish_endpoint (ih_publish_t *self);

//  The bound TCP port, or 0 for other transports.
int ih_publish_port (ih_publish_t *self);

//  Publishes one stored event. Never blocks; a subscriber over its HWM
//  misses the message. district, site and type must be valid names.
void ih_publish_send (ih_publish_t *self, const char *district,
                      const char *site, const char *type, uint64_t hub_seq,
                      uint64_t received, const uint8_t *bytes, size_t size);

//  Messages handed to the socket so far.
uint64_t ih_publish_count (ih_publish_t *self);

//  The socket, for the owner's poller (readable: subscriptions pending).
//  Borrowed; never send or receive on it directly.
zsock_t *ih_publish_socket (ih_publish_t *self);

//  Closes the socket and binds a fresh one on the same (resolved)
//  endpoint with the same options: every subscriber is disconnected,
//  reconnects (libzmq does it), passes ZAP again and has its
//  subscriptions judged again. The ingest actor calls it after a registry
//  change that may narrow who reads what (a revocation, a rotation, a
//  permissions change): an applied XPUB subscription cannot be taken back
//  from one subscriber alone. The socket changes: remove the old one from
//  a poller first, add ih_publish_socket after. Subscribers miss what is
//  published meanwhile, as on any reconnect (they catch up by replay).
//  Returns 0, or -1 (logged) if the endpoint could not be bound again.
int ih_publish_rebind (ih_publish_t *self);

//  Reads every pending (un)subscription message, without blocking, and
//  applies the allowed ones. Call when ih_publish_socket is readable.
//  Returns true if a client sent something that is not a subscription:
//  libzmq's manual XPUB then pairs the following subscriptions with the
//  wrong connections, so none was applied after it, and the caller must
//  call ih_publish_rebind.
bool ih_publish_handle (ih_publish_t *self);

//  Subscriptions applied and refused so far (unsubscriptions not counted).
void ih_publish_subscriptions (ih_publish_t *self, uint64_t *allowed_p,
                               uint64_t *refused_p);

//  Selftest: a plain SUB gets the events of its prefix; under CURVE with
//  a registry, an "own" reader's subscription to everything ("") is
//  refused while its subscription to its own prefix works.
void ih_publish_test (bool verbose);

#endif
