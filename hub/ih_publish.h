/*  =========================================================================
    ih_publish - the hub's PUB socket: one message per stored event

    Where it sits: the ingest actor owns one ih_publish_t and, after a
    batch has committed, sends each newly stored event here; district
    offices, the bureau and `incuhub tail` subscribe by topic prefix
    ("<district>/<site>/<type>/", see ih_wire.h). A PUB socket drops
    messages for a subscriber whose queue is full (SNDHWM) and never
    blocks, so a slow subscriber can never hold up ingest; subscribers
    that must not miss events replay from the log by hub_seq.

    Not thread-safe: use it only in the thread that created it (the
    ingest actor).
    =========================================================================*/
#ifndef IH_PUBLISH_H_INCLUDED
#define IH_PUBLISH_H_INCLUDED

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

//  Messages queued per subscriber before PUB drops for it. Kept small on
//  purpose: queueing for stuck subscribers is what costs the hub (measured
//  with bench/ih_bench_subscribers: 100 slow and dead subscribers cut the
//  ingest rate to ~0.78 of the rate without them at 100,000, and not at
//  all measurably at 1,000). A subscriber that falls further behind loses
//  messages and sees a hole in the hub sequence.
#define IH_PUBLISH_SNDHWM 1000

typedef struct _ih_publish_t ih_publish_t;

//  Creates a PUB socket with SNDHWM IH_PUBLISH_SNDHWM and binds it to
//  endpoint (tcp://127.0.0.1:* and ipc:// work). Returns NULL, and logs
//  why, on failure.
ih_publish_t *ih_publish_new (const char *endpoint);

//  As ih_publish_new with another SNDHWM (>= 1; 0 means unlimited, which
//  lets a stuck subscriber grow the hub's memory without bound).
ih_publish_t *ih_publish_new_hwm (const char *endpoint, int sndhwm);

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

//  Selftest
void ih_publish_test (bool verbose);

#endif
