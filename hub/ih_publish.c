/*  =========================================================================
    ih_publish - the hub's feed socket: one message per stored event, to
    the subscribers the registry lets read it

    Where it sits: owned by the ingest actor, fed after each committed
    batch; the subscribers are district offices, the bureau and the CLI's
    tail. The frame layout is ih_wire's (ih_wire_pub); this file owns the
    socket, its options, the bound endpoint and the subscription check.

    Why an XPUB in manual mode and not a PUB: a PUB applies every
    subscription it receives, so any client that may connect could read
    the whole city's feed. With ZMQ_XPUB_MANUAL libzmq hands each
    (un)subscription to us as a message instead, with the connection's
    metadata (User-Id under CURVE), and applies a subscription only when
    we call ZMQ_SUBSCRIBE right after receiving it (libzmq ties it to the
    pipe the last message came from). So ih_publish_handle must finish one
    message (apply or drop it) before it receives the next. The options
    are set with zmq_setsockopt on the raw socket: CZMQ's
    zsock_set_subscribe asserts that the socket is a SUB.

    A subscription that is refused is simply not applied: the client's
    connection stays up and receives nothing for that prefix (libzmq has
    no way to tell a subscriber "no"). When the client goes away libzmq
    drops the subscriptions of its pipe itself and hands us matching
    unsubscriptions without a pipe, which we pass on harmlessly.
    =========================================================================*/
#include <czmq.h>
#include "ih_curve.h"
#include "ih_publish.h"
#include "ih_wire.h"

struct _ih_publish_t {
    zsock_t *sock;           //  XPUB (manual), bound
    char *endpoint;          //  the endpoint actually bound
    int sndhwm;              //  as configured, for a rebind
    ih_key_t *hub_key;       //  borrowed; NULL: plain text
    int port;                //  TCP port, or 0
    uint64_t count;          //  messages sent
    bool secure;             //  CURVE: a subscription needs a User-Id
    ih_registry_t *registry; //  borrowed; NULL: every subscription allowed
    uint64_t allowed;        //  subscriptions applied
    uint64_t refused;        //  subscriptions refused
    int64_t window;          //  second (monotonic) of the log window
    unsigned lines;          //  refusal lines logged in it
    unsigned suppressed;     //  refusal lines not logged in it
};

ih_publish_t *
ih_publish_new (const char *endpoint)
{
    return ih_publish_new_secure (endpoint, IH_PUBLISH_SNDHWM, NULL, NULL);
}

ih_publish_t *
ih_publish_new_hwm (const char *endpoint, int sndhwm)
{
    return ih_publish_new_secure (endpoint, sndhwm, NULL, NULL);
}

//  Creates the XPUB socket with the object's options and binds it.
static int
s_open (ih_publish_t *self, const char *endpoint, bool log_bind_error)
{
    self->sock = zsock_new (ZMQ_XPUB);
    if (!self->sock) {
        zsys_error ("publish: cannot create XPUB socket");
        return -1;
    }
    //  Options before bind so they apply to every subscriber's pipe
    zsock_set_sndhwm (self->sock, self->sndhwm);
    zsock_set_linger (self->sock, 0);
    int manual = 1;
    int rc = zmq_setsockopt (zsock_resolve (self->sock), ZMQ_XPUB_MANUAL,
                             &manual, sizeof manual);
    assert (rc == 0);
    if (self->hub_key) {
        ih_err_t err =
            ih_curve_server (self->sock, self->hub_key, IH_CURVE_DOMAIN_FEED);
        if (err != IH_OK) {
            zsys_error ("publish: cannot secure %s: %s", endpoint,
                        ih_strerror (err));
            return -1;
        }
        self->secure = true;
    }
    if (zsock_bind (self->sock, "%s", endpoint) == -1) {
        if (log_bind_error)
            zsys_error ("publish: cannot bind %s: %s", endpoint,
                        zmq_strerror (zmq_errno ()));
        return -1;
    }
    self->endpoint = zsock_last_endpoint (self->sock);
    assert (self->endpoint);
    if (strncmp (self->endpoint, "tcp://", 6) == 0) {
        const char *colon = strrchr (self->endpoint, ':');
        if (colon)
            self->port = atoi (colon + 1);
    }
    return 0;
}

ih_publish_t *
ih_publish_new_secure (const char *endpoint, int sndhwm, ih_key_t *hub_key,
                       ih_registry_t *registry)
{
    if (!endpoint || sndhwm < 0) {
        zsys_error ("publish: bad endpoint or sndhwm");
        return NULL;
    }
    ih_publish_t *self = (ih_publish_t *) zmalloc (sizeof (ih_publish_t));
    assert (self);
    self->registry = registry;
    self->sndhwm = sndhwm;
    self->hub_key = hub_key;
    if (s_open (self, endpoint, true))
        ih_publish_destroy (&self);
    return self;
}

int
ih_publish_rebind (ih_publish_t *self)
{
    assert (self && self->endpoint);
    char *endpoint = self->endpoint;
    self->endpoint = NULL;
    if (self->sock) {
        //  The listener closes in libzmq's I/O thread, a moment after the
        //  unbind: the new bind retries for a while
        zsock_unbind (self->sock, "%s", endpoint);
        zsock_destroy (&self->sock);
    }
    int64_t deadline = zclock_mono () + 2000;
    int rc = -1;
    while (true) {
        rc = s_open (self, endpoint, zclock_mono () >= deadline);
        if (rc == 0 || zclock_mono () >= deadline)
            break;
        zsock_destroy (&self->sock);
        zclock_sleep (5); //  the old listener is still closing
    }
    if (rc == 0) {
        zsys_notice ("publish: feed %s reopened: every subscriber reconnects "
                     "and is authorised again",
                     self->endpoint);
        zstr_free (&endpoint);
    } else {
        zsock_destroy (&self->sock);
        self->endpoint = endpoint; //  kept for another try
    }
    return rc;
}

void
ih_publish_destroy (ih_publish_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        ih_publish_t *self = *self_p;
        if (self->suppressed)
            zsys_warning ("publish: suppressed %u refused-subscription lines",
                          self->suppressed);
        zsock_destroy (&self->sock);
        zstr_free (&self->endpoint);
        free (self);
        *self_p = NULL;
    }
}

const char *
ih_publish_endpoint (ih_publish_t *self)
{
    assert (self);
    return self->endpoint;
}

int
ih_publish_port (ih_publish_t *self)
{
    assert (self);
    return self->port;
}

void
ih_publish_send (ih_publish_t *self, const char *district, const char *site,
                 const char *type, uint64_t hub_seq, uint64_t received,
                 const uint8_t *bytes, size_t size)
{
    assert (self);
    if (!self->sock)
        return; //  a rebind failed: logged, nobody can subscribe
    zmsg_t *msg =
        ih_wire_pub (district, site, type, hub_seq, received, bytes, size);
    assert (msg);
    //  XPUB never blocks: a subscriber over its HWM just misses this one
    if (zmsg_send (&msg, self->sock))
        zmsg_destroy (&msg);
    else
        self->count++;
}

uint64_t
ih_publish_count (ih_publish_t *self)
{
    assert (self);
    return self->count;
}

zsock_t *
ih_publish_socket (ih_publish_t *self)
{
    assert (self);
    return self->sock;
}

void
ih_publish_subscriptions (ih_publish_t *self, uint64_t *allowed_p,
                          uint64_t *refused_p)
{
    assert (self);
    if (allowed_p)
        *allowed_p = self->allowed;
    if (refused_p)
        *refused_p = self->refused;
}

//  Logs a refused subscription, at most IH_PUBLISH_LOG_RATE lines a
//  second. The prefix is client input: only printable bytes are shown.
static void
s_log_refusal (ih_publish_t *self, const char *peer, const uint8_t *prefix,
               size_t size)
{
    int64_t now = zclock_mono () / 1000;
    if (now != self->window) {
        if (self->suppressed)
            zsys_warning ("publish: suppressed %u refused-subscription lines",
                          self->suppressed);
        self->window = now;
        self->lines = 0;
        self->suppressed = 0;
    }
    if (self->lines >= IH_PUBLISH_LOG_RATE) {
        self->suppressed++;
        return;
    }
    self->lines++;
    char shown[3 * IH_NAME_MAX + 8];
    size_t n = 0;
    for (size_t i = 0; i < size && n < sizeof shown - 4; i++)
        shown[n++] = prefix[i] >= 0x20 && prefix[i] < 0x7f && prefix[i] != '\''
                         ? (char) prefix[i]
                         : '?';
    if (n < size) {
        memcpy (shown + n, "...", 3);
        n += 3;
    }
    shown[n] = 0;
    zsys_warning ("publish: refused subscription site=%s prefix='%s'",
                  peer ? peer : "-", shown);
}

//  One (un)subscription message: [0|1][prefix]. Applied at once, before
//  the next receive, because libzmq applies it to the pipe of the message
//  received last.
static void
s_handle_one (ih_publish_t *self, zframe_t *frame)
{
    size_t size = zframe_size (frame);
    const uint8_t *data = zframe_data (frame);
    if (size < 1 || (data[0] != 0 && data[0] != 1))
        return; //  not a subscription (a ZMTP 3.1 command we do not use)
    const uint8_t *prefix = data + 1;
    size_t prefix_size = size - 1;
    void *handle = zsock_resolve (self->sock);
    if (data[0] == 0) {
        //  Dropping a subscription never gives anything away
        zmq_setsockopt (handle, ZMQ_UNSUBSCRIBE, prefix, prefix_size);
        return;
    }
    const char *peer = ih_curve_peer (frame);
    bool allow;
    if (self->secure && !peer)
        allow = false; //  CURVE without User-Id: no ZAP decision behind it
    else if (!peer || !self->registry)
        allow = true; //  plain text: no one to ask about
    else
        allow = ih_registry_may_subscribe (self->registry, peer,
                                           (const char *) prefix, prefix_size);
    if (allow) {
        zmq_setsockopt (handle, ZMQ_SUBSCRIBE, prefix, prefix_size);
        self->allowed++;
    } else {
        self->refused++;
        s_log_refusal (self, peer, prefix, prefix_size);
    }
}

bool
ih_publish_handle (ih_publish_t *self)
{
    assert (self);
    if (!self->sock)
        return false;
    //  libzmq 4.3.4's XPUB in manual mode queues each subscription with
    //  the connection it came from, but queues any other message a client
    //  sends upstream (an XSUB can) without one, while every read takes
    //  one connection off that queue. After such a message, the
    //  subscriptions read no longer belong to the connections
    //  ZMQ_SUBSCRIBE would apply them to. So from the first one on,
    //  nothing is applied in this pass, and the caller reopens the feed
    //  (every subscriber reconnects and subscribes again).
    bool poisoned = false;
    //  POLLIN on an XPUB means a message is pending, so the receive below
    //  never blocks
    while (zsock_events (self->sock) & ZMQ_POLLIN) {
        zframe_t *frame = zframe_recv (self->sock);
        if (!frame)
            break; //  interrupted
        size_t size = zframe_size (frame);
        const uint8_t *data = zframe_data (frame);
        bool subscription =
            !zframe_more (frame) && size >= 1 && (data[0] == 0 || data[0] == 1);
        if (!subscription && !poisoned) {
            const char *peer = ih_curve_peer (frame);
            zsys_warning ("publish: a message that is not a subscription "
                          "from %s%s: the feed is reopened",
                          peer ? "site " : "a plain-text client",
                          peer ? peer : "");
            poisoned = true;
        }
        if (subscription && !poisoned)
            s_handle_one (self, frame);
        else if (subscription && data[0] == 1)
            self->refused++;
        zframe_destroy (&frame);
    }
    return poisoned;
}

//  --------------------------------------------------------------------------
//  Selftest

#include "ih_hubtest.h"
#include "ih_zap.h"

//  Handles the subscriptions that arrive within ms.
static void
s_test_pump (ih_publish_t *publish, int ms)
{
    zpoller_t *poller = zpoller_new (ih_publish_socket (publish), NULL);
    assert (poller);
    if (zpoller_wait (poller, ms))
        ih_publish_handle (publish);
    zpoller_destroy (&poller);
}

//  Pumps until the publisher has applied (refused) more subscriptions
//  than allowed (refused); deadline 10 s.
static void
s_test_wait_subs (ih_publish_t *publish, uint64_t allowed, uint64_t refused)
{
    int64_t deadline = zclock_mono () + 10000;
    uint64_t now_allowed = 0, now_refused = 0;
    while (zclock_mono () < deadline) {
        s_test_pump (publish, 100);
        ih_publish_subscriptions (publish, &now_allowed, &now_refused);
        if (now_allowed >= allowed && now_refused >= refused)
            break;
    }
    assert (now_allowed >= allowed && now_refused >= refused);
}

//  Receives from sub until a message comes (deadline 10 s); copies its
//  topic.
static void
s_test_recv (zsock_t *sub, char *topic)
{
    zpoller_t *poller = zpoller_new (sub, NULL);
    assert (zpoller_wait (poller, 10000) == sub);
    zpoller_destroy (&poller);
    zmsg_t *msg = zmsg_recv (sub);
    assert (msg);
    ih_wire_t wire;
    assert (ih_wire_decode_pub (msg, &wire) == IH_OK);
    strcpy (topic, wire.topic);
    zmsg_destroy (&msg);
}

//  CURVE: an "own" reader may not subscribe to everything, only to its
//  own prefix; an "all" reader may subscribe to anything.
static void
s_test_curve (bool verbose, const uint8_t *bytes, size_t size)
{
    ih_hubtest_t *test = ih_hubtest_new ("ih_publish_curve");
    ih_key_t *hub = ih_key_new ("hub");
    ih_key_t *inc = ih_key_new ("lh-inc-01");
    ih_key_t *office = ih_key_new ("sn-office");
    assert (hub && inc && office);
    ih_registry_t *registry = test->registry;
    ih_hubtest_add_site (test, inc, "incubator", "laoshan");
    ih_hubtest_add_site (test, office, "district", "shinan");
    zactor_t *zap = ih_zap_new (registry);
    assert (zap);
    if (verbose)
        zstr_send (zap, "VERBOSE");

    ih_publish_t *publish =
        ih_publish_new_secure ("tcp://127.0.0.1:*", 1000, hub, registry);
    assert (publish);
    const char *endpoint = ih_publish_endpoint (publish);

    //  The incubator (scope own) asks for everything: refused
    zsock_t *sub = ih_hubtest_client (ZMQ_SUB, endpoint, inc, hub);
    zsock_set_subscribe (sub, "");
    s_test_wait_subs (publish, 0, 1);
    //  ... then for its own prefix: applied (so the User-Id did reach us)
    zsock_set_subscribe (sub, "laoshan/lh-inc-01/");
    s_test_wait_subs (publish, 1, 1);

    //  The district office (scope all) asks for everything: applied
    zsock_t *all = ih_hubtest_client (ZMQ_SUB, endpoint, office, hub);
    zsock_set_subscribe (all, "");
    s_test_wait_subs (publish, 2, 1);

    //  Another site's event, then the reader's own: the reader gets only
    //  its own; the office gets both, in order
    char topic[3 * IH_NAME_MAX + 4];
    for (int round = 0; round < 2; round++) {
        ih_publish_send (publish, "shinan", "sn-inc-07", "enterprise.admitted",
                         1, 1, bytes, size);
        ih_publish_send (publish, "laoshan", "lh-inc-01", "enterprise.admitted",
                         2, 2, bytes, size);
        s_test_recv (sub, topic);
        assert (streq (topic, "laoshan/lh-inc-01/enterprise.admitted/"));
        s_test_recv (all, topic);
        assert (streq (topic, "shinan/sn-inc-07/enterprise.admitted/"));
        s_test_recv (all, topic);
        assert (streq (topic, "laoshan/lh-inc-01/enterprise.admitted/"));
    }
    //  Unsubscribing its own prefix leaves the reader with what it still
    //  subscribes to (messages of one pipe arrive in order, so once the
    //  later subscription is applied the unsubscription was too)
    zsock_set_unsubscribe (sub, "laoshan/lh-inc-01/");
    zsock_set_subscribe (sub, "laoshan/lh-inc-01/sync/");
    s_test_wait_subs (publish, 3, 1);
    ih_publish_send (publish, "laoshan", "lh-inc-01", "enterprise.admitted", 3,
                     3, bytes, size);
    ih_publish_send (publish, "laoshan", "lh-inc-01", "sync", 4, 4, bytes,
                     size);
    s_test_recv (sub, topic);
    assert (streq (topic, "laoshan/lh-inc-01/sync/"));

    zsock_destroy (&sub);
    zsock_destroy (&all);
    ih_publish_destroy (&publish);
    zactor_destroy (&zap);
    ih_key_destroy (&hub);
    ih_key_destroy (&inc);
    ih_key_destroy (&office);
    ih_hubtest_destroy (&test);
}

void
ih_publish_test (bool verbose)
{
    printf (" * ih_publish: ");
    if (verbose)
        printf ("\n");

    assert (ih_publish_new ("bogus://nowhere") == NULL);
    ih_publish_t *publish = ih_publish_new ("tcp://127.0.0.1:*");
    assert (publish);
    assert (ih_publish_port (publish) > 0);
    assert (strncmp (ih_publish_endpoint (publish), "tcp://127.0.0.1:", 16) ==
            0);
    if (verbose)
        printf ("   bound %s\n", ih_publish_endpoint (publish));

    zsock_t *sub = zsock_new (ZMQ_SUB);
    assert (sub);
    zsock_set_subscribe (sub, "laoshan/");
    assert (zsock_connect (sub, "%s", ih_publish_endpoint (publish)) == 0);

    ih_key_t *key = ih_key_new ("lh-inc-01");
    assert (key);
    size_t size;
    uint8_t *bytes =
        ih_hubtest_sign (key, 1, NULL, "enterprise.admitted", 0, "{}", &size);

    //  Plain text: the subscription is applied once the publisher has
    //  handled it; then a message for it gets through and one for another
    //  district does not
    s_test_wait_subs (publish, 1, 0);
    int64_t deadline = zclock_mono () + 10000;
    zpoller_t *poller = zpoller_new (sub, NULL);
    ih_publish_send (publish, "shinan", "other", "x", 0, 0, bytes, size);
    ih_publish_send (publish, "laoshan", "lh-inc-01", "enterprise.admitted", 42,
                     1234, bytes, size);
    bool got = false;
    while (!got && zclock_mono () < deadline) {
        if (zpoller_wait (poller, 100) != sub)
            continue;
        zmsg_t *msg = zmsg_recv (sub);
        assert (msg);
        ih_wire_t wire;
        assert (ih_wire_decode_pub (msg, &wire) == IH_OK);
        assert (wire.kind == IH_WIRE_PUB);
        assert (streq (wire.topic, "laoshan/lh-inc-01/enterprise.admitted/"));
        assert (wire.hub_seq == 42);
        assert (wire.received == 1234);
        assert (wire.event_size == size);
        assert (memcmp (wire.event, bytes, size) == 0);
        got = true;
        zmsg_destroy (&msg);
    }
    assert (got);
    assert (ih_publish_count (publish) == 2);

    zpoller_destroy (&poller);
    zsock_destroy (&sub);
    ih_key_destroy (&key);
    ih_publish_destroy (&publish);
    ih_publish_destroy (&publish);

    s_test_curve (verbose, bytes, size);
    free (bytes);

    //  ipc endpoints report themselves too
    char tmpl[] = "/tmp/ih_publish_test.XXXXXX";
    char *dir = mkdtemp (tmpl);
    assert (dir);
    char *endpoint = zsys_sprintf ("ipc://%s/pub", dir);
    publish = ih_publish_new (endpoint);
    assert (publish);
    assert (streq (ih_publish_endpoint (publish), endpoint));
    assert (ih_publish_port (publish) == 0);
    ih_publish_destroy (&publish);
    char *file = zsys_sprintf ("%s/pub", dir);
    remove (file);
    zstr_free (&file);
    zstr_free (&endpoint);
    rmdir (dir);
    printf ("OK\n");
}
