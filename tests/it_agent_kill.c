/*  =========================================================================
    it_agent_kill - SIGKILL an agent mid-stream; its outbox survives

    The test publishes to a real agent over its listen socket, pipelined,
    and records each CONFIRM (per-site sequence). It SIGKILLs the agent at a
    random moment, restarts it on the same outbox and goes on publishing.
    Checks: no sequence is ever confirmed twice, and after the agent drains
    every confirmed event is in the hub's log under exactly the sequence it
    was confirmed with (so nothing confirmed was lost or renumbered).
    =========================================================================*/
#include "ih_testkit.h"
#include "ih_json.h"

#define S_TOTAL 2000
#define S_WINDOW 32

static uint64_t s_confirmed_n[S_TOTAL * 2 + 1]; //  seq -> n (0 = none)

static zmsg_t *
s_publish_msg (uint64_t n)
{
    char json[128];
    snprintf (json, sizeof json, "{\"n\":%" PRIu64 ",\"participants\":12}", n);
    json_t *object = json_loads (json, 0, NULL);
    uint8_t *data;
    size_t size;
    IH_CHECK (ih_json_to_msgpack (object, &data, &size) == IH_OK, "pack");
    json_decref (object);
    zmsg_t *msg = ih_wire_publish ("training.held", data, size);
    free (data);
    return msg;
}

typedef struct {
    uint64_t checked;
    uint64_t last_seq;
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
        return 0; //  registry events
    json_t *data;
    IH_CHECK (ih_json_from_msgpack (event.data, event.data_size, &data) ==
                  IH_OK,
              "data");
    uint64_t n = (uint64_t) json_integer_value (json_object_get (data, "n"));
    json_decref (data);
    IH_CHECK (event.seq <= S_TOTAL * 2, "seq %" PRIu64 " too high", event.seq);
    if (s_confirmed_n[event.seq]) {
        IH_CHECK (s_confirmed_n[event.seq] == n,
                  "seq %" PRIu64 " confirmed for n=%" PRIu64
                  " but the log has n=%" PRIu64,
                  event.seq, s_confirmed_n[event.seq], n);
        scan->checked++;
    }
    scan->last_seq = event.seq;
    return 0;
}

int
main (void)
{
    srandom ((unsigned) (getpid () ^ time (NULL)));
    const char *dir = ih_tk_tempdir ();
    char data[512], registry[512], ingest[256], pub[256], listen[256];
    ih_tk_paths (dir, data, registry, ingest, pub);
    ih_tk_site_t site;
    ih_tk_site_init (&site, dir, registry, "pingdu-inc-03", "incubator",
                     "pingdu");
    ih_proc_t *hub =
        ih_tk_hub_start (dir, data, registry, ingest, pub, NULL, NULL);
    ih_proc_t *agent = ih_tk_agent_start (dir, site.site, ingest, NULL, listen);

    uint64_t kill_at = 300 + (uint64_t) (random () % 1200);
    uint64_t next_n = 1, confirmed = 0, max_seq = 0;
    bool killed = false;
    while (confirmed < S_TOTAL) {
        zsock_t *dealer = zsock_new_dealer (listen);
        zsock_set_rcvtimeo (dealer, 10000);
        //  Requests in flight on this connection, oldest first.
        uint64_t pending[S_WINDOW];
        size_t head = 0, count = 0;
        bool restart = false;
        while (confirmed < S_TOTAL && !restart) {
            while (count < S_WINDOW && confirmed + count < S_TOTAL) {
                zmsg_t *msg = s_publish_msg (next_n);
                zmsg_send (&msg, dealer);
                pending[(head + count++) % S_WINDOW] = next_n++;
            }
            zmsg_t *reply = zmsg_recv (dealer);
            IH_CHECK (reply, "no CONFIRM from the agent");
            ih_wire_t wire;
            IH_CHECK (ih_wire_decode (reply, &wire) == IH_OK &&
                          wire.kind == IH_WIRE_CONFIRM,
                      "expected CONFIRM");
            IH_CHECK (wire.seq > max_seq && wire.seq <= S_TOTAL * 2,
                      "seq %" PRIu64 " confirmed after %" PRIu64
                      ": reused or out of order",
                      wire.seq, max_seq);
            max_seq = wire.seq;
            s_confirmed_n[wire.seq] = pending[head];
            head = (head + 1) % S_WINDOW;
            count--;
            confirmed++;
            zmsg_destroy (&reply);
            if (!killed && confirmed == kill_at) {
                ih_tk_kill (&agent, "agent");
                killed = true;
                restart = true;
            }
        }
        zsock_destroy (&dealer);
        if (restart)
            agent = ih_tk_agent_start (dir, site.site, ingest, NULL, NULL);
    }
    ih_tk_agent_drain (listen, 60000);
    ih_tk_log_check (data, NULL);
    s_scan_t scan = {0, 0};
    ih_tk_log_scan (data, s_scan, &scan);
    IH_CHECK (scan.checked == S_TOTAL,
              "%" PRIu64 " of %d confirmed events are in the log", scan.checked,
              S_TOTAL);
    printf ("it_agent_kill: OK (killed after %" PRIu64 " confirms; log has "
            "%" PRIu64 " events, %" PRIu64 " confirmed)\n",
            kill_at, scan.last_seq, confirmed);
    ih_tk_stop (&agent, "agent");
    ih_tk_stop (&hub, "hub");
    ih_tk_site_fini (&site);
    ih_tk_cleanup ();
    return 0;
}
