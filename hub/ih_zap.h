/*  =========================================================================
    ih_zap - the hub's ZAP handler: which CURVE clients may connect to
    which service

    libzmq asks a ZAP handler (RFC 27, inproc://zeromq.zap.01) about every
    CURVE handshake on a socket that has a ZAP domain. The hub's three
    services use the domains "ingest", "feed" and "replay" (ih_curve.h).
    This actor answers from the registry (ih_registry_lookup_curve, then
    ih_registry_may_connect): 200 with User-Id = the site id when the
    client's transport key belongs to a registered, unrevoked site whose
    kind may use that service, 400 otherwise. libzmq then stamps every
    message of the connection with User-Id, which ingest compares with
    each event's site and publish/replay use for read permissions.

    Why not CZMQ's zauth: zauth accepts a CURVE key if it is in a static
    certificate directory (or any key at all), the same for every socket;
    the hub needs a per-service decision from a registry that changes as
    registry events are logged, and zauth's hook for a custom certificate
    store (zcertstore_set_loader) is a draft API that Debian's libczmq does
    not export. Keys and sockets are still handled with zcert and zsock.

    There is one ZAP endpoint per ZeroMQ context, so one ih_zap per process.
    It must be running before any CURVE socket binds: libzmq lets every
    client in when no handler is bound.

        zactor_t *zap = ih_zap_new (registry);
    Commands on its pipe:
        VERBOSE  logs every decision (not only denials)
        COUNT    replies "88": accepted, denied so far
        $TERM
    Denials are logged at most IH_ZAP_LOG_RATE per second (then counted).
    =========================================================================*/
#ifndef IH_ZAP_H_INCLUDED
#define IH_ZAP_H_INCLUDED

#include <czmq.h>
#include "ih_registry.h"

#define IH_ZAP_LOG_RATE 10

//  The actor function; args is the ih_registry_t (borrowed; must outlive
//  the actor). Signals 0 once bound, -1 if it could not bind.
void ih_zap_actor (zsock_t *pipe, void *args);

//  Starts the actor; NULL (logged) if the ZAP endpoint cannot be bound.
zactor_t *ih_zap_new (ih_registry_t *registry);

//  Accepted and denied handshakes so far.
void ih_zap_counts (zactor_t *self, uint64_t *accepted_p, uint64_t *denied_p);

//  Selftest: a CURVE ROUTER under domain "ingest" with a registry of two
//  sites: a registered client's messages carry its User-Id, an unknown
//  key and a revoked site get nothing through, an auditor is refused on
//  "ingest" and accepted on "replay".
void ih_zap_test (bool verbose);

#endif
