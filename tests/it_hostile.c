/*  =========================================================================
    it_hostile - a hostile client floods the hub while good clients publish

    One DEALER sends thousands of bad messages of every kind the hub can
    receive: wrong frame counts for each command, empty and huge frames,
    invalid msgpack, valid msgpack of the wrong shape, truncated events,
    forged and zeroed signatures, an unknown site, registry changes from
    a site that is not the bureau and forged in the bureau's name,
    replayed, conflicting, out-of-order and chain-breaking sequences, and
    messages only the hub sends. At the same time three good sites publish 1,500 events each.
    Checks: every bad message gets its own NAK code (in order, on the same
    connection; for the registry's refusals also its reason), every good event is ACKed, the hub keeps running, and the
    log holds exactly the good events (plus the hostile site's one valid
    event). Prints how many hostile inputs were tried.
    =========================================================================*/
#include <sys/stat.h>
#include "ih_testkit.h"
#include "ih_ingest.h"
#include "ih_regchange.h"
#include "ih_json.h"

#define S_GOOD 3
#define S_GOOD_EVENTS 1500
#define S_BAD_ROUNDS 500
#define S_WINDOW 64

typedef struct {
    zmsg_t *msg;           //  prototype, duplicated for each send
    ih_err_t expect;       //  IH_OK means: expect an ACK (a duplicate)
    uint64_t expected_seq; //  for IH_E_GAP
    const char *name;
    const char *reason; //  if not NULL, the NAK reason must contain it
} s_bad_t;

#define S_KINDS_MAX 40

static zmsg_t *
s_event_msg (const uint8_t *bytes, size_t size)
{
    return ih_wire_event (bytes, size);
}

//  The code the hub must answer for an event's bytes, by our own decoder:
//  a decode error, or else (wrong key or zeroed signature) IH_E_BADSIG.
static ih_err_t
s_expect_for (const uint8_t *bytes, size_t size)
{
    ih_event_t event;
    ih_err_t err = ih_event_decode (bytes, size, &event);
    return err == IH_OK ? IH_E_BADSIG : err;
}

int
main (void)
{
    const char *dir = ih_tk_tempdir ();
    char data[512], registry[512], ingest[256], pub[256], other[512];
    ih_tk_paths (dir, data, registry, NULL, NULL);
    snprintf (other, sizeof other, "%s/other", dir);
    mkdir (other, 0700);
    ih_tk_site_t good[S_GOOD], hostile, forger, stranger, fake_bureau;
    const char *names[S_GOOD] = {"huangdao-inc-01", "jiaozhou-inc-02",
                                 "hitech-inc-03"};
    for (int i = 0; i < S_GOOD; i++)
        ih_tk_site_init (&good[i], dir, registry, names[i], "incubator",
                         "huangdao");
    ih_tk_site_init (&hostile, dir, registry, "hostile-01", "incubator",
                     "shinan");
    ih_tk_site_init (&forger, other, NULL, "hostile-01", "incubator", "shinan");
    ih_tk_site_init (&stranger, other, NULL, "stranger-01", "incubator",
                     "shinan");
    //  The bureau's id with a key of its own: a forged registry change
    ih_tk_site_init (&fake_bureau, other, NULL, IH_TK_BUREAU, "bureau", "city");
    //  The hub stores the registry journal first: hub_seq 1..base.
    uint64_t base = ih_tk_journal_count (registry);
    ih_proc_t *hub = ih_tk_hub_start (dir, data, registry, "tcp://127.0.0.1:*",
                                      "tcp://127.0.0.1:*", ingest, pub);

    //  The hostile site's one valid event, stored first.
    zsock_t *bad = zsock_new_dealer (ingest);
    zsock_set_rcvtimeo (bad, 10000);
    ih_tk_site_t before = hostile; //  chain state before seq 1
    size_t size;
    uint8_t *first = ih_tk_site_sign (&hostile, "enterprise.admitted",
                                      "{\"enterprise\":\"h-1\"}", &size);
    size_t first_size = size;
    zmsg_t *msg = s_event_msg (first, first_size);
    zmsg_send (&msg, bad);
    zmsg_t *reply = zmsg_recv (bad);
    ih_wire_t wire;
    IH_CHECK (reply && ih_wire_decode (reply, &wire) == IH_OK &&
                  wire.kind == IH_WIRE_ACK && wire.hub_seq == base + 1,
              "the hostile site's valid event was not stored first");
    zmsg_destroy (&reply);

    //  Every kind of bad message.
    s_bad_t kinds[S_KINDS_MAX];
    size_t nkinds = 0;
#define S_KIND(m, e, n) kinds[nkinds++] = (s_bad_t){(m), (e), 0, (n), NULL}
#define S_KIND_WHY(m, e, n, r)                                                 \
    kinds[nkinds++] = (s_bad_t) { (m), (e), 0, (n), (r) }
    S_KIND (ih_tk_frames (1, "\x01\xff garbage"), IH_E_COMMAND, "garbage");
    S_KIND (ih_tk_frames (1, ""), IH_E_COMMAND, "empty frame");
    S_KIND (ih_tk_frames (1, "event"), IH_E_COMMAND, "lower-case command");
    S_KIND (ih_tk_frames (1, "EVENT"), IH_E_FRAMES, "EVENT, 1 frame");
    S_KIND (ih_tk_frames (3, "EVENT", "a", "b"), IH_E_FRAMES,
            "EVENT, 3 frames");
    S_KIND (ih_tk_frames (2, "EVENT", ""), IH_E_MALFORMED, "EVENT, empty body");
    S_KIND (ih_tk_frames (3, "STATUS", "a", "b"), IH_E_FRAMES, "STATUS, 3");
    S_KIND (ih_tk_frames (2, "STATUS", "{}"), IH_E_COMMAND, "STATUS reply");
    S_KIND (ih_wire_ack ("hostile-01", 1, 1), IH_E_COMMAND, "ACK to hub");
    S_KIND (ih_wire_nak (IH_E_GAP, NULL, "hostile-01", 1, 1), IH_E_COMMAND,
            "NAK to hub");
    S_KIND (ih_wire_confirm ("hostile-01", 1), IH_E_COMMAND, "CONFIRM");
    S_KIND (ih_wire_publish ("x.y", (const uint8_t *) "\x80", 1), IH_E_COMMAND,
            "PUBLISH to hub");
    S_KIND (ih_tk_frames (1, "PUBLISH"), IH_E_FRAMES, "PUBLISH, 1 frame");
    msg = zmsg_new ();
    zmsg_addstr (msg, "EVENT");
    for (int i = 0; i < 100; i++)
        zmsg_addstr (msg, "x");
    S_KIND (msg, IH_E_FRAMES, "101 frames");
    //  Invalid msgpack, and valid msgpack of the wrong shape.
    uint8_t junk[128];
    memset (junk, 'S', 64);
    memcpy (junk + 64, "\xc1\xc1\xc1", 3);
    S_KIND (s_event_msg (junk, 67), IH_E_MALFORMED, "invalid msgpack");
    memcpy (junk + 64,
            "\x81\xa1"
            "a\x01",
            4);
    S_KIND (s_event_msg (junk, 68), IH_E_MALFORMED, "map, not array");
    memcpy (junk + 64, "\x93\x01\x02\x03", 4);
    S_KIND (s_event_msg (junk, 68), IH_E_MISSING, "array of 3");
    S_KIND (s_event_msg (junk, 10), IH_E_MALFORMED, "shorter than a sig");
    //  Huge: over the event limit, under the transport limit.
    uint8_t *huge = (uint8_t *) zmalloc (IH_EVENT_MAX + 2000);
    S_KIND (s_event_msg (huge, IH_EVENT_MAX + 2000), IH_E_TOOBIG, "huge");
    free (huge);
    huge = (uint8_t *) zmalloc (512 * 1024);
    S_KIND (s_event_msg (huge, 512 * 1024), IH_E_TOOBIG, "512 KiB frame");
    free (huge);
    //  Truncated events: the expected code is what our decoder says.
    uint8_t *valid = ih_tk_site_sign (&good[0], "x.y", "{\"a\":1}", &size);
    good[0].seq = 0; //  not sent: reset the chain
    memset (good[0].prev, 0, IH_HASH_SIZE);
    S_KIND (s_event_msg (valid, size - 1), s_expect_for (valid, size - 1),
            "truncated by one byte");
    S_KIND (s_event_msg (valid, size - 20), s_expect_for (valid, size - 20),
            "truncated by twenty bytes");
    S_KIND (s_event_msg (valid + 32, size - 32),
            s_expect_for (valid + 32, size - 32), "half a signature");
    free (valid);
    //  Signatures, sites, sequences.
    uint8_t *bytes = ih_tk_site_sign (&forger, "x.y", "{}", &size);
    S_KIND_WHY (s_event_msg (bytes, size), IH_E_BADSIG, "forged",
                "signature does not verify");
    free (bytes);
    uint8_t *zeroed = (uint8_t *) malloc (first_size);
    memcpy (zeroed, first, first_size);
    memset (zeroed, 0, 64);
    S_KIND_WHY (s_event_msg (zeroed, first_size), IH_E_BADSIG, "zero signature",
                "signature does not verify");
    free (zeroed);
    bytes = ih_tk_site_sign (&stranger, "x.y", "{}", &size);
    S_KIND_WHY (s_event_msg (bytes, size), IH_E_UNKNOWN_SITE, "unknown site",
                "stranger-01");
    free (bytes);
    S_KIND (s_event_msg (first, first_size), IH_OK, "replayed (same)");
    ih_tk_site_t conflict = before;
    bytes = ih_tk_site_sign (&conflict, "x.y", "{\"other\":1}", &size);
    S_KIND (s_event_msg (bytes, size), IH_E_CONFLICT, "replayed (other)");
    free (bytes);
    ih_tk_site_t ahead = hostile;
    ahead.seq += 3;
    bytes = ih_tk_site_sign (&ahead, "x.y", "{}", &size);
    kinds[nkinds++] =
        (s_bad_t){s_event_msg (bytes, size), IH_E_GAP, 2, "out of order", NULL};
    free (bytes);
    ih_tk_site_t broken = hostile;
    broken.prev[7] ^= 1;
    bytes = ih_tk_site_sign (&broken, "x.y", "{}", &size);
    S_KIND (s_event_msg (bytes, size), IH_E_CHAIN, "broken chain");
    free (bytes);
    //  Registry changes: a well-formed, correctly chained site_added signed
    //  by the hostile site itself (only the pinned bureau may change the
    //  registry), and one in the bureau's name with another key (next
    //  bureau seq, so it is judged, not taken for a resend).
    ih_regchange_t change;
    memset (&change, 0, sizeof change);
    change.op = IH_REG_OP_SITE_ADDED;
    snprintf (change.site, sizeof change.site, "hostile-02");
    snprintf (change.kind, sizeof change.kind, "bureau");
    snprintf (change.district, sizeof change.district, "shinan");
    memcpy (change.sign_key, ih_key_public (stranger.key), IH_KEY_PUBLIC_SIZE);
    memcpy (change.curve_key, ih_key_curve_public (stranger.key),
            IH_KEY_CURVE_SIZE);
    char *change_json = ih_regchange_json (&change);
    IH_CHECK (change_json, "ih_regchange_json");
    ih_tk_site_t self_made = hostile;
    bytes = ih_tk_site_sign (&self_made, IH_REG_SITE_ADDED, change_json, &size);
    S_KIND_WHY (s_event_msg (bytes, size), IH_E_DENIED,
                "registry change from a site", "only from bureau");
    free (bytes);
    fake_bureau.seq = base;
    bytes =
        ih_tk_site_sign (&fake_bureau, IH_REG_SITE_ADDED, change_json, &size);
    S_KIND_WHY (s_event_msg (bytes, size), IH_E_BADSIG,
                "registry change forged for the bureau",
                "signature does not verify");
    free (bytes);
    free (change_json);
    IH_CHECK (nkinds <= S_KINDS_MAX, "too many kinds");

    //  Run the flood and the good publishers together, one poll loop.
    zsock_t *good_sock[S_GOOD];
    zpoller_t *poller = zpoller_new (bad, NULL);
    for (int i = 0; i < S_GOOD; i++) {
        good_sock[i] = zsock_new_dealer (ingest);
        zpoller_add (poller, good_sock[i]);
    }
    uint64_t good_sent[S_GOOD] = {0}, good_acked[S_GOOD] = {0};
    size_t bad_total = S_BAD_ROUNDS * nkinds, bad_sent = 0, bad_answered = 0;
    int64_t deadline = ih_tk_now () + 120000;
    bool done = false;
    while (!done) {
        IH_CHECK (ih_tk_now () < deadline, "flood did not finish in time");
        while (bad_sent < bad_total && bad_sent - bad_answered < 200) {
            zmsg_t *copy = zmsg_dup (kinds[bad_sent % nkinds].msg);
            zmsg_send (&copy, bad);
            bad_sent++;
        }
        for (int i = 0; i < S_GOOD; i++)
            while (good_sent[i] < S_GOOD_EVENTS &&
                   good_sent[i] - good_acked[i] < S_WINDOW) {
                char json[64];
                snprintf (json, sizeof json, "{\"n\":%" PRIu64 "}",
                          good_sent[i] + 1);
                bytes = ih_tk_site_sign (&good[i], "enterprise.admitted", json,
                                         &size);
                msg = ih_wire_event (bytes, size);
                free (bytes);
                zmsg_send (&msg, good_sock[i]);
                good_sent[i]++;
            }
        void *which = zpoller_wait (poller, 1000);
        if (which == bad) {
            reply = zmsg_recv (bad);
            IH_CHECK (reply && ih_wire_decode (reply, &wire) == IH_OK,
                      "bad reply");
            s_bad_t *kind = &kinds[bad_answered % nkinds];
            if (kind->expect == IH_OK)
                IH_CHECK (wire.kind == IH_WIRE_ACK && wire.hub_seq == base + 1,
                          "%s: expected the original ACK", kind->name);
            else {
                IH_CHECK (wire.kind == IH_WIRE_NAK,
                          "%s: expected a NAK, got kind %d", kind->name,
                          wire.kind);
                IH_CHECK (wire.code == kind->expect, "%s: expected %s, got %s",
                          kind->name, ih_err_name (kind->expect),
                          ih_err_name (wire.code));
                if (kind->expected_seq)
                    IH_CHECK (wire.expected == kind->expected_seq,
                              "%s: expected seq %" PRIu64, kind->name,
                              wire.expected);
                if (kind->reason)
                    IH_CHECK (strstr (wire.reason, kind->reason),
                              "%s: reason '%s' does not say '%s'", kind->name,
                              wire.reason, kind->reason);
            }
            bad_answered++;
            zmsg_destroy (&reply);
        }
        for (int i = 0; i < S_GOOD; i++)
            if (which == good_sock[i]) {
                reply = zmsg_recv (good_sock[i]);
                IH_CHECK (reply && ih_wire_decode (reply, &wire) == IH_OK &&
                              wire.kind == IH_WIRE_ACK &&
                              wire.seq == good_acked[i] + 1,
                          "good site %d: not ACKed in order", i);
                good_acked[i]++;
                zmsg_destroy (&reply);
            }
        done = bad_answered == bad_total;
        for (int i = 0; i < S_GOOD; i++)
            done = done && good_acked[i] == S_GOOD_EVENTS;
    }
    //  A frame beyond the transport limit: libzmq drops that connection
    //  before buffering it; the hub goes on serving everyone else.
    zsock_t *giant = zsock_new_dealer (ingest);
    uint8_t *blob = (uint8_t *) zmalloc (2 * IH_INGEST_FRAME_MAX);
    msg = s_event_msg (blob, 2 * IH_INGEST_FRAME_MAX);
    free (blob);
    zmsg_send (&msg, giant);
    zmsg_t *status = ih_wire_status_request ();
    reply = ih_tk_request (ingest, &status, &wire, 5000);
    IH_CHECK (reply && wire.kind == IH_WIRE_STATUS,
              "hub does not answer after a giant frame");
    //  Nothing stored but the good events, the hostile site's one and the
    //  registry journal (no forged or self-made registry change)
    json_t *hub_status = json_loadb (wire.json, wire.json_size, 0, NULL);
    IH_CHECK (hub_status, "STATUS reply is not JSON");
    json_int_t stored =
        json_integer_value (json_object_get (hub_status, "events"));
    IH_CHECK (stored == (json_int_t) (S_GOOD * S_GOOD_EVENTS + 1 + base),
              "hub STATUS: %lld events stored, expected %" PRIu64,
              (long long) stored, (uint64_t) S_GOOD * S_GOOD_EVENTS + 1 + base);
    json_decref (hub_status);
    zmsg_destroy (&reply);
    zsock_destroy (&giant);
    IH_CHECK (ih_proc_alive (hub), "the hub died");
    zpoller_destroy (&poller);
    for (int i = 0; i < S_GOOD; i++)
        zsock_destroy (&good_sock[i]);
    zsock_destroy (&bad);
    for (size_t k = 0; k < nkinds; k++)
        zmsg_destroy (&kinds[k].msg);
    free (first);

    zhashx_t *counts;
    uint64_t events = ih_tk_log_check (data, &counts);
    IH_CHECK (events == S_GOOD * S_GOOD_EVENTS + 1,
              "the log holds %" PRIu64 " events, expected %d", events,
              S_GOOD * S_GOOD_EVENTS + 1);
    uint64_t *last = (uint64_t *) zhashx_lookup (counts, "hostile-01");
    IH_CHECK (last && *last == 1, "hostile site has more than its one event");
    zhashx_destroy (&counts);
    IH_CHECK (ih_tk_audit (dir, data, registry, NULL, NULL) == 0,
              "audit failed");
    ih_tk_stop (&hub, "hub");
    for (int i = 0; i < S_GOOD; i++)
        ih_tk_site_fini (&good[i]);
    ih_tk_site_fini (&hostile);
    ih_tk_site_fini (&forger);
    ih_tk_site_fini (&stranger);
    ih_tk_site_fini (&fake_bureau);
    ih_tk_cleanup ();
    printf ("it_hostile: OK (%zu hostile inputs of %zu kinds answered with "
            "their codes; %d good events stored)\n",
            bad_total, nkinds, S_GOOD * S_GOOD_EVENTS);
    return 0;
}
