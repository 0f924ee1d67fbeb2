/*  =========================================================================
    ih_bench_replay - the hub's replay service: local vs remote replay
    throughput, and Merkle proof generation and verification by log size

    Where it sits: at the reading and auditing end of the data flow. For
    each log size it fills a fresh incuhubd (with --replay and a hub key)
    straight through the ingest socket, as ih_bench_ingest does (one site,
    a window in flight; events are signed while filling, which is not
    timed) up to that size, counting the registry journal's events the
    hub stores first, then measures, on the same log:
      - local replay: ih_log_read over the whole log, opened read-only
        next to the running hub (what `incuhub replay --data` does);
      - remote replay: a DEALER sending REPLAY through the hub's replay
        endpoint and granting credit in windows (what `incuhub replay
        --hub` does), every RECORD checked to arrive in hub_seq order and
        the END to name the last hub_seq;
        both alternately, --rounds times, median events/s and the ratio;
      - proofs: --proofs PROVE-INCLUSION round trips for random hub_seqs
        against the latest checkpoint (which covers the whole log), and
        the time of ih_merkle_verify_inclusion for each answer (every one
        must verify), with the path length, which grows as log2(size).
    No assertion is on timing; the ctest smoke run checks correctness.
    Options, data directories, clocks and medians come from
    bench/ih_benchkit.

    Usage: ih_bench_replay [--sizes N,N,...] [--rounds R] [--proofs P]
                           [--credit W] [--dir DIR]
    =========================================================================*/
#include <math.h>
#include <sodium.h>
#include "ih_benchkit.h"
#include "ih_json.h"
#include "ih_record.h"
#include "ih_merkle.h"
#include "ih_checkpoint.h"

#define S_MAX_SIZES 8
#define S_MAX_ROUNDS 20
#define S_WINDOW 1024
#define S_TIMEOUT 60000

typedef struct {
    uint64_t sizes[S_MAX_SIZES];
    int nsizes;
    int rounds;
    int proofs;
    int credit;
    const char *root;
} s_options_t;

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: ih_bench_replay [--sizes N,N,...] [--rounds R]\n"
             "                       [--proofs P] [--credit W] [--dir DIR]\n\n"
             "  --sizes N,...  log sizes (default 10000,100000,1000000)\n"
             "  --rounds R     local/remote replay rounds (default 3)\n"
             "  --proofs P     inclusion proofs per size (default 2000)\n"
             "  --credit W     RECORDs granted per CREDIT (default 1000)\n"
             "  --dir DIR      where data directories are made (default "
             "$IH_BENCH_DIR or %s)\n",
             IH_BENCH_DATA);
}

//  Parses "N,N,..." (in the order given) into options->sizes. Returns 0
//  or -1.
static int
s_parse_sizes (const char *text, void *arg)
{
    s_options_t *options = (s_options_t *) arg;
    int rc = 0;
    options->nsizes = 0;
    char *copy = strdup (text), *save = NULL;
    IH_CHECK (copy, "out of memory");
    for (char *token = strtok_r (copy, ",", &save); token && rc == 0;
         token = strtok_r (NULL, ",", &save)) {
        uint64_t value;
        rc = options->nsizes == S_MAX_SIZES ||
             ih_benchkit_parse_u64 (token, 1, UINT32_MAX, &value);
        if (rc == 0)
            options->sizes[options->nsizes++] = value;
    }
    free (copy);
    return rc || options->nsizes == 0 ? -1 : 0;
}

//  Streams count events of one site to the hub's ingest, a window in
//  flight, signing as it goes; every one must be ACKed in order.
static void
s_fill (const char *endpoint, ih_tk_site_t *site, uint64_t count)
{
    zsock_t *dealer = zsock_new_dealer (endpoint);
    IH_CHECK (dealer, "cannot connect to %s", endpoint);
    zsock_set_rcvtimeo (dealer, S_TIMEOUT);
    uint64_t sent = 0, acked = 0;
    while (acked < count) {
        while (sent < count && sent - acked < S_WINDOW) {
            char json[160];
            snprintf (json, sizeof json,
                      "{\"enterprise\":\"ent-%" PRIu64
                      "\",\"round\":\"angel\",\"amount_cny\":%" PRIu64 "}",
                      sent + 1, (sent + 1) * 1000);
            size_t size;
            uint8_t *bytes =
                ih_tk_site_sign (site, "financing.round_closed", json, &size);
            zmsg_t *msg = ih_wire_event (bytes, size);
            free (bytes);
            IH_CHECK (zmsg_send (&msg, dealer) == 0, "send");
            sent++;
        }
        zmsg_t *reply = zmsg_recv (dealer);
        IH_CHECK (reply, "no ACK after %" PRIu64, acked);
        ih_wire_t wire;
        IH_CHECK (ih_wire_decode (reply, &wire) == IH_OK &&
                      wire.kind == IH_WIRE_ACK && wire.seq == acked + 1,
                  "not the ACK of seq %" PRIu64, acked + 1);
        zmsg_destroy (&reply);
        acked++;
    }
    zsock_destroy (&dealer);
}

typedef struct {
    uint64_t next; //  hub_seq expected next
    uint64_t bytes;
} s_local_t;

static int
s_local_one (uint64_t hub_seq, uint64_t received, const uint8_t *bytes,
             size_t size, void *arg)
{
    (void) bytes;
    s_local_t *self = (s_local_t *) arg;
    IH_CHECK (hub_seq == self->next && received != 0,
              "local: hub_seq %" PRIu64 ", expected %" PRIu64, hub_seq,
              self->next);
    self->next++;
    self->bytes += size;
    return 0;
}

//  Seconds to read the whole log locally, read-only.
static double
s_local (const char *data, uint64_t total)
{
    int64_t start = ih_benchkit_now_ns ();
    ih_log_t *log = ih_log_new (data, true, 0);
    IH_CHECK (log, "cannot open %s read-only", data);
    s_local_t self = {1, 0};
    IH_CHECK (ih_log_read (log, 1, 0, s_local_one, &self) == IH_OK,
              "ih_log_read");
    ih_log_destroy (&log);
    double seconds = (double) (ih_benchkit_now_ns () - start) / 1e9;
    IH_CHECK (self.next == total + 1, "local: %" PRIu64 " of %" PRIu64,
              self.next - 1, total);
    return seconds;
}

//  Seconds to replay the whole log through the replay endpoint, granting
//  credit windows of credit RECORDs (two windows outstanding).
static double
s_remote (const char *replay, uint64_t total, int credit)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_rcvhwm (dealer, 4 * credit + 100);
    IH_CHECK (zsock_connect (dealer, "%s", replay) == 0, "connect %s", replay);
    zsock_set_rcvtimeo (dealer, S_TIMEOUT);
    int64_t start = ih_benchkit_now_ns ();
    zmsg_t *msg =
        ih_wire_replay (1, 0, 0, NULL, NULL, NULL, 2 * (uint64_t) credit);
    zmsg_send (&msg, dealer);
    uint64_t next = 1, window = 0;
    while (true) {
        msg = zmsg_recv (dealer);
        IH_CHECK (msg, "remote: silence after hub_seq %" PRIu64, next - 1);
        ih_wire_t wire;
        IH_CHECK (ih_wire_decode (msg, &wire) == IH_OK, "remote: bad message");
        if (wire.kind == IH_WIRE_END) {
            IH_CHECK (wire.last == total && next == total + 1,
                      "remote: END %" PRIu64 " after %" PRIu64 " of %" PRIu64,
                      wire.last, next - 1, total);
            zmsg_destroy (&msg);
            break;
        }
        IH_CHECK (wire.kind == IH_WIRE_RECORD && wire.hub_seq == next,
                  "remote: kind %d hub_seq %" PRIu64 ", expected RECORD "
                  "%" PRIu64,
                  (int) wire.kind, wire.hub_seq, next);
        zmsg_destroy (&msg);
        next++;
        if (++window == (uint64_t) credit) {
            window = 0;
            msg = ih_wire_credit ((uint64_t) credit);
            zmsg_send (&msg, dealer);
        }
    }
    double seconds = (double) (ih_benchkit_now_ns () - start) / 1e9;
    zsock_destroy (&dealer);
    return seconds;
}

//  One request, one answer, on an open DEALER.
static zmsg_t *
s_ask (zsock_t *dealer, zmsg_t *request, ih_wire_t *wire)
{
    zmsg_send (&request, dealer);
    zmsg_t *reply = zmsg_recv (dealer);
    IH_CHECK (reply, "no answer from the replay service");
    IH_CHECK (ih_wire_decode (reply, wire) == IH_OK, "undecodable answer");
    return reply;
}

//  Everything for one log size.
static void
s_size (const s_options_t *options, const char *work, const char *data_root,
        const char *registry, const char *key, ih_key_t *hub_key,
        ih_tk_site_t *site, uint64_t total, int index)
{
    char data[1100], ingest_ep[600], pub_ep[600], replay_ep[600];
    snprintf (data, sizeof data, "%s/data-%d", data_root, index);
    snprintf (ingest_ep, sizeof ingest_ep, "ipc://%s/ingest-%d.sock", work,
              index);
    snprintf (pub_ep, sizeof pub_ep, "ipc://%s/pub-%d.sock", work, index);
    snprintf (replay_ep, sizeof replay_ep, "ipc://%s/replay-%d.sock", work,
              index);
    const char *extra[] = {
        "--replay", replay_ep,         "--key", key, "--checkpoint-events",
        "10000",    "--checkpoint-ms", "100",   NULL};
    char ingest[256], pub[256];
    ih_proc_t *hub = ih_tk_hub_start_ex (work, data, registry, ingest_ep,
                                         pub_ep, extra, ingest, pub);
    char *line = ih_proc_wait_line (hub, "incuhubd: ready", 5000);
    char *replay = line ? ih_tk_field (line, "replay") : NULL;
    IH_CHECK (replay, "no replay= in the hub's ready line");
    free (line);

    //  A fresh log for this size: the site starts its chain again. The
    //  hub stored the registry journal first; the site's events make up
    //  the rest of the size
    uint64_t journal = ih_tk_journal_count (registry);
    IH_CHECK (total > journal,
              "size %" PRIu64 " does not exceed the %" PRIu64
              " registry events the log starts with",
              total, journal);
    site->seq = 0;
    memset (site->prev, 0, sizeof site->prev);
    int64_t start = ih_benchkit_now_ns ();
    s_fill (ingest, site, total - journal);
    printf ("\nsize %" PRIu64 ": filled in %.1f s\n", total,
            (double) (ih_benchkit_now_ns () - start) / 1e9);

    //  Replay throughput, local and remote alternately
    double local[S_MAX_ROUNDS], remote[S_MAX_ROUNDS];
    printf ("round  local events/s  remote events/s  local/remote\n");
    for (int round = 0; round < options->rounds; round++) {
        double l, r;
        if (round % 2 == 0) {
            l = s_local (data, total);
            r = s_remote (replay, total, options->credit);
        } else {
            r = s_remote (replay, total, options->credit);
            l = s_local (data, total);
        }
        local[round] = (double) total / l;
        remote[round] = (double) total / r;
        printf ("%-5d  %14.0f  %15.0f  %11.1fx\n", round + 1, local[round],
                remote[round], local[round] / remote[round]);
        fflush (stdout);
    }
    double local_median = ih_benchkit_median (local, options->rounds);
    double remote_median = ih_benchkit_median (remote, options->rounds);
    printf ("replay (median of %d): local %.0f events/s, remote %.0f "
            "events/s (credit %d), ratio %.1fx\n",
            options->rounds, local_median, remote_median, options->credit,
            local_median / remote_median);

    //  Proofs: wait for the latest checkpoint to cover the whole log
    zsock_t *dealer = zsock_new_dealer (replay);
    zsock_set_rcvtimeo (dealer, S_TIMEOUT);
    ih_checkpoint_t cp = {0};
    int64_t deadline = ih_tk_now () + S_TIMEOUT;
    while (cp.size < total && ih_tk_now () < deadline) {
        ih_wire_t wire;
        zmsg_t *reply = s_ask (dealer, ih_wire_checkpoint_request (0), &wire);
        if (wire.kind == IH_WIRE_SIGNED_CHECKPOINT) {
            IH_CHECK (ih_checkpoint_decode (wire.checkpoint,
                                            wire.checkpoint_size, &cp) == IH_OK,
                      "checkpoint does not decode");
            IH_CHECK (ih_checkpoint_verify (wire.checkpoint,
                                            wire.checkpoint_size,
                                            ih_key_public (hub_key)) == IH_OK,
                      "checkpoint signature");
        }
        zmsg_destroy (&reply);
        if (cp.size < total)
            zclock_sleep (20); //  poll interval for the timed checkpoint
    }
    IH_CHECK (cp.size == total, "no checkpoint of size %" PRIu64, total);

    int64_t ask_ns = 0, verify_ns = 0;
    size_t path_min = SIZE_MAX, path_max = 0, path_sum = 0;
    for (int i = 0; i < options->proofs; i++) {
        uint64_t seq =
            1 + (uint64_t) randombytes_uniform ((uint32_t) total); //  < 2^32
        int64_t t0 = ih_benchkit_now_ns ();
        ih_wire_t wire;
        zmsg_t *reply = s_ask (dealer, ih_wire_prove_inclusion (seq, 0), &wire);
        int64_t t1 = ih_benchkit_now_ns ();
        IH_CHECK (wire.kind == IH_WIRE_INCLUSION && wire.hub_seq == seq &&
                      wire.size == total,
                  "PROVE-INCLUSION %" PRIu64 ": kind %d size %" PRIu64, seq,
                  (int) wire.kind, wire.size);
        IH_CHECK (
            wire.checkpoint_size == 0 ||
                (ih_checkpoint_decode (wire.checkpoint, wire.checkpoint_size,
                                       &cp) == IH_OK &&
                 cp.size == total),
            "proof's checkpoint");
        uint8_t leaf[IH_MERKLE_HASH_SIZE];
        ih_merkle_leaf_hash (wire.record, wire.record_size, leaf);
        size_t len = wire.proof_size / IH_MERKLE_HASH_SIZE;
        int64_t t2 = ih_benchkit_now_ns ();
        ih_err_t err = ih_merkle_verify_inclusion (seq - 1, total, leaf,
                                                   wire.proof, len, cp.root);
        int64_t t3 = ih_benchkit_now_ns ();
        IH_CHECK (err == IH_OK, "proof of %" PRIu64 " does not verify", seq);
        zmsg_destroy (&reply);
        ask_ns += t1 - t0;
        verify_ns += t3 - t2;
        path_min = len < path_min ? len : path_min;
        path_max = len > path_max ? len : path_max;
        path_sum += len;
    }
    zsock_destroy (&dealer);
    printf ("proofs: %d PROVE-INCLUSION round trips, %.0f /s (%.1f us "
            "each); verify %.2f us/proof; path %zu..%zu hashes (mean %.1f, "
            "log2(size) = %.1f)\n",
            options->proofs, options->proofs / ((double) ask_ns / 1e9),
            (double) ask_ns / 1e3 / options->proofs,
            (double) verify_ns / 1e3 / options->proofs, path_min, path_max,
            (double) path_sum / options->proofs, log2 ((double) total));
    fflush (stdout);
    free (replay);

    ih_proc_signal (hub, SIGTERM);
    IH_CHECK (ih_proc_wait_exit (hub, S_TIMEOUT) == 0,
              "hub did not stop cleanly (see %s)", ih_proc_stderr (hub));
    ih_proc_destroy (&hub);
    ih_tk_rmrf (data);
}

int
main (int argc, char *argv[])
{
    zsys_init ();
    s_options_t options = {{10000, 100000, 1000000},   3, 3, 2000, 1000,
                           ih_benchkit_default_root ()};
    const ih_benchkit_option_t table[] = {
        IH_BENCHKIT_OPT_PARSE ("sizes", s_parse_sizes, &options),
        IH_BENCHKIT_OPT_INT ("rounds", &options.rounds, 1, S_MAX_ROUNDS),
        IH_BENCHKIT_OPT_INT ("proofs", &options.proofs, 1, 10000000),
        IH_BENCHKIT_OPT_INT ("credit", &options.credit, 1, 5000),
        IH_BENCHKIT_OPT_TEXT ("dir", &options.root),
        IH_BENCHKIT_OPT_END};
    const ih_benchkit_cli_t cli = {"ih_bench_replay", s_usage, table,
                                   "is not valid (in range)"};
    ih_benchkit_parse_options (argc, argv, &cli);

    ih_benchkit_dirs_t dirs;
    ih_benchkit_dirs_make (&dirs, options.root, "ih-bench", "registry.json");
    const char *work = dirs.work, *registry = dirs.registry;
    char key[600];
    snprintf (key, sizeof key, "%s/hub-bench.key", work);
    ih_key_t *hub_key = ih_key_new ("hub-bench");
    IH_CHECK (hub_key && ih_key_save (hub_key, work) == IH_OK, "hub key");
    ih_tk_site_t site;
    ih_tk_site_init (&site, work, registry, "bench-inc-01", "incubator",
                     "laoshan");

    printf ("ih_bench_replay: sizes");
    for (int i = 0; i < options.nsizes; i++)
        printf (" %" PRIu64, options.sizes[i]);
    printf (", %d round%s, %d proofs, credit %d, data in %s\n", options.rounds,
            options.rounds == 1 ? "" : "s", options.proofs, options.credit,
            dirs.data_root);
    for (int i = 0; i < options.nsizes; i++)
        s_size (&options, work, dirs.data_root, registry, key, hub_key, &site,
                options.sizes[i], i);

    ih_tk_site_fini (&site);
    ih_key_destroy (&hub_key);
    ih_benchkit_dirs_remove (&dirs);
    return 0;
}
