/*  =========================================================================
    it_checkpoint_stop - a clean stop leaves the whole log checkpointed

    A real hub with its key and a checkpoint policy that would not fire on
    its own (every 1,000 events or 10 minutes) stores five events (after
    the bureau's registry events) and is stopped with SIGTERM. The latest
    stored checkpoint must cover the whole log,
    verify with the hub's public key, and carry the tree's root; restarted,
    the hub verifies its log against it and serves again.
    =========================================================================*/
#include "ih_testkit.h"
#include "ih_checkpoint.h"

int
main (void)
{
    const char *dir = ih_tk_tempdir ();
    char data[512], registry[512], ingest[256], pub[256], hub_key[512];
    ih_tk_paths (dir, data, registry, ingest, pub);
    snprintf (hub_key, sizeof hub_key, "%s/hub.key", dir);
    ih_tk_site_t hub_site, site;
    ih_tk_site_init (&hub_site, dir, NULL, "hub", "bureau", "city");
    ih_tk_site_init (&site, dir, registry, "shinan-inc-09", "incubator",
                     "shinan");
    const char *extra[] = {"--key", hub_key,           "--checkpoint-events",
                           "1000",  "--checkpoint-ms", "600000",
                           NULL};
    ih_proc_t *hub = ih_tk_hub_start_ex (dir, data, registry, ingest, pub,
                                         extra, NULL, NULL);
    //  The bureau's registry events take the log's first hub_seqs: the
    //  whole log is those and the five events.
    uint64_t total = ih_tk_journal_count (registry) + 5;
    zsock_t *dealer = zsock_new_dealer (ingest);
    zsock_set_rcvtimeo (dealer, 5000);
    for (int n = 1; n <= 5; n++) {
        size_t size;
        uint8_t *bytes = ih_tk_site_sign (&site, "mentor.joined", "{}", &size);
        zmsg_t *msg = ih_wire_event (bytes, size);
        free (bytes);
        zmsg_send (&msg, dealer);
        zmsg_t *reply = zmsg_recv (dealer);
        ih_wire_t wire;
        IH_CHECK (reply && ih_wire_decode (reply, &wire) == IH_OK &&
                      wire.kind == IH_WIRE_ACK,
                  "event %d not ACKed", n);
        zmsg_destroy (&reply);
    }
    zsock_destroy (&dealer);
    ih_tk_stop (&hub, "hub");

    ih_log_t *log = ih_log_new (data, true, 0);
    IH_CHECK (log, "open log");
    uint8_t cp[IH_CHECKPOINT_MAX];
    size_t cp_size;
    IH_CHECK (ih_log_checkpoint (log, 0, cp, &cp_size) == IH_OK,
              "no checkpoint after a clean stop");
    ih_checkpoint_t checkpoint;
    IH_CHECK (ih_checkpoint_decode (cp, cp_size, &checkpoint) == IH_OK,
              "checkpoint does not decode");
    IH_CHECK (checkpoint.size == total,
              "latest checkpoint covers %" PRIu64 " of %" PRIu64 " events",
              checkpoint.size, total);
    IH_CHECK (ih_checkpoint_verify (cp, cp_size,
                                    ih_key_public (hub_site.key)) == IH_OK,
              "checkpoint not signed by the hub key");
    uint8_t root[IH_HASH_SIZE];
    IH_CHECK (ih_log_root (log, total, root) == IH_OK &&
                  memcmp (root, checkpoint.root, IH_HASH_SIZE) == 0,
              "checkpoint root is not the tree's root");
    ih_log_destroy (&log);

    hub = ih_tk_hub_start_ex (dir, data, registry, ingest, pub, extra, NULL,
                              NULL);
    IH_CHECK (ih_proc_alive (hub), "hub refused its own checkpointed log");
    ih_tk_stop (&hub, "hub");
    ih_tk_site_fini (&hub_site);
    ih_tk_site_fini (&site);
    ih_tk_cleanup ();
    printf ("it_checkpoint_stop: OK\n");
    return 0;
}
