/*  =========================================================================
    ih_redial - dial the hub again after a refused handshake

    See ih_redial.h for the contract. Clients of the hub (the agent's
    forwarding DEALER, ih_follow's feed SUB and replay DEALER) make their
    socket, secure it (ih_curve), then dial it here instead of calling
    zsock_connect; from then on the monitor tells the caller about the
    connection and this module alone decides when it is dialled again.

    Why "closed before its handshake completed" and not only the
    HANDSHAKE_FAILED_* events: a server that drops the connection during
    the handshake (a mechanism mismatch can end that way) is a protocol
    error to libzmq as well, and the only trace may be DISCONNECTED. A
    redial that turns out not to be needed costs one reconnect.

    Why the backoff survives a fresh dial: ih_follow replaces its replay
    DEALER when it abandons a stream, and a refusal that lasts (a key that
    is never registered) must not turn into a dial a second.
    =========================================================================*/
#include "ih_redial.h"
#include "ih_check.h"
#include "ih_curve.h"
#include "ih_key.h"

struct _ih_redial_t {
    char *endpoint;    //  what the socket connects to
    zsock_t *sock;     //  the watched socket (the caller's), or NULL
    zactor_t *monitor; //  zmonitor on sock, or NULL
    const char *event; //  libzmq name of the last event (static)
    bool handshaken;   //  this connection completed its handshake
    bool failing;      //  the last handshake failed
    int64_t at;        //  zclock_mono of the pending redial; 0 = none
    int64_t backoff;   //  ms; doubled per redial until a success
    int64_t log_at;    //  zclock_mono of the last failure line
};

ih_redial_t *
ih_redial_new (const char *endpoint)
{
    assert (endpoint);
    ih_redial_t *self = (ih_redial_t *) zmalloc (sizeof (ih_redial_t));
    assert (self);
    self->endpoint = strdup (endpoint);
    assert (self->endpoint);
    self->event = "";
    return self;
}

void
ih_redial_destroy (ih_redial_t **self_p)
{
    assert (self_p);
    ih_redial_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy (&self->monitor);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

int
ih_redial_dial (ih_redial_t *self, zsock_t *sock)
{
    assert (self && sock);
    //  Listen before connecting, or the first events are lost
    zactor_t *monitor = zactor_new (zmonitor, sock);
    assert (monitor);
    zstr_sendx (monitor, "LISTEN", "CONNECTED", "DISCONNECTED",
                "HANDSHAKE_SUCCEEDED", "HANDSHAKE_FAILED_NO_DETAIL",
                "HANDSHAKE_FAILED_PROTOCOL", "HANDSHAKE_FAILED_AUTH", NULL);
    zstr_send (monitor, "START");
    zsock_wait (monitor);
    if (zsock_connect (sock, "%s", self->endpoint) == -1) {
        int err = zmq_errno ();
        zactor_destroy (&monitor);
        errno = err;
        return -1;
    }
    zactor_destroy (&self->monitor);
    self->monitor = monitor;
    self->sock = sock;
    self->handshaken = false;
    self->at = 0;
    return 0;
}

zactor_t *
ih_redial_monitor (ih_redial_t *self)
{
    assert (self);
    return self->monitor;
}

//  Schedules a redial after the next backoff, unless one is pending.
static void
s_schedule (ih_redial_t *self)
{
    if (self->at)
        return;
    self->backoff = self->backoff ? self->backoff * 2 : IH_REDIAL_MIN;
    if (self->backoff > IH_REDIAL_MAX)
        self->backoff = IH_REDIAL_MAX;
    self->at = zclock_mono () + self->backoff;
}

ih_redial_event_t
ih_redial_recv (ih_redial_t *self)
{
    assert (self && self->monitor);
    zmsg_t *msg = zmsg_recv (self->monitor);
    if (!msg)
        return IH_REDIAL_NONE;
    char *name = zmsg_popstr (msg);
    zmsg_destroy (&msg);
    ih_redial_event_t event = IH_REDIAL_NONE;
    if (!name)
        ;
    else if (streq (name, "CONNECTED")) {
        self->event = "CONNECTED";
        self->handshaken = false;
        event = IH_REDIAL_CONNECTED;
    } else if (streq (name, "DISCONNECTED")) {
        self->event = "DISCONNECTED";
        if (!self->handshaken)
            s_schedule (self);
        event = IH_REDIAL_DISCONNECTED;
    } else if (streq (name, "HANDSHAKE_SUCCEEDED")) {
        self->event = "HANDSHAKE_SUCCEEDED";
        self->handshaken = true;
        self->failing = false;
        self->backoff = 0;
        self->at = 0;
        event = IH_REDIAL_SUCCEEDED;
    } else if (strncmp (name, "HANDSHAKE_FAILED", 16) == 0) {
        self->event = streq (name, "HANDSHAKE_FAILED_AUTH")
                          ? "HANDSHAKE_FAILED_AUTH"
                      : streq (name, "HANDSHAKE_FAILED_PROTOCOL")
                          ? "HANDSHAKE_FAILED_PROTOCOL"
                          : "HANDSHAKE_FAILED_NO_DETAIL";
        self->failing = true;
        s_schedule (self);
        event = IH_REDIAL_FAILED;
    }
    zstr_free (&name);
    return event;
}

const char *
ih_redial_event_name (ih_redial_t *self)
{
    assert (self);
    return self->event;
}

bool
ih_redial_failing (ih_redial_t *self)
{
    assert (self);
    return self->failing;
}

bool
ih_redial_may_log (ih_redial_t *self)
{
    assert (self);
    int64_t now = zclock_mono ();
    if (self->log_at && now - self->log_at < IH_REDIAL_LOG_EVERY)
        return false;
    self->log_at = now;
    return true;
}

int64_t
ih_redial_at (ih_redial_t *self)
{
    assert (self);
    return self->at;
}

int64_t
ih_redial_backoff (ih_redial_t *self)
{
    assert (self);
    return self->backoff;
}

bool
ih_redial_due (ih_redial_t *self)
{
    assert (self);
    return self->at && zclock_mono () >= self->at;
}

void
ih_redial_run (ih_redial_t *self)
{
    assert (self && self->sock);
    self->at = 0;
    self->handshaken = false;
    //  Fails if libzmq has forgotten the endpoint already: no matter
    zsock_disconnect (self->sock, "%s", self->endpoint);
    if (zsock_connect (self->sock, "%s", self->endpoint) == -1)
        s_schedule (self); //  cannot happen: it connected before
}

const char *
ih_redial_endpoint (ih_redial_t *self)
{
    assert (self);
    return self->endpoint;
}

//  ---------------------------------------------------------------------
//  Selftest

//  Reads monitor events until one of kind wanted (IH_REDIAL_NONE: none
//  is wanted), or until deadline (zclock_mono); true if it came.
static bool
s_test_wait (ih_redial_t *redial, ih_redial_event_t wanted, int64_t deadline)
{
    zpoller_t *poller = zpoller_new (ih_redial_monitor (redial), NULL);
    assert (poller);
    bool found = false;
    while (!found) {
        int64_t wait = deadline - zclock_mono ();
        if (wait <= 0 || !zpoller_wait (poller, (int) wait))
            break;
        ih_redial_event_t event = ih_redial_recv (redial);
        found = wanted != IH_REDIAL_NONE && event == wanted;
    }
    zpoller_destroy (&poller);
    return found;
}

void
ih_redial_test (bool verbose)
{
    if (verbose)
        printf (" * ih_redial: ");
    char tmpl[] = "/tmp/ih_redial_test.XXXXXX";
    char *tmp = mkdtemp (tmpl);
    ih_check (tmp);

    //  A ZAP handler that knows no client key yet
    zactor_t *auth = zactor_new (zauth, NULL);
    assert (auth);
    zstr_sendx (auth, "CURVE", tmp, NULL);
    zsock_wait (auth);
    ih_key_t *hub = ih_key_new ("qd-hub");
    ih_key_t *site = ih_key_new ("lh-inc-01");
    ih_check (hub && site);
    zsock_t *server = zsock_new (ZMQ_ROUTER);
    assert (server);
    ih_check (ih_curve_server (server, hub, IH_CURVE_DOMAIN_INGEST) == IH_OK);
    int port = zsock_bind (server, "tcp://127.0.0.1:*");
    ih_check (port > 0);
    char *endpoint = zsys_sprintf ("tcp://127.0.0.1:%d", port);

    ih_redial_t *redial = ih_redial_new (endpoint);
    ih_check (streq (ih_redial_endpoint (redial), endpoint));
    ih_check (!ih_redial_monitor (redial) && !ih_redial_at (redial));
    zsock_t *client = zsock_new (ZMQ_DEALER);
    assert (client);
    ih_check (ih_curve_client (client, site, hub) == IH_OK);
    ih_check (ih_redial_dial (redial, client) == 0);
    ih_check (ih_redial_monitor (redial));

    //  Refused: a redial is scheduled after IH_REDIAL_MIN; one line to log
    int64_t start = zclock_mono ();
    ih_check (s_test_wait (redial, IH_REDIAL_FAILED, start + 5000));
    ih_check (streq (ih_redial_event_name (redial), "HANDSHAKE_FAILED_AUTH"));
    ih_check (ih_redial_failing (redial));
    ih_check (ih_redial_backoff (redial) == IH_REDIAL_MIN);
    ih_check (ih_redial_at (redial) >= start + IH_REDIAL_MIN);
    ih_check (ih_redial_may_log (redial));
    ih_check (!ih_redial_may_log (redial));

    //  Registered now; libzmq does not retry, the redial does, at its time
    zstr_sendx (auth, "CURVE", CURVE_ALLOW_ANY, NULL);
    zsock_wait (auth);
    ih_check (!ih_redial_due (redial));
    s_test_wait (redial, IH_REDIAL_NONE, ih_redial_at (redial)); //  its time
    ih_check (ih_redial_due (redial));
    ih_redial_run (redial);
    ih_check (!ih_redial_at (redial));
    ih_check (s_test_wait (redial, IH_REDIAL_SUCCEEDED, zclock_mono () + 5000));
    ih_check (!ih_redial_failing (redial) && !ih_redial_backoff (redial));
    ih_check (!ih_redial_at (redial) && !ih_redial_due (redial));

    //  The connection works both ways
    zsock_set_rcvtimeo (server, 5000);
    zsock_set_rcvtimeo (client, 5000);
    ih_check (zstr_send (client, "EVENT") == 0);
    zmsg_t *msg = zmsg_recv (server);
    ih_check (msg && zmsg_size (msg) == 2);
    ih_check (zmsg_send (&msg, server) == 0);
    char *reply = zstr_recv (client);
    ih_check (reply && streq (reply, "EVENT"));
    zstr_free (&reply);

    //  A fresh socket is a fresh dial; the monitor moves to it
    zactor_t *old_monitor = ih_redial_monitor (redial);
    zsock_t *fresh = zsock_new (ZMQ_DEALER);
    assert (fresh);
    ih_check (ih_curve_client (fresh, site, hub) == IH_OK);
    ih_check (ih_redial_dial (redial, fresh) == 0);
    ih_check (ih_redial_monitor (redial) != old_monitor);
    zsock_destroy (&client);
    ih_check (s_test_wait (redial, IH_REDIAL_SUCCEEDED, zclock_mono () + 5000));

    ih_redial_destroy (&redial);
    ih_redial_destroy (&redial);
    zsock_destroy (&fresh);
    zsock_destroy (&server);
    zactor_destroy (&auth);
    ih_key_destroy (&hub);
    ih_key_destroy (&site);
    zstr_free (&endpoint);
    rmdir (tmp);
    if (verbose)
        printf ("OK\n");
}
