/*  =========================================================================
    it_replay - the hub's replay service against the hub's own log

    Where it sits: at the reading and auditing end of the data flow, on
    the hub's replay socket (docs/protocol.md 5.5 and 11). A real incuhubd
    with --replay, a hub key (`incuhub keygen`) and a checkpoint every 10
    events stores events the test signs and sends in separate bursts, so
    that several checkpoints exist. The log starts with the registry
    journal's events (the bureau's, district "city"), which replay like any
    other. Checks:
      - `incuhub replay --hub` prints byte for byte what `incuhub replay
        --data` prints: whole log, from a middle hub_seq, with site, type
        and district filters (local output filtered by the test), and
        --from-time (local output from the first event received then);
      - credit: a raw DEALER granting 10 gets exactly 10 RECORDs until it
        sends CREDIT, then exactly the granted ones, then END;
      - checkpoints listed by CHECKPOINT requests; inclusion proofs of
        random hub_seqs (`incuhub prove`) pass `incuhub verify-proof`, and
        fail with exit 3 when one byte of the record changes; a
        consistency proof between two real checkpoints verifies;
      - NAKs for a missing checkpoint and a hub_seq beyond the size.
    =========================================================================*/
#include "ih_testkit.h"
#include "ih_json.h"
#include "ih_checkpoint.h"
#include "ih_replay.h"
#include <sodium.h>

#define S_SITES 3
#define S_BURSTS 5
#define S_BURST 37
#define S_WINDOW 64
#define S_TIMEOUT 30000

static const char *s_site[S_SITES] = {"lh-inc-01", "lh-inc-02", "sn-inc-01"};
static const char *s_district[S_SITES] = {"laoshan", "laoshan", "shinan"};
static const char *s_type[2] = {"door.open", "enterprise.admitted"};

static const char *s_dir;
static char s_replay[256];
static char s_hub_pub[600];

//  Event n of the test's stream (serial numbers run on across calls).
typedef struct {
    ih_tk_site_t *sites;
    int serial; //  serial of this call's event 0
} s_stream_t;

static uint8_t *
s_stream_event (int i, size_t *size_p, void *arg)
{
    s_stream_t *stream = (s_stream_t *) arg;
    int n = stream->serial + i;
    char json[128];
    snprintf (json, sizeof json, "{\"n\":%d}", n);
    return ih_tk_site_sign (&stream->sites[n % S_SITES], s_type[(n / 3) % 2],
                            json, size_p);
}

//  Signs and sends count events, rotating sites and types, with a window
//  in flight; waits for every ACK.
static void
s_ingest (const char *endpoint, ih_tk_site_t *sites, int count, int *serial)
{
    s_stream_t stream = {sites, *serial};
    ih_tk_ingest (endpoint, count, S_WINDOW, S_TIMEOUT, s_stream_event,
                  &stream);
    *serial += count;
}

//  Runs `incuhub` with args; checks the exit status; returns stdout.
static char *
s_run (int expect, const char *const *args)
{
    char *out = NULL, *err = NULL;
    int rc = ih_tk_run (s_dir, "incuhub", args, NULL, &out, &err, S_TIMEOUT);
    IH_CHECK (rc == expect, "incuhub %s %s: exit %d, expected %d: %s", args[0],
              args[1], rc, expect, err);
    free (err);
    return out;
}

//  The lines of text whose JSON passes the filters (NULL: any), joined
//  again, and starting at the first with received >= from_time.
static char *
s_filter (const char *text, const char *site, const char *type,
          const char *district, uint64_t from_time)
{
    char *result = (char *) zmalloc (strlen (text) + 1);
    char *out = result;
    const char *line = text;
    bool started = from_time == 0;
    while (*line) {
        const char *end = strchr (line, '\n');
        IH_CHECK (end, "unterminated line");
        json_t *json = json_loadb (line, (size_t) (end - line), 0, NULL);
        IH_CHECK (json, "not JSON: %.*s", (int) (end - line), line);
        const char *got_site =
            json_string_value (json_object_get (json, "site"));
        const char *got_type =
            json_string_value (json_object_get (json, "type"));
        uint64_t received =
            (uint64_t) json_integer_value (json_object_get (json, "received"));
        const char *got_district = NULL;
        if (got_site && streq (got_site, IH_TK_BUREAU))
            got_district = IH_REGISTRY_BUREAU_DISTRICT;
        for (int i = 0; i < S_SITES; i++)
            if (got_site && streq (got_site, s_site[i]))
                got_district = s_district[i];
        IH_CHECK (got_site && got_type && got_district, "odd line");
        started = started || received >= from_time;
        if (started && (!site || streq (site, got_site)) &&
            (!type || streq (type, got_type)) &&
            (!district || streq (district, got_district))) {
            memcpy (out, line, (size_t) (end - line) + 1);
            out += end - line + 1;
        }
        json_decref (json);
        line = end + 1;
    }
    *out = 0;
    return result;
}

//  The first line of text whose hub_seq is at least from ("" if none).
static const char *
s_from_seq (const char *text, uint64_t from)
{
    const char *line = text;
    while (*line) {
        const char *end = strchr (line, '\n');
        IH_CHECK (end, "unterminated line");
        json_t *json = json_loadb (line, (size_t) (end - line), 0, NULL);
        IH_CHECK (json, "not JSON: %.*s", (int) (end - line), line);
        uint64_t hub_seq =
            (uint64_t) json_integer_value (json_object_get (json, "hub_seq"));
        json_decref (json);
        if (hub_seq >= from)
            return line;
        line = end + 1;
    }
    return line;
}

static size_t
s_count_lines (const char *text)
{
    size_t lines = 0;
    for (; *text; text++)
        lines += *text == '\n';
    return lines;
}

//  Remote replay with extra options equals expected (and is not empty).
static void
s_compare (const char *what, const char *expected, const char *o1,
           const char *v1, const char *o2, const char *v2)
{
    const char *args[] = {"replay", "--hub", s_replay, o1, v1, o2, v2, NULL};
    char *remote = s_run (0, args);
    IH_CHECK (*expected, "%s: nothing expected", what);
    IH_CHECK (streq (remote, expected),
              "%s: remote replay (%zu lines) differs from local (%zu lines)",
              what, s_count_lines (remote), s_count_lines (expected));
    printf ("it_replay: %s: %zu lines identical\n", what,
            s_count_lines (expected));
    free (remote);
}

//  Receives one message on dealer within timeout and decodes it; NULL
//  when none arrives.
static zmsg_t *
s_recv (zsock_t *dealer, int timeout, ih_wire_t *wire)
{
    zsock_set_rcvtimeo (dealer, timeout);
    zmsg_t *msg = zmsg_recv (dealer);
    if (msg)
        IH_CHECK (ih_wire_decode (msg, wire) == IH_OK, "undecodable reply");
    return msg;
}

//  Expects exactly the RECORDs first..last, then silence for quiet ms.
static void
s_expect_records (zsock_t *dealer, uint64_t first, uint64_t last, int quiet)
{
    ih_wire_t wire;
    for (uint64_t seq = first; seq <= last; seq++) {
        zmsg_t *msg = s_recv (dealer, S_TIMEOUT, &wire);
        IH_CHECK (msg && wire.kind == IH_WIRE_RECORD && wire.hub_seq == seq,
                  "wanted RECORD %" PRIu64 ", got %s kind %d hub_seq %" PRIu64,
                  seq, msg ? "" : "nothing", msg ? (int) wire.kind : 0,
                  msg ? wire.hub_seq : 0);
        zmsg_destroy (&msg);
    }
    if (quiet) {
        //  Nothing more may come without credit: a bounded wait for
        //  the absence of a message
        zmsg_t *msg = s_recv (dealer, quiet, &wire);
        IH_CHECK (!msg, "got kind %d hub_seq %" PRIu64 " beyond the credit",
                  (int) wire.kind, wire.hub_seq);
    }
}

static void
s_test_credit (uint64_t total)
{
    zsock_t *dealer = zsock_new_dealer (s_replay);
    IH_CHECK (dealer, "connect %s", s_replay);
    zmsg_t *msg = ih_wire_replay (1, 0, 0, NULL, NULL, NULL, 10);
    zmsg_send (&msg, dealer);
    s_expect_records (dealer, 1, 10, 500);
    msg = ih_wire_credit (5);
    zmsg_send (&msg, dealer);
    s_expect_records (dealer, 11, 15, 500);
    msg = ih_wire_credit (IH_REPLAY_CREDIT_MAX);
    zmsg_send (&msg, dealer);
    s_expect_records (dealer, 16, total, 0);
    ih_wire_t wire;
    msg = s_recv (dealer, S_TIMEOUT, &wire);
    IH_CHECK (msg && wire.kind == IH_WIRE_END && wire.last == total,
              "no END %" PRIu64 " after the last RECORD", total);
    zmsg_destroy (&msg);
    zsock_destroy (&dealer);
    printf ("it_replay: credit 10, +5, +rest: exactly 10, 5, %" PRIu64
            " RECORDs, then END\n",
            total - 15);
}

//  Sizes of the checkpoints the hub holds, found by asking for each size.
static zlistx_t *
s_checkpoints (uint64_t total)
{
    zlistx_t *sizes = zlistx_new ();
    zsock_t *dealer = zsock_new_dealer (s_replay);
    for (uint64_t size = 1; size <= total + 1; size++) {
        zmsg_t *msg = ih_wire_checkpoint_request (size);
        zmsg_send (&msg, dealer);
        ih_wire_t wire;
        msg = s_recv (dealer, S_TIMEOUT, &wire);
        IH_CHECK (msg, "no answer to CHECKPOINT %" PRIu64, size);
        if (wire.kind == IH_WIRE_SIGNED_CHECKPOINT) {
            ih_checkpoint_t cp;
            IH_CHECK (
                ih_checkpoint_decode (wire.checkpoint, wire.checkpoint_size,
                                      &cp) == IH_OK &&
                    cp.size == size,
                "checkpoint %" PRIu64 " does not decode to its size", size);
            zlistx_add_end (sizes, (void *) (uintptr_t) size);
        } else
            IH_CHECK (wire.kind == IH_WIRE_NAK && wire.code == IH_E_MISSING,
                      "CHECKPOINT %" PRIu64 ": kind %d code %d", size,
                      (int) wire.kind, (int) wire.code);
        zmsg_destroy (&msg);
    }
    //  A hub_seq beyond the checkpoint's size
    uint64_t first = (uint64_t) (uintptr_t) zlistx_first (sizes);
    zmsg_t *msg = ih_wire_prove_inclusion (first + 1, first);
    zmsg_send (&msg, dealer);
    ih_wire_t wire;
    msg = s_recv (dealer, S_TIMEOUT, &wire);
    IH_CHECK (msg && wire.kind == IH_WIRE_NAK && wire.code == IH_E_BADARG,
              "PROVE-INCLUSION %" PRIu64 " in size %" PRIu64
              ": not NAK IH_E_BADARG",
              first + 1, first);
    zmsg_destroy (&msg);
    zsock_destroy (&dealer);
    return sizes;
}

//  Writes text to a file in the test directory; returns its path (static
//  buffer).
static const char *
s_save (const char *name, const char *text)
{
    static char path[600];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *file = fopen (path, "w");
    IH_CHECK (file && fputs (text, file) >= 0 && fclose (file) == 0,
              "cannot write %s", path);
    return path;
}

static void
s_verify (int expect, const char *proof)
{
    const char *path = s_save ("proof.json", proof);
    const char *args[] = {"verify-proof", "--hub-key", s_hub_pub, path, NULL};
    free (s_run (expect, args));
}

static void
s_test_proofs (uint64_t total)
{
    zlistx_t *sizes = s_checkpoints (total);
    size_t count = zlistx_size (sizes);
    IH_CHECK (count >= 3, "only %zu checkpoints", count);
    uint64_t first = (uint64_t) (uintptr_t) zlistx_first (sizes);
    uint64_t second = (uint64_t) (uintptr_t) zlistx_next (sizes);
    uint64_t latest = (uint64_t) (uintptr_t) zlistx_last (sizes);
    printf ("it_replay: %zu checkpoints, sizes %" PRIu64 ", %" PRIu64
            " ... %" PRIu64 "\n",
            count, first, second, latest);

    //  Inclusion, against the latest checkpoint and against an older one
    for (int i = 0; i < 8; i++) {
        uint64_t seq = 1 + randombytes_uniform ((uint32_t) latest);
        char seq_text[32], size_text[32];
        snprintf (seq_text, sizeof seq_text, "%" PRIu64, seq);
        snprintf (size_text, sizeof size_text, "%" PRIu64, second);
        const char *args[] = {
            "prove",   "--hub",  s_replay,
            "--seq",   seq_text, i % 2 && seq <= second ? "--checkpoint" : NULL,
            size_text, NULL};
        char *proof = s_run (0, args);
        s_verify (0, proof);
        //  One byte of the record changed: the proof must fail (exit 3)
        json_t *json = json_loads (proof, 0, NULL);
        IH_CHECK (json, "prove output is not JSON: %s", proof);
        char *record =
            strdup (json_string_value (json_object_get (json, "record")));
        size_t at = strlen (record) / 2 + (size_t) i;
        record[at] = record[at] == '0' ? '1' : '0';
        json_object_set_new (json, "record", json_string (record));
        char *bad = json_dumps (json, JSON_COMPACT | JSON_PRESERVE_ORDER);
        s_verify (3, bad);
        free (bad);
        free (record);
        json_decref (json);
        free (proof);
    }
    printf ("it_replay: 8 inclusion proofs verify; each fails (exit 3) with "
            "one record byte changed\n");

    //  Consistency between real checkpoints: first -> latest, and two
    //  neighbours
    uint64_t pairs[2][2] = {{first, latest}, {second, 0}};
    zlistx_first (sizes);
    zlistx_next (sizes);
    pairs[1][1] = (uint64_t) (uintptr_t) zlistx_next (sizes);
    for (int i = 0; i < 2; i++) {
        char old_text[32], new_text[32];
        snprintf (old_text, sizeof old_text, "%" PRIu64, pairs[i][0]);
        snprintf (new_text, sizeof new_text, "%" PRIu64, pairs[i][1]);
        const char *args[] = {"prove",  "--hub",  s_replay, "--consistency",
                              old_text, new_text, NULL};
        char *proof = s_run (0, args);
        s_verify (0, proof);
        free (proof);
        printf ("it_replay: consistency %s -> %s verifies\n", old_text,
                new_text);
    }
    //  A size with no checkpoint: NAK, so prove fails
    char missing[32];
    snprintf (missing, sizeof missing, "%" PRIu64, latest + 1);
    const char *args[] = {"prove", "--hub",        s_replay, "--seq",
                          "1",     "--checkpoint", missing,  NULL};
    free (s_run (1, args));
    zlistx_destroy (&sizes);
}

int
main (void)
{
    s_dir = ih_tk_tempdir ();
    char data[512], registry[512], ingest[256], pub[256], key[600];
    char ingest_ep[300], pub_ep[300], replay_ep[300];
    snprintf (data, sizeof data, "%s/data", s_dir);
    snprintf (registry, sizeof registry, "%s/registry.json", s_dir);
    snprintf (ingest_ep, sizeof ingest_ep, "ipc://%s/ingest.sock", s_dir);
    snprintf (pub_ep, sizeof pub_ep, "ipc://%s/pub.sock", s_dir);
    snprintf (replay_ep, sizeof replay_ep, "ipc://%s/replay.sock", s_dir);
    snprintf (key, sizeof key, "%s/hub-qd.key", s_dir);
    snprintf (s_hub_pub, sizeof s_hub_pub, "%s/hub-qd.pub", s_dir);
    const char *keygen[] = {"keygen", "hub-qd", "--dir", s_dir, NULL};
    free (s_run (0, keygen));
    ih_tk_site_t sites[S_SITES];
    for (int i = 0; i < S_SITES; i++)
        ih_tk_site_init (&sites[i], s_dir, registry, s_site[i], "incubator",
                         s_district[i]);
    const char *extra[] = {
        "--replay", replay_ep,         "--key",   key, "--checkpoint-events",
        "10",       "--checkpoint-ms", "3600000", NULL};
    //  The hub stores the registry journal first: hub_seq 1..base
    uint64_t base = ih_tk_journal_count (registry);
    ih_proc_t *hub = ih_tk_hub_start_ex (s_dir, data, registry, ingest_ep,
                                         pub_ep, extra, ingest, pub);
    char *line = ih_proc_wait_line (hub, "incuhubd: ready", 5000);
    char *value = line ? ih_tk_field (line, "replay") : NULL;
    IH_CHECK (value, "no replay= in the ready line");
    snprintf (s_replay, sizeof s_replay, "%s", value);
    free (value);
    free (line);

    //  Separate bursts: separate commits, checkpoints and receive times
    int serial = 0;
    for (int burst = 0; burst < S_BURSTS; burst++)
        s_ingest (ingest, sites, S_BURST, &serial);
    uint64_t total = base + (uint64_t) S_BURSTS * S_BURST;

    const char *local_args[] = {"replay", "--data", data, NULL};
    char *local = s_run (0, local_args);
    IH_CHECK (s_count_lines (local) == total, "local replay: %zu lines",
              s_count_lines (local));
    s_compare ("whole log", local, NULL, NULL, NULL, NULL);
    const char *middle_args[] = {"replay", "--data", data,
                                 "--from", "77",     NULL};
    char *middle = s_run (0, middle_args);
    s_compare ("from 77", middle, "--from", "77", NULL, NULL);
    free (middle);

    char *expected = s_filter (local, "lh-inc-02", NULL, NULL, 0);
    s_compare ("--site lh-inc-02", expected, "--site", "lh-inc-02", NULL, NULL);
    free (expected);
    expected = s_filter (local, NULL, "door.open", "laoshan", 0);
    s_compare ("--type door.open --district laoshan", expected, "--type",
               "door.open", "--district", "laoshan");
    free (expected);
    expected = s_filter (local, "sn-inc-01", NULL, NULL, 0);
    s_compare ("--from 100 --site sn-inc-01", s_from_seq (expected, 100),
               "--from", "100", "--site", "sn-inc-01");
    free (expected);

    //  --from-time: the receive time of an event of the fourth burst
    const char *at = local;
    for (uint64_t i = 0; i < base + 3 * S_BURST + 5; i++)
        at = strchr (at, '\n') + 1;
    json_t *json = json_loadb (at, strcspn (at, "\n"), 0, NULL);
    IH_CHECK (json, "bad line");
    uint64_t from_time =
        (uint64_t) json_integer_value (json_object_get (json, "received"));
    json_decref (json);
    char time_text[32];
    snprintf (time_text, sizeof time_text, "%" PRIu64, from_time);
    expected = s_filter (local, NULL, NULL, NULL, from_time);
    s_compare ("--from-time", expected, "--from-time", time_text, NULL, NULL);
    free (expected);
    free (local);

    s_test_credit (total);
    s_test_proofs (total);

    ih_tk_stop (&hub, "hub");
    for (int i = 0; i < S_SITES; i++)
        ih_tk_site_fini (&sites[i]);
    ih_tk_cleanup ();
    printf ("it_replay: OK\n");
    return 0;
}
