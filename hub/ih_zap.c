/*  =========================================================================
    ih_zap - the hub's ZAP handler: which CURVE clients may connect to
    which service

    Where it sits: inside libzmq's CURVE handshake. Every CURVE server
    socket of the hub (ingest, feed, replay; ih_curve_server) has a ZAP
    domain; for each client that completes the CURVE handshake, libzmq
    sends a ZAP request (RFC 27) to inproc://zeromq.zap.01, which this
    actor's REP socket is bound to, and waits for the answer before the
    connection carries any message.

    The decision, for mechanism CURVE (anything else is refused):
      1. the client's transport public key (the request's credentials
         frame) must be the current, unrevoked transport key of a site;
      2. that site must be allowed on the socket's domain ("ingest" needs
         a kind that may publish something, "feed" and "replay" a read
         scope other than none).
    Both in one call under the registry's lock
    (ih_registry_connect_curve), so a rotation cannot fall between them.
    Then the reply is 200 with User-Id = the site id, which libzmq stamps
    on every message of the connection (ih_curve_peer reads it back); else
    400 with the reason as status text. The registry is read under its own
    lock and changes as registry events are logged, so a site added,
    rotated or revoked is judged by its new state at its next handshake.
    (A connection already open is not cut by a revocation here; ingest
    refuses the revoked site's events per event, replay re-checks streams,
    and the feed socket is reopened so its subscribers come back here.)

    Denials are logged (domain, peer address, the first 8 hex digits of
    the transport key, the reason), at most IH_ZAP_LOG_RATE lines a second;
    the rest are counted and summarised once the second is over.
    =========================================================================*/
#include <czmq.h>
#include "ih_curve.h"
#include "ih_registry.h"
#include "ih_zap.h"

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
//  How long to retry binding while an earlier handler's socket (closed,
//  but not yet reaped by libzmq, which unregisters inproc endpoints
//  asynchronously) still holds the endpoint
#define S_BIND_RETRY_MS 2000

typedef struct {
    zsock_t *pipe;           //  to the caller
    zsock_t *handler;        //  REP, bound to S_ZAP_ENDPOINT
    zpoller_t *poller;       //  pipe and handler
    ih_registry_t *registry; //  borrowed; outlives the actor
    uint64_t accepted;       //  handshakes answered 200
    uint64_t denied;         //  handshakes answered 400
    int64_t window;          //  second (monotonic) of the log window
    unsigned lines;          //  denial lines logged in it
    unsigned suppressed;     //  denial lines not logged in it
    bool verbose;
    bool terminated;
} s_self_t;

//  Binds the handler; retries while the endpoint is still in use (see
//  S_BIND_RETRY_MS). Returns 0 or -1.
static int
s_bind (zsock_t *handler)
{
    int64_t deadline = zclock_mono () + S_BIND_RETRY_MS;
    while (true) {
        if (zsock_bind (handler, "%s", S_ZAP_ENDPOINT) == 0)
            return 0;
        if (zmq_errno () != EADDRINUSE || zclock_mono () >= deadline) {
            zsys_error ("zap: cannot bind %s: %s", S_ZAP_ENDPOINT,
                        zmq_strerror (zmq_errno ()));
            return -1;
        }
        zclock_sleep (10);
    }
}

//  Summarises the denial lines suppressed in a window that is over (or in
//  any window, if final). Returns true if a summary is still due later.
static bool
s_flush_limit (s_self_t *self, bool final)
{
    if (!self->suppressed)
        return false;
    int64_t now = zclock_mono () / 1000;
    if (!final && now == self->window)
        return true;
    zsys_warning ("zap: suppressed %u denial lines (%" PRIu64 " denied in all)",
                  self->suppressed, self->denied);
    self->suppressed = 0;
    self->lines = 0;
    self->window = now;
    return false;
}

static void
s_log_denial (s_self_t *self, const char *domain, const char *address,
              const char *key8, const char *reason)
{
    int64_t now = zclock_mono () / 1000;
    if (now != self->window) {
        s_flush_limit (self, true);
        self->window = now;
        self->lines = 0;
    }
    if (self->lines >= IH_ZAP_LOG_RATE) {
        self->suppressed++;
        return;
    }
    self->lines++;
    zsys_warning ("zap: denied domain=%s peer=%s key=%s reason=%s", domain,
                  address, key8, reason);
}

//  Decides one CURVE handshake. Returns true and fills site_id, or false
//  and fills reason.
static bool
s_decide (s_self_t *self, const char *domain, zframe_t *credentials,
          char *site_id, size_t site_id_size, char *reason, size_t reason_size)
{
    if (!credentials || zframe_size (credentials) != IH_KEY_CURVE_SIZE) {
        snprintf (reason, reason_size, "malformed CURVE credentials");
        return false;
    }
    ih_site_t site;
    memset (&site, 0, sizeof site);
    ih_err_t err = ih_registry_connect_curve (
        self->registry, zframe_data (credentials), domain, &site);
    if (err == IH_E_UNKNOWN_SITE) {
        snprintf (reason, reason_size,
                  "unknown transport key (not a registered, unrevoked site)");
        return false;
    }
    if (err == IH_OK) {
        snprintf (site_id, site_id_size, "%s", site.id);
        return true;
    }
    if (err == IH_E_DENIED)
        snprintf (reason, reason_size, "site %s (kind %s) may not use %s",
                  site.id, site.kind, domain);
    else if (err == IH_E_REVOKED)
        snprintf (reason, reason_size, "site %s: key revoked", site.id);
    else
        snprintf (reason, reason_size, "site %s: %s on domain '%s'",
                  *site.id ? site.id : "?", ih_err_name (err), domain);
    return false;
}

//  One ZAP request (RFC 27): version, request id, domain, address,
//  routing id, mechanism, credentials... Always answered, so that the REP
//  socket stays in step and libzmq never waits for us.
static void
s_handle_request (s_self_t *self)
{
    zmsg_t *request = zmsg_recv (self->handler);
    if (!request)
        return; //  interrupted
    char *version = zmsg_popstr (request);
    zframe_t *request_id = zmsg_pop (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    zframe_t *routing_id = zmsg_pop (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *credentials = zmsg_pop (request);

    char site_id[IH_NAME_MAX + 1] = "";
    char reason[IH_NAME_MAX * 3 + 100] = "";
    char key8[9] = "-";
    const char *status = "400";
    bool allowed = false;
    if (!version || !streq (version, "1.0") || !request_id || !domain ||
        !address || !routing_id || !mechanism) {
        status = "500";
        snprintf (reason, sizeof reason, "malformed ZAP request");
    } else if (!streq (mechanism, "CURVE"))
        snprintf (reason, sizeof reason, "mechanism %.20s is not allowed",
                  mechanism);
    else {
        if (credentials && zframe_size (credentials) >= 4) {
            const byte *data = zframe_data (credentials);
            snprintf (key8, sizeof key8, "%02x%02x%02x%02x", data[0], data[1],
                      data[2], data[3]);
        }
        allowed = s_decide (self, domain, credentials, site_id, sizeof site_id,
                            reason, sizeof reason);
        if (allowed)
            status = "200";
    }

    const char *peer = address && *address ? address : "-";
    const char *where = domain && *domain ? domain : "-";
    if (allowed) {
        self->accepted++;
        if (self->verbose)
            zsys_debug ("zap: accepted domain=%s peer=%s key=%s site=%s", where,
                        peer, key8, site_id);
    } else {
        self->denied++;
        s_log_denial (self, where, peer, key8, reason);
    }

    zmsg_t *reply = zmsg_new ();
    assert (reply);
    zmsg_addstr (reply, "1.0");
    if (request_id)
        zmsg_append (reply, &request_id);
    else
        zmsg_addmem (reply, "", 0);
    zmsg_addstr (reply, status);
    zmsg_addstr (reply, allowed ? "OK" : reason);
    zmsg_addstr (reply, site_id);
    zmsg_addmem (reply, "", 0); //  no metadata
    if (zmsg_send (&reply, self->handler))
        zmsg_destroy (&reply);

    zstr_free (&version);
    zframe_destroy (&request_id);
    zstr_free (&domain);
    zstr_free (&address);
    zframe_destroy (&routing_id);
    zstr_free (&mechanism);
    zframe_destroy (&credentials);
    zmsg_destroy (&request);
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
    else if (streq (command, "VERBOSE"))
        self->verbose = true;
    else if (streq (command, "COUNT"))
        zsock_send (self->pipe, "88", self->accepted, self->denied);
    else {
        zsys_error ("zap: invalid pipe command '%s'", command);
        assert (false);
    }
    zstr_free (&command);
    zmsg_destroy (&request);
}

//  The actor's body. Writes the start-up status to *status_p (if not
//  NULL) before it signals it, so ih_zap_new can read it after
//  zactor_new, which swallows the signal.
static void
s_run (zsock_t *pipe, ih_registry_t *registry, int *status_p)
{
    s_self_t self = {.pipe = pipe, .registry = registry};
    int status = -1;
    if (registry) {
        self.handler = zsock_new (ZMQ_REP);
        assert (self.handler);
        //  A reply to a handshake that is gone must never block us
        zsock_set_sndtimeo (self.handler, 0);
        zsock_set_linger (self.handler, 0);
        if (s_bind (self.handler) == 0)
            status = 0;
    } else
        zsys_error ("zap: no registry");
    if (status_p)
        *status_p = status;
    zsock_signal (pipe, (byte) status);
    if (status != 0) {
        zsock_destroy (&self.handler);
        return;
    }
    self.poller = zpoller_new (pipe, self.handler, NULL);
    assert (self.poller);
    //  Ends on $TERM only: libzmq would let every client in while no
    //  handler is bound, so the handler outlives the sockets it guards
    zpoller_set_nonstop (self.poller, true);
    bool pending = false;
    while (!self.terminated) {
        void *which = zpoller_wait (self.poller, pending ? 1000 : -1);
        if (which == self.pipe)
            s_handle_pipe (&self);
        else if (which == self.handler)
            s_handle_request (&self);
        else if (zpoller_terminated (self.poller))
            break;
        pending = s_flush_limit (&self, false);
    }
    s_flush_limit (&self, true);
    zpoller_destroy (&self.poller);
    zsock_destroy (&self.handler);
}

void
ih_zap_actor (zsock_t *pipe, void *args)
{
    s_run (pipe, (ih_registry_t *) args, NULL);
}

typedef struct {
    ih_registry_t *registry;
    int status;
} s_start_t;

static void
s_checked_actor (zsock_t *pipe, void *args)
{
    s_start_t *start = (s_start_t *) args;
    s_run (pipe, start->registry, &start->status);
}

zactor_t *
ih_zap_new (ih_registry_t *registry)
{
    //  zactor_new returns once the actor has signalled, and the actor
    //  writes its status before it signals
    s_start_t start = {registry, -1};
    zactor_t *self = zactor_new (s_checked_actor, &start);
    if (self && start.status != 0)
        zactor_destroy (&self);
    return self;
}

void
ih_zap_counts (zactor_t *self, uint64_t *accepted_p, uint64_t *denied_p)
{
    assert (self);
    uint64_t accepted = 0, denied = 0;
    if (zstr_send (self, "COUNT") == 0)
        zsock_recv (self, "88", &accepted, &denied);
    if (accepted_p)
        *accepted_p = accepted;
    if (denied_p)
        *denied_p = denied;
}

//  --------------------------------------------------------------------------
//  Selftest

#include "ih_hubtest.h"

//  A CURVE client of endpoint, as key; sends one message naming itself.
static zsock_t *
s_test_client (const char *endpoint, ih_key_t *key, ih_key_t *hub)
{
    zsock_t *dealer = ih_hubtest_client (ZMQ_DEALER, endpoint, key, hub);
    zstr_send (dealer, ih_key_name (key));
    return dealer;
}

//  Waits (deadline 10 s) until the handler has denied more than before.
static void
s_test_wait_denied (zactor_t *zap, uint64_t before)
{
    int64_t deadline = zclock_mono () + 10000;
    uint64_t denied = before;
    while (denied <= before && zclock_mono () < deadline) {
        ih_zap_counts (zap, NULL, &denied);
        if (denied <= before)
            zclock_sleep (20);
    }
    assert (denied > before);
}

//  Receives from router until a message from site sentinel arrives
//  (deadline 10 s); asserts that no message came from anyone in banned.
static void
s_test_expect (zsock_t *router, const char *sentinel, const char **banned)
{
    zpoller_t *poller = zpoller_new (router, NULL);
    assert (poller);
    int64_t deadline = zclock_mono () + 10000;
    bool seen = false;
    while (!seen && zclock_mono () < deadline) {
        if (zpoller_wait (poller, 100) != router)
            continue;
        zmsg_t *msg = zmsg_recv (router);
        assert (msg && zmsg_size (msg) == 2);
        zframe_t *identity = zmsg_pop (msg);
        zframe_t *body = zmsg_first (msg);
        const char *peer = ih_curve_peer (body);
        assert (peer);
        char *text = zframe_strdup (body);
        //  User-Id is the registry's site id, and what the client said
        assert (streq (peer, text));
        for (size_t i = 0; banned && banned[i]; i++)
            assert (!streq (peer, banned[i]));
        if (streq (peer, sentinel))
            seen = true;
        zstr_free (&text);
        zframe_destroy (&identity);
        zmsg_destroy (&msg);
    }
    assert (seen);
    zpoller_destroy (&poller);
}

void
ih_zap_test (bool verbose)
{
    printf (" * ih_zap: ");
    if (verbose)
        printf ("\n");
    ih_hubtest_t *test = ih_hubtest_new ("ih_zap_test");
    ih_key_t *hub = ih_key_new ("hub");
    ih_key_t *inc = ih_key_new ("lh-inc-01");
    ih_key_t *auditor = ih_key_new ("audit-01");
    ih_key_t *revoked = ih_key_new ("lh-inc-02");
    ih_key_t *stranger = ih_key_new ("xx-inc-99");
    assert (hub && inc && auditor && revoked && stranger);

    //  No registry: no handler
    assert (ih_zap_new (NULL) == NULL);

    ih_registry_t *registry = test->registry;
    ih_hubtest_add_site (test, inc, "incubator", "laoshan");
    ih_hubtest_add_site (test, auditor, "auditor", "city");
    ih_hubtest_add_site (test, revoked, "incubator", "laoshan");
    ih_regchange_t revoke;
    ih_hubtest_key_revoked (&revoke, "lh-inc-02", "stolen laptop");
    ih_hubtest_change (test, &revoke);

    zactor_t *zap = ih_zap_new (registry);
    assert (zap);
    if (verbose)
        zstr_send (zap, "VERBOSE");
    //  One handler per process: a second one cannot bind
    assert (ih_zap_new (registry) == NULL);

    zsock_t *ingest = zsock_new (ZMQ_ROUTER);
    zsock_t *replay = zsock_new (ZMQ_ROUTER);
    assert (ingest && replay);
    assert (ih_curve_server (ingest, hub, IH_CURVE_DOMAIN_INGEST) == IH_OK);
    assert (ih_curve_server (replay, hub, IH_CURVE_DOMAIN_REPLAY) == IH_OK);
    assert (zsock_bind (ingest, "tcp://127.0.0.1:*") > 0);
    assert (zsock_bind (replay, "tcp://127.0.0.1:*") > 0);
    char *ingest_ep = zsock_last_endpoint (ingest);
    char *replay_ep = zsock_last_endpoint (replay);

    //  A registered incubator gets through, stamped with its site id
    zsock_t *good = s_test_client (ingest_ep, inc, hub);
    s_test_expect (ingest, "lh-inc-01", NULL);
    uint64_t accepted = 0, denied = 0;
    ih_zap_counts (zap, &accepted, &denied);
    assert (accepted == 1 && denied == 0);

    //  An unknown key, a revoked site and an auditor (who may not
    //  publish) are refused on "ingest": nothing of theirs arrives
    const char *banned[] = {"xx-inc-99", "lh-inc-02", "audit-01", NULL};
    ih_key_t *refused[] = {stranger, revoked, auditor};
    zsock_t *clients[3];
    for (int i = 0; i < 3; i++) {
        clients[i] = s_test_client (ingest_ep, refused[i], hub);
        s_test_wait_denied (zap, denied);
        ih_zap_counts (zap, NULL, &denied);
    }
    zstr_send (good, "lh-inc-01");
    s_test_expect (ingest, "lh-inc-01", banned);
    for (int i = 0; i < 3; i++)
        zsock_destroy (&clients[i]);

    //  The auditor may read: accepted on "replay"
    zsock_t *reader = s_test_client (replay_ep, auditor, hub);
    s_test_expect (replay, "audit-01", NULL);
    ih_zap_counts (zap, &accepted, NULL);
    assert (accepted == 2);
    zsock_destroy (&reader);

    //  Plain text (the NULL mechanism) on a CURVE server gets nothing
    zsock_t *plain = zsock_new_dealer (ingest_ep);
    assert (plain);
    zstr_send (plain, "plain");
    zstr_send (good, "lh-inc-01");
    s_test_expect (ingest, "lh-inc-01", NULL);
    zsock_destroy (&plain);

    zsock_destroy (&good);
    zsock_destroy (&ingest);
    zsock_destroy (&replay);
    zstr_free (&ingest_ep);
    zstr_free (&replay_ep);
    zactor_destroy (&zap);
    zactor_destroy (&zap);
    ih_key_destroy (&hub);
    ih_key_destroy (&inc);
    ih_key_destroy (&auditor);
    ih_key_destroy (&revoked);
    ih_key_destroy (&stranger);
    ih_hubtest_destroy (&test);
    printf ("OK\n");
}
