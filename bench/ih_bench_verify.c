/*  =========================================================================
    ih_bench_verify - how long a hub with a key takes to verify its log

    With its key, incuhubd checks its whole log before it serves (every
    leaf against the stored Merkle tree, the root against the latest
    signed checkpoint): recovery after a crash then grows with the log.
    This fills a log directly through ih_log (one site, batches of 1,000
    events, a signed checkpoint per batch, as the hub would write it), then
    times opening it and ih_log_verify three times.

    Usage: ih_bench_verify [EVENTS ...]   (default 10000 100000)
    =========================================================================*/
#include <czmq.h>
#include "ih_checkpoint.h"
#include "ih_event.h"
#include "ih_key.h"
#include "ih_log.h"

#define S_BATCH 1000
#define S_MAP ((size_t) 4 << 30)

static void
s_fill (const char *dir, uint64_t events, ih_key_t *site, ih_key_t *hub)
{
    ih_log_t *log = ih_log_new (dir, false, S_MAP);
    assert (log);
    uint8_t prev[IH_HASH_SIZE] = {0};
    const uint8_t data[] = {0x81, 0xa1, 'n', 0x01}; //  {"n": 1}
    for (uint64_t seq = 1; seq <= events; seq++) {
        if ((seq - 1) % S_BATCH == 0)
            assert (ih_log_begin (log) == IH_OK);
        ih_event_t event = {0};
        strcpy (event.site, "bench-site");
        strcpy (event.type, "bench.event");
        event.seq = seq;
        event.ts = ih_event_now ();
        memcpy (event.prev, prev, IH_HASH_SIZE);
        event.data = data;
        event.data_size = sizeof data;
        uint8_t *bytes;
        size_t size;
        assert (ih_event_sign (&event, site, &bytes, &size) == IH_OK);
        ih_event_t decoded;
        assert (ih_event_decode (bytes, size, &decoded) == IH_OK);
        uint64_t hub_seq, expected;
        assert (ih_log_append (log, &decoded, bytes, size, ih_event_now (),
                               &hub_seq, &expected) == IH_OK);
        ih_event_hash (bytes, size, prev);
        free (bytes);
        if (seq % S_BATCH == 0 || seq == events) {
            uint64_t tree_size;
            uint8_t root[IH_HASH_SIZE], cp[IH_CHECKPOINT_MAX];
            size_t cp_size;
            assert (ih_log_batch_root (log, &tree_size, root) == IH_OK);
            assert (ih_checkpoint_sign (tree_size, root, ih_event_now (), hub,
                                        cp, &cp_size) == IH_OK);
            assert (ih_log_put_checkpoint (log, cp, cp_size) == IH_OK);
            assert (ih_log_commit (log) == IH_OK);
        }
    }
    ih_log_destroy (&log);
}

int
main (int argc, char *argv[])
{
    zsys_init ();
    const char *fallback[] = {"10000", "100000"};
    int count = argc > 1 ? argc - 1 : 2;
    const char **sizes = argc > 1 ? (const char **) argv + 1 : fallback;
    ih_key_t *site = ih_key_new ("bench-site");
    ih_key_t *hub = ih_key_new ("hub");
    printf ("%10s %12s %14s %14s %14s\n", "events", "data.mdb MB",
            "verify ms #1", "#2", "#3");
    for (int i = 0; i < count; i++) {
        uint64_t events = strtoull (sizes[i], NULL, 10);
        if (events == 0) {
            fprintf (stderr, "ih_bench_verify: '%s' is not a count\n",
                     sizes[i]);
            return 2;
        }
        char dir[] = IH_BENCH_DATA "/verify-XXXXXX";
        assert (mkdtemp (dir));
        s_fill (dir, events, site, hub);
        char path[600];
        snprintf (path, sizeof path, "%s/data.mdb", dir);
        printf ("%10" PRIu64 " %12.1f", events,
                (double) zsys_file_size (path) / (1 << 20));
        for (int round = 0; round < 3; round++) {
            int64_t start = zclock_usecs ();
            ih_log_t *log = ih_log_new (dir, false, S_MAP);
            uint64_t bad = 0;
            char *why = NULL;
            ih_err_t rc = ih_log_verify (log, hub, &bad, &why);
            double ms = (double) (zclock_usecs () - start) / 1000.0;
            if (rc != IH_OK) {
                fprintf (stderr, "ih_bench_verify: verify failed: %s\n", why);
                return 1;
            }
            zstr_free (&why);
            ih_log_destroy (&log);
            printf (" %14.1f", ms);
        }
        printf ("\n");
        snprintf (path, sizeof path, "%s/data.mdb", dir);
        unlink (path);
        snprintf (path, sizeof path, "%s/lock.mdb", dir);
        unlink (path);
        rmdir (dir);
    }
    ih_key_destroy (&site);
    ih_key_destroy (&hub);
    return 0;
}
