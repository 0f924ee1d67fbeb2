/*  =========================================================================
    it_outbox_full - a full outbox refuses clearly and drains once the hub
    is back

    An agent with a 1 MiB outbox (--outbox-map 1) runs with no hub behind
    its ipc endpoint. The test publishes (its own DEALER, tagged PUBLISH)
    until the agent answers a clear NAK IH_E_FULL, and checks that
    `incuhub publish` then prints an error naming IH_E_FULL and exits 1.
    Then the hub starts: the agent must drain (backlog 0 via STATUS; the
    deletes of acknowledged events must not jam on a full LMDB map) and
    accept new events again. Every confirmed event must be in the hub's log
    exactly once, under the seq it was confirmed with, carrying its payload
    id.
    =========================================================================*/
#include "ih_testkit.h"
#include "ih_json.h"
#include "ih_record.h"

#define S_MAX 200000 //  far more than 1 MiB can hold

static uint64_t *s_confirmed_n; //  seq -> payload id n (0 = none)

static zmsg_t *
s_publish_msg (uint64_t n)
{
    char json[160];
    snprintf (json, sizeof json,
              "{\"n\":%" PRIu64 ",\"enterprise\":\"ent-%06" PRIu64
              "\",\"participants\":12}",
              n, n);
    json_t *object = json_loads (json, 0, NULL);
    uint8_t *data;
    size_t size;
    IH_CHECK (ih_json_to_msgpack (object, &data, &size) == IH_OK, "pack");
    json_decref (object);
    uint8_t tag[8];
    ih_record_put_u64 (tag, n);
    zmsg_t *msg = ih_wire_publish_tagged ("training.held", data, size, tag, 8);
    free (data);
    return msg;
}

//  Publishes n on dealer; returns the reply's code (IH_OK: *seq_p set).
static ih_err_t
s_publish (zsock_t *dealer, uint64_t n, uint64_t *seq_p, char *reason,
           size_t reason_size)
{
    zmsg_t *msg = s_publish_msg (n);
    IH_CHECK (zmsg_send (&msg, dealer) == 0, "send");
    zmsg_t *reply = zmsg_recv (dealer);
    IH_CHECK (reply, "no answer from the agent for n=%" PRIu64, n);
    ih_wire_t wire;
    IH_CHECK (ih_wire_decode (reply, &wire) == IH_OK, "bad answer");
    IH_CHECK (wire.tag_size == 8 && ih_record_get_u64 (wire.tag) == n,
              "answer for n=%" PRIu64 " does not echo its tag", n);
    ih_err_t code = IH_OK;
    if (wire.kind == IH_WIRE_CONFIRM)
        *seq_p = wire.seq;
    else {
        IH_CHECK (wire.kind == IH_WIRE_NAK, "expected CONFIRM or NAK");
        code = wire.code;
        snprintf (reason, reason_size, "%s", wire.reason);
    }
    zmsg_destroy (&reply);
    return code;
}

typedef struct {
    uint64_t checked;
} s_scan_t;

static int
s_scan (uint64_t hub_seq, uint64_t received, const uint8_t *bytes, size_t size,
        void *arg)
{
    (void) hub_seq;
    (void) received;
    s_scan_t *scan = (s_scan_t *) arg;
    ih_event_t event;
    IH_CHECK (ih_event_decode (bytes, size, &event) == IH_OK, "decode");
    if (streq (event.site, IH_TK_BUREAU))
        return 0; //  the registry journal, stored first
    IH_CHECK (streq (event.site, "jimo-inc-07"), "event of site %s",
              event.site);
    json_t *data;
    IH_CHECK (ih_json_from_msgpack (event.data, event.data_size, &data) ==
                  IH_OK,
              "data");
    uint64_t n = (uint64_t) json_integer_value (json_object_get (data, "n"));
    json_decref (data);
    IH_CHECK (event.seq < S_MAX, "seq %" PRIu64 " too high", event.seq);
    IH_CHECK (s_confirmed_n[event.seq] == n,
              "log has seq %" PRIu64 " with n=%" PRIu64
              " but it was confirmed for n=%" PRIu64,
              event.seq, n, s_confirmed_n[event.seq]);
    scan->checked++;
    return 0;
}

int
main (void)
{
    const char *dir = ih_tk_tempdir ();
    s_confirmed_n = (uint64_t *) zmalloc (S_MAX * sizeof (uint64_t));
    char data[512], registry[512], ingest[256], pub[256], listen[256];
    ih_tk_paths (dir, data, registry, ingest, pub);
    ih_tk_site_t site;
    ih_tk_site_init (&site, dir, registry, "jimo-inc-07", "incubator", "jimo");

    //  The agent, with nothing listening at the hub endpoint yet
    const char *small[] = {"--outbox-map", "1", NULL};
    ih_proc_t *agent =
        ih_tk_agent_start (dir, site.site, ingest, small, listen);

    //  Fill the outbox until the agent refuses with IH_E_FULL
    zsock_t *dealer = zsock_new_dealer (listen);
    zsock_set_rcvtimeo (dealer, 10000);
    uint64_t n = 0, confirmed = 0, last_seq = 0;
    char reason[256] = "";
    ih_err_t code = IH_OK;
    while (code == IH_OK) {
        IH_CHECK (n + 1 < S_MAX, "the outbox never filled up");
        uint64_t seq = 0;
        code = s_publish (dealer, ++n, &seq, reason, sizeof reason);
        if (code == IH_OK) {
            IH_CHECK (seq == last_seq + 1, "seq %" PRIu64 " after %" PRIu64,
                      seq, last_seq);
            last_seq = seq;
            s_confirmed_n[seq] = n;
            confirmed++;
        }
    }
    IH_CHECK (code == IH_E_FULL, "refused with %s, not IH_E_FULL",
              ih_err_name (code));
    IH_CHECK (strstr (reason, "full"), "unclear reason '%s'", reason);
    IH_CHECK (confirmed > 100, "only %" PRIu64 " events fit", confirmed);
    //  Still full on retry (nothing was acknowledged)
    uint64_t seq = 0;
    IH_CHECK (s_publish (dealer, ++n, &seq, reason, sizeof reason) == IH_E_FULL,
              "a retry was accepted while full");
    IH_CHECK (ih_tk_status_int (listen, "backlog") == (json_int_t) confirmed,
              "backlog is not %" PRIu64, confirmed);

    //  `incuhub publish` says so clearly and exits 1
    char *out = NULL, *err = NULL;
    const char *pub_args[] = {"publish",  "--agent", listen,      "--type",
                              "test.one", "--data",  "{\"n\":0}", NULL};
    int status = ih_tk_run (dir, "incuhub", pub_args, NULL, &out, &err, 20000);
    IH_CHECK (status == 1, "incuhub publish exited %d, not 1", status);
    IH_CHECK (out && *out == 0, "incuhub publish printed '%s'", out);
    IH_CHECK (err && strstr (err, "IH_E_FULL"),
              "incuhub publish stderr does not name IH_E_FULL: '%s'", err);
    free (out);
    free (err);

    //  The hub starts: the agent drains and deletes what was acknowledged
    ih_proc_t *hub =
        ih_tk_hub_start (dir, data, registry, ingest, pub, NULL, NULL);
    int64_t started = ih_tk_now ();
    ih_tk_agent_drain (listen, 120000);
    int64_t drained_ms = ih_tk_now () - started;

    //  ... and accepts new events again, once the deletes made room
    int64_t deadline = ih_tk_now () + 60000;
    uint64_t accepted = 0;
    while (accepted < 50) {
        IH_CHECK (ih_tk_now () < deadline,
                  "agent still refuses after draining: %s", reason);
        seq = 0;
        code = s_publish (dealer, ++n, &seq, reason, sizeof reason);
        if (code == IH_OK) {
            IH_CHECK (seq == last_seq + 1, "seq %" PRIu64 " after %" PRIu64,
                      seq, last_seq);
            last_seq = seq;
            s_confirmed_n[seq] = n;
            confirmed++;
            accepted++;
        } else {
            IH_CHECK (code == IH_E_FULL, "refused with %s", ih_err_name (code));
            zclock_sleep (20); //  polling interval of a condition wait
        }
    }
    ih_tk_agent_drain (listen, 60000);
    zsock_destroy (&dealer);

    //  Every confirmed event is in the log exactly once, with its payload
    zhashx_t *counts = NULL;
    uint64_t total = ih_tk_log_check (data, &counts);
    zhashx_destroy (&counts);
    IH_CHECK (total == confirmed,
              "log has %" PRIu64 " events, %" PRIu64 " were confirmed", total,
              confirmed);
    s_scan_t scan = {0};
    ih_tk_log_scan (data, s_scan, &scan);
    IH_CHECK (scan.checked == confirmed,
              "%" PRIu64 " of %" PRIu64 " confirmed events are in the log",
              scan.checked, confirmed);
    printf ("it_outbox_full: OK (%" PRIu64 " events filled 1 MiB, drained in "
            "%" PRId64 " ms, %" PRIu64 " accepted after)\n",
            confirmed - accepted, drained_ms, accepted);

    ih_tk_stop (&agent, "agent");
    ih_tk_stop (&hub, "hub");
    ih_tk_site_fini (&site);
    free (s_confirmed_n);
    ih_tk_cleanup ();
    return 0;
}
