/*  =========================================================================
    it_hub_kill - SIGKILL the hub mid-stream; nothing acknowledged is lost

    Phase 1: the test itself plays an agent, streams signed events to the
    hub with a window in flight, and SIGKILLs the hub at a random moment.
    Every event the hub acknowledged before the kill must be in the log.
    Phase 2: a restarted hub with two real agents fed by `incuhub publish`
    is SIGKILLed again mid-stream and restarted on the same files; the test
    also resends phase 1's events from the start (duplicates must be ACKed
    with their original hub sequence, not stored twice). After the agents
    drain, every published event is in the log exactly once and the audit
    passes.
    =========================================================================*/
#include "ih_testkit.h"
#include "ih_json.h"

#define S_DIRECT 1500
#define S_EVENTS 1000
#define S_WINDOW 64

int
main (void)
{
    srandom ((unsigned) (getpid () ^ time (NULL)));
    const char *dir = ih_tk_tempdir ();
    char data[512], registry[512], ingest[256], pub[256];
    ih_tk_paths (dir, data, registry, ingest, pub);

    ih_tk_site_t direct;
    ih_tk_site_init (&direct, dir, registry, "jimo-inc-07", "incubator",
                     "jimo");
    static uint8_t *events[S_DIRECT + 1];
    static size_t sizes[S_DIRECT + 1];
    for (int n = 1; n <= S_DIRECT; n++) {
        char json[128];
        snprintf (json, sizeof json, "{\"enterprise\":\"ent-%d\"}", n);
        events[n] =
            ih_tk_site_sign (&direct, "enterprise.admitted", json, &sizes[n]);
    }

    //  The hub stores the registry journal first (hub_seq 1..journal), so
    //  the first direct event takes hub_seq journal + 1.
    uint64_t journal = ih_tk_journal_count (registry);

    //  Phase 1: stream, kill at a random number of ACKs.
    ih_proc_t *hub =
        ih_tk_hub_start (dir, data, registry, ingest, pub, NULL, NULL);
    uint64_t kill_after = 200 + (uint64_t) (random () % 1000);
    zsock_t *dealer = zsock_new_dealer (ingest);
    zsock_set_rcvtimeo (dealer, 5000);
    uint64_t sent = 0, acked = 0;
    while (acked < kill_after) {
        while (sent < S_DIRECT && sent - acked < S_WINDOW) {
            sent++;
            zmsg_t *msg = ih_wire_event (events[sent], sizes[sent]);
            zmsg_send (&msg, dealer);
        }
        zmsg_t *reply = zmsg_recv (dealer);
        IH_CHECK (reply, "no ACK after %" PRIu64 " acks", acked);
        ih_wire_t wire;
        IH_CHECK (ih_wire_decode (reply, &wire) == IH_OK &&
                      wire.kind == IH_WIRE_ACK,
                  "expected ACK");
        IH_CHECK (wire.seq == acked + 1, "ACK for %" PRIu64 " after %" PRIu64,
                  wire.seq, acked);
        acked = wire.seq;
        zmsg_destroy (&reply);
    }
    ih_tk_kill (&hub, "hub");
    zsock_destroy (&dealer);
    zhashx_t *counts;
    ih_tk_log_check (data, &counts);
    uint64_t *last = (uint64_t *) zhashx_lookup (counts, direct.site);
    IH_CHECK (last && *last >= acked,
              "acked %" PRIu64 " before the kill but the log ends at %" PRIu64,
              acked, last ? *last : 0);
    printf ("phase 1: killed after %" PRIu64 " acks, log holds %" PRIu64
            ", %" PRIu64 " sent\n",
            acked, *last, sent);
    zhashx_destroy (&counts);

    //  Phase 2: two real agents, kill the hub again mid-stream.
    const char *names[2] = {"licang-inc-02", "de-offshore-01"};
    const char *kinds[2] = {"incubator", "offshore"};
    ih_tk_site_t sites[2];
    ih_proc_t *agents[2], *publishers[2];
    char listen[2][256];
    for (int i = 0; i < 2; i++)
        ih_tk_site_init (&sites[i], dir, registry, names[i], kinds[i],
                         "licang");
    hub = ih_tk_hub_start (dir, data, registry, ingest, pub, NULL, NULL);
    for (int i = 0; i < 2; i++)
        agents[i] = ih_tk_agent_start (dir, names[i], ingest, NULL, listen[i]);
    char in_path[512];
    snprintf (in_path, sizeof in_path, "%s/events.jsonl", dir);
    FILE *file = fopen (in_path, "w");
    for (int n = 1; n <= S_EVENTS; n++)
        fprintf (file,
                 "{\"type\":\"financing.round_closed\",\"data\":"
                 "{\"enterprise\":\"ent-%d\",\"round\":\"angel\","
                 "\"amount_cny\":%d}}\n",
                 n, n * 1000);
    fclose (file);
    for (int i = 0; i < 2; i++) {
        const char *args[] = {"publish", "--agent", listen[i], NULL};
        publishers[i] = ih_proc_start_stdin (dir, "incuhub", args, in_path);
    }
    //  Kill when the log has grown by a random amount.
    json_int_t base = ih_tk_status_int (ingest, "events");
    json_int_t target = base + 100 + random () % 900;
    int64_t deadline = ih_tk_now () + 60000;
    while (ih_tk_status_int (ingest, "events") < target)
        IH_CHECK (ih_tk_now () < deadline, "log did not reach %lld",
                  (long long) target);
    ih_tk_kill (&hub, "hub");
    hub = ih_tk_hub_start (dir, data, registry, ingest, pub, NULL, NULL);

    //  Resend phase 1's stream from the start: old ones are duplicates.
    dealer = zsock_new_dealer (ingest);
    zsock_set_rcvtimeo (dealer, 10000);
    uint64_t next_ack = 1;
    sent = 0;
    uint64_t first_hub_seq = 0;
    while (next_ack <= S_DIRECT) {
        while (sent < S_DIRECT && sent + 1 - next_ack < S_WINDOW) {
            sent++;
            zmsg_t *msg = ih_wire_event (events[sent], sizes[sent]);
            zmsg_send (&msg, dealer);
        }
        zmsg_t *reply = zmsg_recv (dealer);
        IH_CHECK (reply, "no reply to resend %" PRIu64, next_ack);
        ih_wire_t wire;
        IH_CHECK (ih_wire_decode (reply, &wire) == IH_OK &&
                      wire.kind == IH_WIRE_ACK,
                  "expected ACK for resend, got kind %d code %s", wire.kind,
                  ih_err_name (wire.code));
        IH_CHECK (wire.seq == next_ack, "ACK %" PRIu64 " expected %" PRIu64,
                  wire.seq, next_ack);
        if (wire.seq == 1)
            first_hub_seq = wire.hub_seq;
        next_ack++;
        zmsg_destroy (&reply);
    }
    IH_CHECK (first_hub_seq == journal + 1,
              "duplicate of the first event acked with hub_seq %" PRIu64
              " instead of its original %" PRIu64,
              first_hub_seq, journal + 1);
    zsock_destroy (&dealer);

    for (int i = 0; i < 2; i++) {
        IH_CHECK (ih_proc_wait_exit (publishers[i], 120000) == 0,
                  "publisher %d failed (see %s)", i,
                  ih_proc_stderr (publishers[i]));
        ih_proc_destroy (&publishers[i]);
    }
    for (int i = 0; i < 2; i++)
        ih_tk_agent_drain (listen[i], 60000);
    uint64_t events_n = ih_tk_log_check (data, &counts);
    IH_CHECK (events_n == S_DIRECT + 2 * S_EVENTS,
              "log holds %" PRIu64 " events, expected %d", events_n,
              S_DIRECT + 2 * S_EVENTS);
    for (int i = 0; i < 2; i++) {
        last = (uint64_t *) zhashx_lookup (counts, names[i]);
        IH_CHECK (last && *last == S_EVENTS, "site %s incomplete", names[i]);
    }
    zhashx_destroy (&counts);
    IH_CHECK (ih_tk_audit (dir, data, registry, NULL, NULL) == 0,
              "audit failed after the crashes");

    for (int i = 0; i < 2; i++) {
        ih_proc_destroy (&agents[i]);
        ih_tk_site_fini (&sites[i]);
    }
    ih_tk_stop (&hub, "hub");
    for (int n = 1; n <= S_DIRECT; n++)
        free (events[n]);
    ih_tk_site_fini (&direct);
    ih_tk_cleanup ();
    printf ("it_hub_kill: OK (%" PRIu64 " events)\n", events_n);
    return 0;
}
