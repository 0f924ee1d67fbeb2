/*  =========================================================================
    it_clock_skew - a site's wrong clock is reported, never trusted

    Two sites whose clocks are ten minutes slow and ten minutes fast
    publish interleaved events to a real hub. Checks: every event is stored
    (a wrong clock is not a reason to refuse a signed fact); the log's order
    is the hub's arrival order, not the event times; the hub's STATUS
    reports each site's skew and flags both as off, and a site with a good
    clock as not off.
    =========================================================================*/
#include "ih_testkit.h"
#include "ih_json.h"

#define S_ROUNDS 10
#define S_OFFSET (10 * 60 * 1000)

typedef struct {
    uint64_t last_hub_seq;
    uint64_t events;
} s_order_t;

static int
s_order (uint64_t hub_seq, uint64_t received, const uint8_t *bytes, size_t size,
         void *arg)
{
    (void) received;
    (void) bytes;
    (void) size;
    s_order_t *order = (s_order_t *) arg;
    IH_CHECK (hub_seq == order->last_hub_seq + 1, "log out of order");
    order->last_hub_seq = hub_seq;
    order->events++;
    return 0;
}

int
main (void)
{
    const char *dir = ih_tk_tempdir ();
    char data[512], registry[512], ingest[256], pub[256];
    ih_tk_paths (dir, data, registry, ingest, pub);
    ih_tk_site_t slow, fast, good;
    ih_tk_site_init (&slow, dir, registry, "remote-sz-01", "remote",
                     "shenzhen");
    ih_tk_site_init (&fast, dir, registry, "fi-offshore-02", "offshore",
                     "laoshan");
    ih_tk_site_init (&good, dir, registry, "shibei-inc-04", "incubator",
                     "shibei");
    slow.clock_offset = -S_OFFSET;
    fast.clock_offset = S_OFFSET;
    ih_proc_t *hub =
        ih_tk_hub_start (dir, data, registry, ingest, pub, NULL, NULL);
    zsock_t *dealer = zsock_new_dealer (ingest);
    zsock_set_rcvtimeo (dealer, 5000);
    ih_tk_site_t *order[3] = {&fast, &slow, &good};
    //  The bureau's registry events take the log's first hub_seqs
    uint64_t base = ih_tk_journal_count (registry);
    uint64_t expected_hub_seq = base;
    for (int round = 0; round < S_ROUNDS; round++)
        for (int i = 0; i < 3; i++) {
            size_t size;
            uint8_t *bytes = ih_tk_site_sign (order[i], "training.held",
                                              "{\"participants\":5}", &size);
            zmsg_t *msg = ih_wire_event (bytes, size);
            free (bytes);
            zmsg_send (&msg, dealer);
            zmsg_t *reply = zmsg_recv (dealer);
            ih_wire_t wire;
            IH_CHECK (reply && ih_wire_decode (reply, &wire) == IH_OK &&
                          wire.kind == IH_WIRE_ACK,
                      "event of %s with a skewed clock not ACKed",
                      order[i]->site);
            IH_CHECK (wire.hub_seq == ++expected_hub_seq,
                      "hub_seq %" PRIu64 " is not arrival order", wire.hub_seq);
            zmsg_destroy (&reply);
        }
    zsock_destroy (&dealer);

    zmsg_t *request = ih_wire_status_request ();
    ih_wire_t wire;
    zmsg_t *reply = ih_tk_request (ingest, &request, &wire, 5000);
    IH_CHECK (reply, "no STATUS");
    json_t *status = json_loadb (wire.json, wire.json_size, 0, NULL);
    zmsg_destroy (&reply);
    json_t *skew = json_object_get (status, "skew");
    IH_CHECK (json_is_object (skew), "STATUS has no skew report");
    json_t *s = json_object_get (skew, slow.site);
    IH_CHECK (s && json_is_true (json_object_get (s, "off")) &&
                  json_integer_value (json_object_get (s, "last_ms")) >=
                      S_OFFSET - 60000,
              "slow clock not reported");
    s = json_object_get (skew, fast.site);
    IH_CHECK (s && json_is_true (json_object_get (s, "off")) &&
                  json_integer_value (json_object_get (s, "last_ms")) <=
                      -(S_OFFSET - 60000),
              "fast clock not reported");
    s = json_object_get (skew, good.site);
    IH_CHECK (s && json_is_false (json_object_get (s, "off")),
              "good clock reported as off");
    json_decref (status);

    s_order_t scan = {0, 0};
    ih_tk_log_scan (data, s_order, &scan);
    IH_CHECK (scan.events == base + 3 * S_ROUNDS,
              "%" PRIu64 " events stored, expected %" PRIu64, scan.events,
              base + 3 * S_ROUNDS);
    ih_tk_stop (&hub, "hub");
    ih_tk_site_fini (&slow);
    ih_tk_site_fini (&fast);
    ih_tk_site_fini (&good);
    ih_tk_cleanup ();
    printf ("it_clock_skew: OK\n");
    return 0;
}
