/*  =========================================================================
    it_flow - three agents, 1,000 events each, end to end over TCP

    A hub on tcp://127.0.0.1:*, three real agents (a district office, an
    incubator and an offshore base), `incuhub publish` feeding each 1,000
    JSON lines, and a subscriber on the hub's PUB socket. Checks: every
    event is in the log exactly once and in per-site order, the subscriber
    receives every one of them live, every agent drains to an empty
    outbox, and `incuhub audit` passes.
    =========================================================================*/
#include "ih_testkit.h"
#include "ih_json.h"

#define S_SITES 3
#define S_EVENTS 1000

static const char *s_site[S_SITES] = {"shinan-district", "laoshan-inc-01",
                                      "sg-offshore-01"};
static const char *s_kind[S_SITES] = {"district", "incubator", "offshore"};
static const char *s_district[S_SITES] = {"shinan", "laoshan", "laoshan"};

int
main (void)
{
    const char *dir = ih_tk_tempdir ();
    char data[512], registry[512], ingest[256], pub[256];
    ih_tk_paths (dir, data, registry, NULL, NULL);
    ih_tk_site_t sites[S_SITES];
    for (int i = 0; i < S_SITES; i++)
        ih_tk_site_init (&sites[i], dir, registry, s_site[i], s_kind[i],
                         s_district[i]);
    //  This test's subscriber keeps up on average but reads slower than
    //  three agents burst; the default PUB high-water mark (1,000) would
    //  drop for it in a burst, which is for the catch-up subscriber to
    //  repair. Here every event must arrive live, so allow a deep queue.
    const char *extra[] = {"--pub-hwm", "100000", NULL};
    ih_proc_t *hub =
        ih_tk_hub_start_ex (dir, data, registry, "tcp://127.0.0.1:*",
                            "tcp://127.0.0.1:*", extra, ingest, pub);
    ih_proc_t *agents[S_SITES];
    char listen[S_SITES][256];
    for (int i = 0; i < S_SITES; i++)
        agents[i] = ih_tk_agent_start (dir, s_site[i], ingest, NULL, listen[i]);

    //  The subscriber. A SUB socket is live only once its subscription has
    //  reached the PUB side, so publish warm-up events until one arrives.
    zsock_t *sub = zsock_new (ZMQ_SUB);
    zsock_set_rcvhwm (sub, 0);
    zsock_set_subscribe (sub, "");
    IH_CHECK (zsock_connect (sub, "%s", pub) == 0, "connect %s", pub);
    zsock_set_rcvtimeo (sub, 500);
    uint64_t warmups = 0;
    zmsg_t *first = NULL;
    int64_t deadline = ih_tk_now () + 20000;
    while (!first && ih_tk_now () < deadline) {
        const char *args[] = {"publish",     "--agent", listen[0], "--type",
                              "test.warmup", "--data",  "{}",      NULL};
        IH_CHECK (ih_tk_run (dir, "incuhub", args, NULL, NULL, NULL, 10000) ==
                      0,
                  "warm-up publish failed");
        warmups++;
        first = zmsg_recv (sub);
    }
    IH_CHECK (first, "subscriber never received a warm-up event");
    zmsg_destroy (&first);
    zsock_set_rcvtimeo (sub, 100);

    //  Feed each agent 1,000 JSON lines through `incuhub publish`.
    char *input = (char *) zmalloc (S_EVENTS * 128);
    char *cursor = input;
    for (int n = 1; n <= S_EVENTS; n++)
        cursor += sprintf (cursor,
                           "{\"type\":\"enterprise.admitted\",\"data\":"
                           "{\"enterprise\":\"ent-%04d\",\"n\":%d}}\n",
                           n, n);
    char in_path[512];
    snprintf (in_path, sizeof in_path, "%s/events.jsonl", dir);
    FILE *file = fopen (in_path, "w");
    fputs (input, file);
    fclose (file);
    free (input);

    //  Three publishers run at once, each reading the file on stdin.
    ih_proc_t *publishers[S_SITES];
    for (int i = 0; i < S_SITES; i++) {
        const char *args[] = {"publish", "--agent", listen[i], NULL};
        publishers[i] = ih_proc_start_stdin (dir, "incuhub", args, in_path);
    }

    //  Collect live events while the publishers run.
    uint64_t received[S_SITES] = {0, 0, 0};
    uint64_t last_seq[S_SITES] = {0, 0, 0};
    uint64_t total = 0;
    deadline = ih_tk_now () + 120000;
    while (total < S_SITES * S_EVENTS && ih_tk_now () < deadline) {
        zmsg_t *msg = zmsg_recv (sub);
        if (!msg)
            continue;
        ih_wire_t wire;
        IH_CHECK (ih_wire_decode_pub (msg, &wire) == IH_OK, "bad PUB message");
        ih_event_t event;
        IH_CHECK (ih_event_decode (wire.event, wire.event_size, &event) ==
                      IH_OK,
                  "bad event on PUB");
        for (int i = 0; i < S_SITES; i++)
            if (streq (event.site, s_site[i]) &&
                streq (event.type, "enterprise.admitted")) {
                IH_CHECK (event.seq > last_seq[i],
                          "site %s: seq %" PRIu64 " after %" PRIu64, s_site[i],
                          event.seq, last_seq[i]);
                last_seq[i] = event.seq;
                received[i]++;
                total++;
            }
        zmsg_destroy (&msg);
    }
    for (int i = 0; i < S_SITES; i++)
        IH_CHECK (received[i] == S_EVENTS,
                  "subscriber got %" PRIu64 " of %d events from %s",
                  received[i], S_EVENTS, s_site[i]);

    for (int i = 0; i < S_SITES; i++) {
        IH_CHECK (ih_proc_wait_exit (publishers[i], 60000) == 0,
                  "publisher %d failed (see %s)", i,
                  ih_proc_stderr (publishers[i]));
        ih_proc_destroy (&publishers[i]);
    }
    //  Every agent drains: backlog reaches 0.
    for (int i = 0; i < S_SITES; i++)
        ih_tk_agent_drain (listen[i], 30000);

    //  The log: exactly once, per-site order (checked inside), counts.
    zhashx_t *counts;
    uint64_t events = ih_tk_log_check (data, &counts);
    IH_CHECK (events == S_SITES * S_EVENTS + warmups,
              "log holds %" PRIu64 " events, expected %" PRIu64, events,
              (uint64_t) S_SITES * S_EVENTS + warmups);
    for (int i = 0; i < S_SITES; i++) {
        uint64_t *last = (uint64_t *) zhashx_lookup (counts, s_site[i]);
        IH_CHECK (last && *last == S_EVENTS + (i == 0 ? warmups : 0),
                  "site %s last seq wrong", s_site[i]);
    }
    zhashx_destroy (&counts);

    //  The hub's own STATUS agrees (it counts the bureau's registry
    //  events too).
    json_t *status = ih_tk_status (ingest);
    IH_CHECK (json_integer_value (json_object_get (status, "events")) ==
                  (json_int_t) (events + ih_tk_journal_count (registry)),
              "hub STATUS events disagrees with the log");
    //  Group commit: under three concurrent streams, batches hold many
    //  events (one commit, one fsync each).
    json_int_t commits =
        json_integer_value (json_object_get (status, "commits"));
    IH_CHECK (commits > 0 && (uint64_t) commits < events / 2,
              "%lld commits for %" PRIu64 " events: no group commit",
              (long long) commits, events);
    printf ("group commit: %" PRIu64 " events in %lld commits\n", events,
            (long long) commits);
    json_decref (status);

    //  The audit passes.
    char *out = NULL;
    IH_CHECK (ih_tk_audit (dir, data, registry, &out, NULL) == 0,
              "audit failed: %s", out);
    IH_CHECK (strstr (out, "audit: OK"), "audit output: %s", out);
    free (out);

    zsock_destroy (&sub);
    for (int i = 0; i < S_SITES; i++)
        ih_tk_stop (&agents[i], s_site[i]);
    ih_tk_stop (&hub, "hub");
    for (int i = 0; i < S_SITES; i++)
        ih_tk_site_fini (&sites[i]);
    ih_tk_cleanup ();
    printf ("it_flow: OK (%" PRIu64 " events)\n", events);
    return 0;
}
