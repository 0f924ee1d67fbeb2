/*  =========================================================================
    it_bad_input - hostile and broken input gets its NAK, nothing is stored

    Over a real DEALER socket to a real hub: garbage frames, wrong frame
    counts, empty and oversized messages, invalid msgpack, a forged
    signature, a changed byte, an unknown site, a replayed sequence (same
    bytes: ACKed again with the original hub sequence; different bytes:
    NAK), a sequence gap (NAK naming the expected sequence) and a broken
    chain. After each the hub keeps serving, and the log holds exactly the
    valid events.
    =========================================================================*/
#include <sys/stat.h>
#include "ih_testkit.h"

static zsock_t *s_dealer;

//  Sends msg, expects one reply, returns it decoded in *wire.
static zmsg_t *
s_ask (zmsg_t *msg, ih_wire_t *wire)
{
    zmsg_send (&msg, s_dealer);
    zmsg_t *reply = zmsg_recv (s_dealer);
    IH_CHECK (reply, "no reply from the hub");
    IH_CHECK (ih_wire_decode (reply, wire) == IH_OK, "undecodable reply");
    return reply;
}

static void
s_expect_nak (zmsg_t *msg, ih_err_t code, const char *what)
{
    ih_wire_t wire;
    zmsg_t *reply = s_ask (msg, &wire);
    IH_CHECK (wire.kind == IH_WIRE_NAK, "%s: expected NAK, got kind %d", what,
              wire.kind);
    IH_CHECK (wire.code == code, "%s: expected %s, got %s (%s)", what,
              ih_err_name (code), ih_err_name (wire.code), wire.reason);
    IH_CHECK (strlen (wire.reason) > 0, "%s: NAK without a reason", what);
    zmsg_destroy (&reply);
}

static uint64_t
s_expect_ack (zmsg_t *msg, uint64_t seq, const char *what)
{
    ih_wire_t wire;
    zmsg_t *reply = s_ask (msg, &wire);
    IH_CHECK (wire.kind == IH_WIRE_ACK, "%s: expected ACK, got kind %d (%s)",
              what, wire.kind, wire.kind == IH_WIRE_NAK ? wire.reason : "");
    IH_CHECK (wire.seq == seq, "%s: ACK for seq %" PRIu64, what, wire.seq);
    uint64_t hub_seq = wire.hub_seq;
    zmsg_destroy (&reply);
    return hub_seq;
}

int
main (void)
{
    const char *dir = ih_tk_tempdir ();
    char data[512], registry[512], ingest[256], pub[256], forger_dir[512];
    ih_tk_paths (dir, data, registry, NULL, NULL);
    snprintf (forger_dir, sizeof forger_dir, "%s/forger", dir);
    mkdir (forger_dir, 0700);
    ih_tk_site_t good, forger, stranger;
    ih_tk_site_init (&good, dir, registry, "chengyang-inc-01", "incubator",
                     "chengyang");
    //  Same site id, a key the registry does not know.
    ih_tk_site_init (&forger, forger_dir, NULL, "chengyang-inc-01", "incubator",
                     "chengyang");
    //  A site that is not registered at all.
    ih_tk_site_init (&stranger, dir, NULL, "nowhere-inc-99", "incubator",
                     "nowhere");
    ih_proc_t *hub = ih_tk_hub_start (dir, data, registry, "tcp://127.0.0.1:*",
                                      "tcp://127.0.0.1:*", ingest, pub);
    //  The bureau's registry events take the log's first hub_seqs
    uint64_t base = ih_tk_journal_count (registry);
    s_dealer = zsock_new_dealer (ingest);
    zsock_set_rcvtimeo (s_dealer, 5000);

    //  Garbage and frame-count errors.
    s_expect_nak (ih_tk_frames (1, "\x01\xff garbage"), IH_E_COMMAND,
                  "garbage");
    s_expect_nak (ih_tk_frames (1, ""), IH_E_COMMAND, "empty frame");
    s_expect_nak (ih_tk_frames (1, "EVENT"), IH_E_FRAMES, "EVENT without body");
    s_expect_nak (ih_tk_frames (3, "EVENT", "a", "b"), IH_E_FRAMES,
                  "EVENT with two bodies");
    s_expect_nak (ih_tk_frames (3, "STATUS", "x", "y"), IH_E_FRAMES,
                  "STATUS with two bodies");
    s_expect_nak (ih_tk_frames (2, "STATUS", "{}"), IH_E_COMMAND,
                  "a STATUS reply sent to the hub");
    s_expect_nak (ih_tk_frames (2, "ACK", "x"), IH_E_MALFORMED, "broken ACK");
    s_expect_nak (ih_wire_ack ("laoshan-inc-01", 1, 1), IH_E_COMMAND,
                  "hub-to-agent command sent to the hub");
    s_expect_nak (ih_tk_frames (1, "PUBLISH"), IH_E_FRAMES, "short PUBLISH");
    s_expect_nak (ih_tk_frames (2, "EVENT", ""), IH_E_MALFORMED, "empty event");
    //  Invalid msgpack behind a 64-byte "signature".
    char junk[200];
    memset (junk, 'S', 64);
    memcpy (junk + 64, "\xc1\xc1\xc1 not msgpack", 15);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "EVENT");
    zmsg_addmem (msg, junk, 79);
    s_expect_nak (msg, IH_E_MALFORMED, "invalid msgpack");
    //  Valid msgpack of the wrong shape: a map instead of the array.
    memcpy (junk + 64,
            "\x81\xa1"
            "a"
            "\x01",
            4);
    msg = zmsg_new ();
    zmsg_addstr (msg, "EVENT");
    zmsg_addmem (msg, junk, 68);
    s_expect_nak (msg, IH_E_MALFORMED, "msgpack map instead of array");
    //  Oversized.
    size_t big_size = IH_EVENT_MAX + 1000;
    char *big = (char *) zmalloc (big_size);
    msg = zmsg_new ();
    zmsg_addstr (msg, "EVENT");
    zmsg_addmem (msg, big, big_size);
    free (big);
    s_expect_nak (msg, IH_E_TOOBIG, "oversized event");

    //  Signature problems and unknown sites.
    size_t size;
    uint8_t *bytes = ih_tk_site_sign (&forger, "enterprise.admitted",
                                      "{\"enterprise\":\"fake\"}", &size);
    s_expect_nak (ih_wire_event (bytes, size), IH_E_BADSIG, "forged");
    free (bytes);
    bytes = ih_tk_site_sign (&stranger, "enterprise.admitted", "{}", &size);
    s_expect_nak (ih_wire_event (bytes, size), IH_E_UNKNOWN_SITE, "stranger");
    free (bytes);
    ih_tk_site_t before = good; //  chain state before seq 1 (shares the key)
    bytes =
        ih_tk_site_sign (&good, "enterprise.admitted",
                         "{\"enterprise\":\"ent-1\",\"amount\":1000}", &size);
    uint8_t *changed = (uint8_t *) malloc (size);
    memcpy (changed, bytes, size);
    changed[size - 2] ^= 0x01; //  a byte of the payload
    s_expect_nak (ih_wire_event (changed, size), IH_E_BADSIG, "changed byte");
    uint8_t *truncated_sig = (uint8_t *) malloc (size);
    memcpy (truncated_sig, bytes, size);
    memset (truncated_sig, 0, 64);
    s_expect_nak (ih_wire_event (truncated_sig, size), IH_E_BADSIG,
                  "zeroed signature");
    free (truncated_sig);
    free (changed);

    //  The good event, then its duplicate: same hub sequence.
    uint64_t hub_seq = s_expect_ack (ih_wire_event (bytes, size), 1, "good");
    IH_CHECK (hub_seq == base + 1, "first event got hub_seq %" PRIu64, hub_seq);
    uint64_t again = s_expect_ack (ih_wire_event (bytes, size), 1, "dup");
    IH_CHECK (again == hub_seq, "duplicate acked with hub_seq %" PRIu64, again);
    free (bytes);

    //  The same sequence, different content: a conflict.
    bytes = ih_tk_site_sign (&before, "enterprise.admitted",
                             "{\"enterprise\":\"other\"}", &size);
    s_expect_nak (ih_wire_event (bytes, size), IH_E_CONFLICT, "conflict");
    free (bytes);

    //  A gap: skip seq 2.
    ih_tk_site_t skip = good;
    free (ih_tk_site_sign (&skip, "enterprise.admitted", "{}", &size));
    bytes = ih_tk_site_sign (&skip, "enterprise.admitted", "{}", &size);
    msg = ih_wire_event (bytes, size);
    zmsg_send (&msg, s_dealer);
    zmsg_t *reply = zmsg_recv (s_dealer);
    ih_wire_t wire;
    IH_CHECK (reply && ih_wire_decode (reply, &wire) == IH_OK, "gap reply");
    IH_CHECK (wire.kind == IH_WIRE_NAK && wire.code == IH_E_GAP, "gap: got %s",
              ih_err_name (wire.code));
    IH_CHECK (wire.expected == 2, "gap: expected %" PRIu64, wire.expected);
    IH_CHECK (wire.seq == 3 && streq (wire.site, good.site),
              "gap NAK names site/seq wrongly");
    zmsg_destroy (&reply);
    free (bytes);

    //  A broken chain: seq 2 whose prev is not the hash of seq 1.
    ih_tk_site_t broken = good;
    broken.prev[0] ^= 0xff;
    bytes = ih_tk_site_sign (&broken, "enterprise.admitted", "{}", &size);
    s_expect_nak (ih_wire_event (bytes, size), IH_E_CHAIN, "chain");
    free (bytes);

    //  A flood of garbage, then the hub still serves a good event.
    for (int i = 0; i < 500; i++) {
        msg = ih_tk_frames (2, "EVENT", "garbage garbage garbage garbage");
        zmsg_send (&msg, s_dealer);
    }
    for (int i = 0; i < 500; i++) {
        reply = zmsg_recv (s_dealer);
        IH_CHECK (reply, "flood reply %d missing", i);
        zmsg_destroy (&reply);
    }
    bytes = ih_tk_site_sign (&good, "enterprise.graduated",
                             "{\"enterprise\":\"ent-1\"}", &size);
    hub_seq = s_expect_ack (ih_wire_event (bytes, size), 2, "good after bad");
    IH_CHECK (hub_seq == base + 2, "second good event got hub_seq %" PRIu64,
              hub_seq);
    free (bytes);

    IH_CHECK (ih_proc_alive (hub), "the hub died");
    zsock_destroy (&s_dealer);
    IH_CHECK (ih_tk_log_check (data, NULL) == 2,
              "the log holds something other than the two valid events");
    ih_tk_stop (&hub, "hub");
    ih_tk_site_fini (&good);
    ih_tk_site_fini (&forger);
    ih_tk_site_fini (&stranger);
    ih_tk_cleanup ();
    printf ("it_bad_input: OK\n");
    return 0;
}
