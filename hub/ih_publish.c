/*  =========================================================================
    ih_publish - the hub's PUB socket: one message per stored event

    Where it sits: owned by the ingest actor, fed after each committed
    batch; the subscribers are district offices, the bureau and the CLI's
    tail. The frame layout is ih_wire's (ih_wire_pub); this file only owns
    the socket, its options and the bound endpoint.
    =========================================================================*/
#include <czmq.h>
#include "ih_publish.h"
#include "ih_wire.h"

struct _ih_publish_t {
    zsock_t *sock;  //  PUB, bound
    char *endpoint; //  the endpoint actually bound (ZMQ_LAST_ENDPOINT)
    int port;       //  TCP port, or 0
    uint64_t count; //  messages sent
};

ih_publish_t *
ih_publish_new (const char *endpoint)
{
    return ih_publish_new_hwm (endpoint, IH_PUBLISH_SNDHWM);
}

ih_publish_t *
ih_publish_new_hwm (const char *endpoint, int sndhwm)
{
    if (!endpoint || sndhwm < 0) {
        zsys_error ("publish: bad endpoint or sndhwm");
        return NULL;
    }
    ih_publish_t *self = (ih_publish_t *) zmalloc (sizeof (ih_publish_t));
    assert (self);
    self->sock = zsock_new (ZMQ_PUB);
    if (!self->sock) {
        zsys_error ("publish: cannot create PUB socket");
        goto failed;
    }
    //  Options before bind so they apply to every subscriber's pipe
    zsock_set_sndhwm (self->sock, sndhwm);
    zsock_set_linger (self->sock, 0);
    if (zsock_bind (self->sock, "%s", endpoint) == -1) {
        zsys_error ("publish: cannot bind %s: %s", endpoint,
                    zmq_strerror (zmq_errno ()));
        goto failed;
    }
    self->endpoint = zsock_last_endpoint (self->sock);
    assert (self->endpoint);
    if (strncmp (self->endpoint, "tcp://", 6) == 0) {
        const char *colon = strrchr (self->endpoint, ':');
        if (colon)
            self->port = atoi (colon + 1);
    }
    return self;

failed:
    ih_publish_destroy (&self);
    return NULL;
}

void
ih_publish_destroy (ih_publish_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        ih_publish_t *self = *self_p;
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
    zmsg_t *msg =
        ih_wire_pub (district, site, type, hub_seq, received, bytes, size);
    assert (msg);
    //  PUB never blocks: a subscriber over its HWM just misses this one
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

//  --------------------------------------------------------------------------
//  Selftest

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
    ih_event_t event;
    memset (&event, 0, sizeof (event));
    strcpy (event.site, "lh-inc-01");
    strcpy (event.type, "enterprise.admitted");
    event.seq = 1;
    event.ts = ih_event_now ();
    static const uint8_t empty_map[] = {0x80};
    event.data = empty_map;
    event.data_size = 1;
    uint8_t *bytes;
    size_t size;
    assert (ih_event_sign (&event, key, &bytes, &size) == IH_OK);

    //  PUB drops until the subscription has arrived: probe until one
    //  message gets through, with a deadline, then send the real one
    int64_t deadline = zclock_mono () + 10000;
    zpoller_t *poller = zpoller_new (sub, NULL);
    bool joined = false;
    while (!joined && zclock_mono () < deadline) {
        ih_publish_send (publish, "laoshan", "probe", "probe", 0, 0, bytes,
                         size);
        ih_publish_send (publish, "shinan", "other", "x", 0, 0, bytes, size);
        if (zpoller_wait (poller, 50) == sub) {
            zmsg_t *msg = zmsg_recv (sub);
            zmsg_destroy (&msg);
            joined = true;
        }
    }
    assert (joined);
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
        assert (strncmp (wire.topic, "laoshan/", 8) == 0);
        if (streq (wire.topic, "laoshan/lh-inc-01/enterprise.admitted/")) {
            assert (wire.hub_seq == 42);
            assert (wire.received == 1234);
            assert (wire.event_size == size);
            assert (memcmp (wire.event, bytes, size) == 0);
            got = true;
        }
        zmsg_destroy (&msg);
    }
    assert (got);
    assert (ih_publish_count (publish) >= 3);

    zpoller_destroy (&poller);
    zsock_destroy (&sub);
    free (bytes);
    ih_key_destroy (&key);
    ih_publish_destroy (&publish);
    ih_publish_destroy (&publish);

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
