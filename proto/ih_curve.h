/*  =========================================================================
    ih_curve - CurveZMQ on a socket: the one place that decides how a
    socket is secured

    Every TCP endpoint of the hub is a CURVE server by default: it holds the
    hub's transport key pair (ih_key), authenticates every client through
    ZAP (hub/ih_zap) under a ZAP domain that names the service ("ingest",
    "feed", "replay"), and libzmq then stamps every message from that
    connection with the property "User-Id" = the client's site id. Clients
    (agents, CLI commands) are CURVE clients: they hold their own site's
    transport pair and the hub's transport public key, so each side
    authenticates the other and the traffic is encrypted.

    Plain text is for development only and only on endpoints that do not
    leave the machine: ipc://, inproc://, and tcp:// on a loopback address
    (127.0.0.0/8, [::1], localhost). Callers check ih_curve_local before
    they allow it.
    =========================================================================*/
#ifndef IH_CURVE_H_INCLUDED
#define IH_CURVE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include "ih_err.h"
#include "ih_key.h"

//  ZAP domains of the hub's three services.
#define IH_CURVE_DOMAIN_INGEST "ingest"
#define IH_CURVE_DOMAIN_FEED "feed"
#define IH_CURVE_DOMAIN_REPLAY "replay"

//  True if endpoint stays on this machine: ipc://, inproc://, or tcp://
//  with host 127.x.y.z, localhost or [::1]. "tcp://*:5555" and
//  "tcp://0.0.0.0:..." are not local.
bool ih_curve_local (const char *endpoint);

//  Makes sock a CURVE server with the hub's transport pair, under ZAP
//  domain domain. Call before bind. Errors: IH_E_KEY (the key has no
//  transport secret key).
ih_err_t ih_curve_server (zsock_t *sock, ih_key_t *hub_key, const char *domain);

//  Makes sock a CURVE client: own is the client's key (with its transport
//  secret), hub the hub's public key (its transport public key is the
//  server key). Call before connect. Errors: IH_E_KEY (own without
//  transport secret, or hub without transport public key).
ih_err_t ih_curve_client (zsock_t *sock, ih_key_t *own, ih_key_t *hub);

//  The authenticated site id of the connection a received frame came
//  from (ZAP User-Id), or NULL on a plain-text socket. Borrowed from the
//  frame. Only frames the client sent carry it: the routing-id frame a
//  ROUTER prepends has no metadata, so pass a command or payload frame.
const char *ih_curve_peer (zframe_t *frame);

//  Selftest: a CURVE server and clients over tcp://127.0.0.1 with a tiny
//  ZAP handler of its own (accepts one key): the accepted client's
//  messages carry its User-Id; a client with another key or a wrong
//  server key gets nothing through.
void ih_curve_test (bool verbose);

#endif
