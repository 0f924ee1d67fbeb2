/*  =========================================================================
    ih_curve - CurveZMQ on a socket: the one place that decides how a
    socket is secured

    Data flow: the hub makes its ingest ROUTER, feed XPUB and replay ROUTER
    CURVE servers (ih_curve_server) after its ZAP handler (hub/ih_zap) is
    bound; agents and CLI commands make their DEALER/SUB sockets CURVE
    clients (ih_curve_client) from their own key file and the hub's public
    key file (ih_key). On every message the hub receives, ih_curve_peer
    reads the site id ZAP gave the connection.

    Why the ZAP domain matters: libzmq asks the ZAP handler only about
    sockets whose mechanism needs it; the domain tells the handler which
    service is asking, so one handler can let an auditor read the feed
    and replay but not publish.

    Why User-Id and not the key: ZAP maps the client's transport key to
    its site id once, at the handshake, from the registry of that moment;
    libzmq then attaches that id to every message of the connection
    (zmq_msg_gets "User-Id"), so the hub never parses keys per message.
    A plain-text socket (NULL mechanism) without a ZAP answer has no
    User-Id at all; an empty one is treated the same: no identity.

    ih_curve_local is deliberately a parser, not a resolver: it accepts
    only endpoint forms that cannot leave the machine whatever DNS says
    (ipc, inproc, a literal loopback address, or "localhost", which the
    resolver maps to loopback by definition). Anything it does not
    recognise is not local, so a mistake costs a refusal, not a leak.
    =========================================================================*/
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <czmq.h>
#include <sodium.h>
#include "ih_curve.h"
#include "ih_check.h"

//  True if port is "*" (an ephemeral port, bind only) or 1..5 decimal
//  digits up to 65535.
static bool
s_port_valid (const char *port)
{
    if (streq (port, "*"))
        return true;
    size_t len = strlen (port);
    if (len < 1 || len > 5)
        return false;
    unsigned long value = 0;
    for (size_t i = 0; i < len; i++) {
        if (port[i] < '0' || port[i] > '9')
            return false;
        value = value * 10 + (unsigned long) (port[i] - '0');
    }
    return value <= 65535;
}

//  True if host (without brackets for IPv6) is a loopback address or
//  "localhost". inet_pton takes only the strict dotted-quad form for
//  IPv4 (no octal, hex or short forms that inet_aton would read).
static bool
s_host_loopback (const char *host, bool bracketed)
{
    if (bracketed) {
        struct in6_addr addr6;
        return inet_pton (AF_INET6, host, &addr6) == 1 &&
               IN6_IS_ADDR_LOOPBACK (&addr6);
    }
    if (strcasecmp (host, "localhost") == 0)
        return true;
    struct in_addr addr4;
    return inet_pton (AF_INET, host, &addr4) == 1 &&
           (ntohl (addr4.s_addr) >> 24) == 127;
}

bool
ih_curve_local (const char *endpoint)
{
    if (!endpoint)
        return false;
    if (strncmp (endpoint, "ipc://", 6) == 0)
        return endpoint[6] != 0;
    if (strncmp (endpoint, "inproc://", 9) == 0)
        return endpoint[9] != 0;
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return false;
    const char *address = endpoint + 6;
    //  Room for "[" + an IPv6 address in text + "]"; longer is not local
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon = strrchr (address, ':');
    if (!colon || (size_t) (colon - address) >= sizeof (host))
        return false;
    size_t host_len = (size_t) (colon - address);
    memcpy (host, address, host_len);
    host[host_len] = 0;
    if (!s_port_valid (colon + 1))
        return false;
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host[host_len - 1] = 0;
        return s_host_loopback (host + 1, true);
    }
    return s_host_loopback (host, false);
}

//  Destroys a certificate after wiping its secret parts: zcert keeps the
//  secret key and its Z85 text in its own struct and frees them as they
//  are. The accessors return const only to keep callers from changing a
//  live certificate; this one is about to go.
static void
s_cert_destroy (zcert_t **cert_p)
{
    if (!*cert_p)
        return;
    sodium_memzero ((byte *) zcert_secret_key (*cert_p), IH_KEY_CURVE_SIZE);
    char *secret_txt = (char *) zcert_secret_txt (*cert_p);
    sodium_memzero (secret_txt, strlen (secret_txt));
    zcert_destroy (cert_p);
}

//  Returns 0 if key holds a transport secret key, else logs why not and
//  returns -1: a socket cannot speak CURVE as key without it.
static int
s_require_secret (ih_key_t *key)
{
    if (ih_key_has_curve_secret (key))
        return 0;
    zsys_error ("curve: key %s has no transport secret key; make one with "
                "incuhub keygen",
                ih_key_name (key));
    return -1;
}

//  Gives sock key's transport pair; key must hold the secret half.
static void
s_apply_cert (zsock_t *sock, ih_key_t *key)
{
    zcert_t *cert = ih_key_cert (key);
    assert (cert);
    zcert_apply (cert, sock);
    s_cert_destroy (&cert);
}

ih_err_t
ih_curve_server (zsock_t *sock, ih_key_t *hub_key, const char *domain)
{
    assert (sock);
    assert (hub_key);
    assert (domain);
    if (s_require_secret (hub_key))
        return IH_E_KEY;
    s_apply_cert (sock, hub_key);
    zsock_set_curve_server (sock, 1);
    zsock_set_zap_domain (sock, domain);
    return IH_OK;
}

ih_err_t
ih_curve_client (zsock_t *sock, ih_key_t *own, ih_key_t *hub)
{
    assert (sock);
    assert (own);
    assert (hub);
    if (s_require_secret (own))
        return IH_E_KEY;
    if (!ih_key_has_curve (hub)) {
        zsys_error ("curve: hub key %s has no transport public key",
                    ih_key_name (hub));
        return IH_E_KEY;
    }
    s_apply_cert (sock, own);
    zsock_set_curve_serverkey_bin (sock, ih_key_curve_public (hub));
    return IH_OK;
}

const char *
ih_curve_peer (zframe_t *frame)
{
    if (!frame)
        return NULL;
    //  zmq_msg_gets fails (NULL) when ZAP gave the connection no User-Id
    const char *user_id = zframe_meta (frame, "User-Id");
    if (!user_id || !*user_id)
        return NULL;
    return user_id;
}

//  --------------------------------------------------------------------------
//  Selftest

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_WAIT_MS 5000 //  deadline for things that must happen

//  What the test's ZAP handler accepts: one CURVE client key, under one
//  domain, answered with one User-Id.
typedef struct {
    uint8_t client_key[IH_KEY_CURVE_SIZE];
    const char *domain;
    const char *user_id;
} s_zap_args_t;

//  Reads one ZAP request (RFC 27) from rep and answers it: 200 with the
//  configured User-Id for the accepted key under the domain, else 400.
//  Reports each decision on the pipe ("200" or "400") so the test can
//  wait for it instead of sleeping.
static void
s_zap_answer (zsock_t *rep, zsock_t *pipe, s_zap_args_t *args)
{
    zmsg_t *request = zmsg_recv (rep);
    if (!request)
        return;
    char *version = zmsg_popstr (request);
    char *request_id = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    char *identity = zmsg_popstr (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *client_key = zmsg_pop (request);
    bool accept = version && streq (version, "1.0") && domain &&
                  streq (domain, args->domain) && mechanism &&
                  streq (mechanism, "CURVE") && client_key &&
                  zframe_size (client_key) == IH_KEY_CURVE_SIZE &&
                  memcmp (zframe_data (client_key), args->client_key, 32) == 0;
    //  Reply: version, request id, status code, status text, user id,
    //  metadata (empty)
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, request_id ? request_id : "");
    zmsg_addstr (reply, accept ? "200" : "400");
    zmsg_addstr (reply, accept ? "OK" : "no access");
    zmsg_addstr (reply, accept ? args->user_id : "");
    zmsg_addmem (reply, NULL, 0);
    zmsg_send (&reply, rep);
    zstr_send (pipe, accept ? "200" : "400");
    zframe_destroy (&client_key);
    zstr_free (&version);
    zstr_free (&request_id);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&identity);
    zstr_free (&mechanism);
    zmsg_destroy (&request);
}

//  The test's ZAP handler as an actor: binds the ZAP endpoint and says
//  "BOUND" or "FAILED" on the pipe after the start signal (zactor_new
//  drops the signal's status), answers until $TERM, then unbinds
//  explicitly (a closed socket's inproc name is freed only when libzmq
//  reaps it; zmq_unbind frees it now, so the next handler can bind).
static void
s_zap_actor (zsock_t *pipe, void *args)
{
    zsock_t *rep = zsock_new (ZMQ_REP);
    assert (rep);
    bool bound = zsock_bind (rep, S_ZAP_ENDPOINT) == 0;
    zsock_signal (pipe, 0);
    zstr_send (pipe, bound ? "BOUND" : "FAILED");
    if (!bound) {
        zsock_destroy (&rep);
        return;
    }
    zpoller_t *poller = zpoller_new (pipe, rep, NULL);
    assert (poller);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == rep)
            s_zap_answer (rep, pipe, (s_zap_args_t *) args);
        else if (which == pipe) {
            char *command = zstr_recv (pipe);
            bool term = !command || streq (command, "$TERM");
            zstr_free (&command);
            if (term)
                break;
        } else
            break; //  interrupted
    }
    zpoller_destroy (&poller);
    zsock_unbind (rep, S_ZAP_ENDPOINT);
    zsock_destroy (&rep);
}

//  Receives on sock until deadline; NULL if nothing came.
static zmsg_t *
s_recv_wait (zsock_t *sock, int timeout_ms)
{
    zpoller_t *poller = zpoller_new (sock, NULL);
    assert (poller);
    zmsg_t *msg = NULL;
    if (zpoller_wait (poller, timeout_ms) == sock)
        msg = zmsg_recv (sock);
    zpoller_destroy (&poller);
    return msg;
}

//  Waits for the ZAP handler's next report ("BOUND" once, then "200" or
//  "400" per decision); returns it (caller frees) or NULL at the deadline.
static char *
s_zap_decision (zactor_t *zap)
{
    zmsg_t *msg = s_recv_wait (zactor_sock (zap), S_WAIT_MS);
    char *decision = msg ? zmsg_popstr (msg) : NULL;
    zmsg_destroy (&msg);
    return decision;
}

//  Waits on the monitor for a handshake failure event (name = prefix of
//  the event, e.g. "HANDSHAKE_FAILED"); true if one came in time.
static bool
s_monitor_wait (zactor_t *monitor, const char *prefix)
{
    int64_t deadline = zclock_mono () + S_WAIT_MS;
    bool seen = false;
    while (!seen) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            break;
        zmsg_t *msg = s_recv_wait (zactor_sock (monitor), (int) left);
        if (!msg)
            break;
        char *event = zmsg_popstr (msg);
        seen = event && strncmp (event, prefix, strlen (prefix)) == 0;
        zstr_free (&event);
        zmsg_destroy (&msg);
    }
    return seen;
}

//  A fresh CURVE ROUTER under the ingest domain on tcp://127.0.0.1:*,
//  with a monitor for handshake failures; sets *endpoint_p (caller frees).
static zsock_t *
s_server_new (ih_key_t *hub, zactor_t **monitor_p, char **endpoint_p)
{
    zsock_t *server = zsock_new (ZMQ_ROUTER);
    assert (server);
    ih_check (ih_curve_server (server, hub, IH_CURVE_DOMAIN_INGEST) == IH_OK);
    zactor_t *monitor = zactor_new (zmonitor, server);
    assert (monitor);
    zstr_sendx (monitor, "LISTEN", "HANDSHAKE_FAILED_NO_DETAIL",
                "HANDSHAKE_FAILED_PROTOCOL", "HANDSHAKE_FAILED_AUTH", NULL);
    zstr_send (monitor, "START");
    zsock_wait (monitor);
    int port = zsock_bind (server, "tcp://127.0.0.1:*");
    ih_check (port > 0);
    *endpoint_p = zsys_sprintf ("tcp://127.0.0.1:%d", port);
    *monitor_p = monitor;
    return server;
}

//  A client that must not get through: the server's monitor reports the
//  failed handshake, and the server receives nothing.
static void
s_expect_refused (ih_key_t *hub, zsock_t *client, zactor_t *zap,
                  const char *expect_zap, const char *expect_event)
{
    zactor_t *monitor = NULL;
    char *endpoint = NULL;
    zsock_t *server = s_server_new (hub, &monitor, &endpoint);
    ih_check (zsock_connect (client, "%s", endpoint) == 0);
    ih_check (zstr_send (client, "let me in") == 0);
    if (expect_zap) {
        char *decision = s_zap_decision (zap);
        ih_check (decision && streq (decision, expect_zap));
        zstr_free (&decision);
    }
    ih_check (s_monitor_wait (monitor, expect_event));
    //  The failure is already reported; this short wait only shows that
    //  nothing was delivered in the meantime
    zmsg_t *msg = s_recv_wait (server, 200);
    ih_check (msg == NULL);
    zactor_destroy (&monitor);
    zsock_destroy (&server);
    zstr_free (&endpoint);
}

static void
s_test_local (void)
{
    const char *local[] = {"ipc:///tmp/incuhub.ipc",
                           "ipc://@abstract",
                           "inproc://ingest",
                           "tcp://127.0.0.1:5555",
                           "tcp://127.0.0.1:*",
                           "tcp://127.1.2.3:1",
                           "tcp://127.255.255.255:65535",
                           "tcp://localhost:5555",
                           "tcp://[::1]:5555",
                           "tcp://[::1]:*",
                           "tcp://[0:0:0:0:0:0:0:1]:9"};
    const char *remote[] = {NULL,
                            "",
                            "ipc://",
                            "inproc://",
                            "tcp://*:5555",
                            "tcp://0.0.0.0:1",
                            "tcp://10.0.0.1:1",
                            "tcp://128.0.0.1:1",
                            "tcp://127.0.0.1.evil.com:1",
                            "tcp://localhost.evil.com:1",
                            "tcp://evil.com:5555",
                            "tcp://127.0.0.1",
                            "tcp://127.0.0.1:",
                            "tcp://127.0.0.1:65536",
                            "tcp://127.0.0.1:5x",
                            "tcp://127.0.0.1:123456",
                            "tcp://127.1:5555",
                            "tcp://0177.0.0.1:5555",
                            "tcp://[::]:5555",
                            "tcp://[::2]:5555",
                            "tcp://::1:5555",
                            "tcp://[::1:5555",
                            "tcp://lo:5555",
                            "tcp://127.0.0.1:*;10.0.0.1:5555",
                            "tcp://10.0.0.1:5555;127.0.0.1:5555",
                            "TCP://127.0.0.1:5555",
                            " tcp://127.0.0.1:5555",
                            "udp://127.0.0.1:5555",
                            "ws://127.0.0.1:5555",
                            "pgm://127.0.0.1;239.192.1.1:5555",
                            "tcp://[::ffff:10.0.0.1]:1"};
    for (size_t i = 0; i < sizeof (local) / sizeof (local[0]); i++) {
        if (!ih_curve_local (local[i]))
            fprintf (stderr, "not local: %s\n", local[i]);
        ih_check (ih_curve_local (local[i]));
    }
    for (size_t i = 0; i < sizeof (remote) / sizeof (remote[0]); i++) {
        if (ih_curve_local (remote[i]))
            fprintf (stderr, "local: %s\n", remote[i]);
        ih_check (!ih_curve_local (remote[i]));
    }
}

void
ih_curve_test (bool verbose)
{
    if (verbose)
        printf (" * ih_curve: ");
    s_test_local ();

    ih_key_t *hub = ih_key_new ("qd-hub");
    ih_key_t *site = ih_key_new ("lh-inc-01");
    ih_key_t *stranger = ih_key_new ("lh-inc-99");
    ih_key_t *impostor = ih_key_new ("qd-hub"); //  not the hub's key
    ih_check (hub && site && stranger && impostor);
    ih_key_t *hub_public = ih_key_new_public_pair (
        "qd-hub", ih_key_public (hub), ih_key_curve_public (hub));
    ih_key_t *sign_only = ih_key_new_public ("qd-hub", ih_key_public (hub));
    ih_check (hub_public && sign_only);

    //  Keys without the parts a side needs are refused
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    assert (sock);
    ih_check (ih_curve_server (sock, hub_public, IH_CURVE_DOMAIN_INGEST) ==
              IH_E_KEY);
    ih_check (ih_curve_client (sock, hub_public, hub_public) == IH_E_KEY);
    ih_check (ih_curve_client (sock, site, sign_only) == IH_E_KEY);
    zsock_destroy (&sock);

    //  A plain-text connection has no peer
    zsock_t *plain_server = zsock_new (ZMQ_ROUTER);
    zsock_t *plain_client = zsock_new (ZMQ_DEALER);
    assert (plain_server && plain_client);
    int port = zsock_bind (plain_server, "tcp://127.0.0.1:*");
    ih_check (port > 0);
    ih_check (zsock_connect (plain_client, "tcp://127.0.0.1:%d", port) == 0);
    ih_check (zstr_send (plain_client, "plain") == 0);
    zmsg_t *msg = s_recv_wait (plain_server, S_WAIT_MS);
    ih_check (msg && zmsg_size (msg) == 2);
    ih_check (ih_curve_peer (zmsg_first (msg)) == NULL);
    ih_check (ih_curve_peer (zmsg_last (msg)) == NULL);
    ih_check (ih_curve_peer (NULL) == NULL);
    zmsg_destroy (&msg);
    zsock_destroy (&plain_client);
    zsock_destroy (&plain_server);

    //  The ZAP handler accepts the site's transport key only
    s_zap_args_t zap_args = {.domain = IH_CURVE_DOMAIN_INGEST,
                             .user_id = "lh-inc-01"};
    memcpy (zap_args.client_key, ih_key_curve_public (site), IH_KEY_CURVE_SIZE);
    zactor_t *zap = zactor_new (s_zap_actor, &zap_args);
    assert (zap);
    char *bound = s_zap_decision (zap);
    ih_check (bound && streq (bound, "BOUND"));
    zstr_free (&bound);

    //  The registered client gets through both ways; every frame it sent
    //  carries its User-Id. The routing-id frame a ROUTER prepends is made
    //  by the socket, not received: libzmq 4.3 gives it no metadata, so
    //  callers read the peer from a content frame
    zactor_t *monitor = NULL;
    char *endpoint = NULL;
    zsock_t *server = s_server_new (hub, &monitor, &endpoint);
    zsock_t *client = zsock_new (ZMQ_DEALER);
    assert (client);
    ih_check (ih_curve_client (client, site, hub_public) == IH_OK);
    ih_check (zsock_connect (client, "%s", endpoint) == 0);
    ih_check (zstr_sendx (client, "EVENT", "body", NULL) == 0);
    char *decision = s_zap_decision (zap);
    ih_check (decision && streq (decision, "200"));
    zstr_free (&decision);
    msg = s_recv_wait (server, S_WAIT_MS);
    ih_check (msg && zmsg_size (msg) == 3);
    zmsg_first (msg); //  the routing id
    for (zframe_t *frame = zmsg_next (msg); frame; frame = zmsg_next (msg)) {
        const char *peer = ih_curve_peer (frame);
        ih_check (peer && streq (peer, "lh-inc-01"));
    }
    //  Reply to the routing id that came with it
    zframe_t *routing_id = zmsg_pop (msg);
    ih_check (zframe_streq (zmsg_first (msg), "EVENT"));
    zmsg_destroy (&msg);
    zmsg_t *reply = zmsg_new ();
    zmsg_append (reply, &routing_id);
    zmsg_addstr (reply, "ACK");
    ih_check (zmsg_send (&reply, server) == 0);
    msg = s_recv_wait (client, S_WAIT_MS);
    ih_check (msg && zmsg_size (msg) == 1);
    ih_check (zframe_streq (zmsg_first (msg), "ACK"));
    //  CURVE clients authenticate nobody themselves: no User-Id on them
    ih_check (ih_curve_peer (zmsg_first (msg)) == NULL);
    zmsg_destroy (&msg);
    zsock_destroy (&client);
    zactor_destroy (&monitor);
    zsock_destroy (&server);
    zstr_free (&endpoint);

    //  A CURVE XPUB sees who subscribes: the subscription message carries
    //  the subscriber's User-Id (the hub's feed checks read permissions
    //  with it)
    zsock_t *xpub = zsock_new (ZMQ_XPUB);
    assert (xpub);
    ih_check (ih_curve_server (xpub, hub, IH_CURVE_DOMAIN_INGEST) == IH_OK);
    port = zsock_bind (xpub, "tcp://127.0.0.1:*");
    ih_check (port > 0);
    zsock_t *sub = zsock_new (ZMQ_SUB);
    assert (sub);
    ih_check (ih_curve_client (sub, site, hub_public) == IH_OK);
    zsock_set_subscribe (sub, "enterprise.");
    ih_check (zsock_connect (sub, "tcp://127.0.0.1:%d", port) == 0);
    decision = s_zap_decision (zap);
    ih_check (decision && streq (decision, "200"));
    zstr_free (&decision);
    zframe_t *subscription = NULL;
    msg = s_recv_wait (xpub, S_WAIT_MS);
    ih_check (msg && zmsg_size (msg) == 1);
    subscription = zmsg_first (msg);
    ih_check (zframe_size (subscription) == 12);
    ih_check (zframe_data (subscription)[0] == 1);
    const char *subscriber = ih_curve_peer (subscription);
    ih_check (subscriber && streq (subscriber, "lh-inc-01"));
    zmsg_destroy (&msg);
    zsock_destroy (&sub);
    zsock_destroy (&xpub);

    //  A client whose transport key is not registered: ZAP says 400
    client = zsock_new (ZMQ_DEALER);
    assert (client);
    ih_check (ih_curve_client (client, stranger, hub_public) == IH_OK);
    s_expect_refused (hub, client, zap, "400", "HANDSHAKE_FAILED_AUTH");
    zsock_destroy (&client);

    //  A registered client that trusts the wrong hub key: the server
    //  cannot open its HELLO, ZAP is never asked
    ih_key_t *wrong_hub = ih_key_new_public_pair (
        "qd-hub", ih_key_public (impostor), ih_key_curve_public (impostor));
    assert (wrong_hub);
    client = zsock_new (ZMQ_DEALER);
    assert (client);
    ih_check (ih_curve_client (client, site, wrong_hub) == IH_OK);
    s_expect_refused (hub, client, zap, NULL, "HANDSHAKE_FAILED");
    zsock_destroy (&client);
    ih_key_destroy (&wrong_hub);

    //  A plain-text client: mechanism mismatch, refused at the handshake
    client = zsock_new (ZMQ_DEALER);
    assert (client);
    s_expect_refused (hub, client, zap, NULL, "HANDSHAKE_FAILED");
    zsock_destroy (&client);

    zactor_destroy (&zap);
    ih_key_destroy (&sign_only);
    ih_key_destroy (&hub_public);
    ih_key_destroy (&impostor);
    ih_key_destroy (&stranger);
    ih_key_destroy (&site);
    ih_key_destroy (&hub);
    if (verbose)
        printf ("OK\n");
}
